"""The trimmed Metadata WSDL (providers.metadata_wsdl) encodes and decodes exactly as the full one.

Every component type orglink uses is filled in every field (nested types too, to a depth of 4),
sent through createMetadata with both WSDLs (the envelopes must be byte for byte equal), and the
same XML read back as a readMetadataResponse through both (the decoded dicts must be equal and
hold what was sent). Also: each provider's type constant is in the trimmed WSDL, the trim is
deterministic, and the disk cache is keyed by the full WSDL's content.
"""

from __future__ import annotations

import datetime
import importlib
import io
import pkgutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zeep
import zeep.exceptions
import zeep.helpers
import zeep.transports
import zeep.wsdl
from lxml import etree
from zeep.xsd.types import builtins

import providers
from providers.salesforce import metadata, metadata_wsdl

MD_NS = "http://soap.sforce.com/2006/04/metadata"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
FULL = metadata_wsdl.full_wsdl_path()


def _client(document: bytes) -> zeep.Client:
    settings = zeep.Settings(strict=False, xsd_ignore_sequence_order=True)
    wsdl = zeep.wsdl.Document(io.BytesIO(document), zeep.transports.Transport(), settings=settings)  # type: ignore[arg-type]
    return zeep.Client(wsdl, settings=settings)


@pytest.fixture(scope="module")
def clients() -> tuple[zeep.Client, zeep.Client]:
    full = FULL.read_bytes()
    return _client(full), _client(metadata_wsdl.trim(full))


def _sample(xsd_type: Any, depth: int) -> Any:
    """A value for every element of ``xsd_type`` (one per list), None where recursion gets too deep."""
    if isinstance(xsd_type, builtins.Boolean):
        return True
    if isinstance(xsd_type, builtins.Integer | builtins.Int | builtins.Long | builtins.Short):
        return 7
    if isinstance(xsd_type, builtins.Double | builtins.Float):
        return 1.5
    if isinstance(xsd_type, builtins.Decimal):
        return Decimal("2.5")
    if isinstance(xsd_type, builtins.DateTime):
        return datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    if isinstance(xsd_type, builtins.Date):
        return datetime.date(2030, 1, 2)
    if isinstance(xsd_type, builtins.Base64Binary):
        return b"orglink"
    if isinstance(xsd_type, builtins.BuiltinType) or not hasattr(xsd_type, "elements"):
        return "value"
    if depth <= 0:
        return None
    values: dict[str, Any] = {}
    for name, element in xsd_type.elements:
        value = _sample(element.type, depth - 1)
        if value is None:
            continue
        values[name] = [value] if element.max_occurs != 1 else value
    return values


def _send(client: zeep.Client, mtype: str, values: dict[str, Any]) -> bytes:
    component = client.get_type(f"ns0:{mtype}")(**values)
    session = client.get_element("ns0:SessionHeader")(sessionId="SESSION")
    envelope = client.create_message(client.service, "createMetadata", [component], _soapheaders=[session])
    return bytes(etree.tostring(envelope))


def _read_back(client: zeep.Client, request: bytes) -> Any:
    """The request's <metadata> element answered as a readMetadataResponse, decoded by ``client``."""
    sent = etree.fromstring(request).find(f".//{{{MD_NS}}}metadata")
    assert sent is not None
    response = etree.Element(f"{{{MD_NS}}}readMetadataResponse")
    records = etree.SubElement(etree.SubElement(response, f"{{{MD_NS}}}result"), f"{{{MD_NS}}}records")
    records.set(XSI_TYPE, str(sent.get(XSI_TYPE)))
    records.extend(list(sent))
    decoded = client.get_element("ns0:readMetadataResponse").parse(response, client.wsdl.types)
    return metadata.plain(zeep.helpers.serialize_object(decoded.result.records[0], dict))


@pytest.mark.parametrize("mtype", metadata_wsdl.COMPONENT_TYPES)
def test_trimmed_wsdl_round_trips_every_field_like_the_full_one(
    clients: tuple[zeep.Client, zeep.Client], mtype: str
) -> None:
    full, trimmed = clients
    values = _sample(full.get_type(f"ns0:{mtype}"), depth=4)
    values["fullName"] = f"Orglink_{mtype}"

    sent_full, sent_trimmed = _send(full, mtype, values), _send(trimmed, mtype, values)
    assert sent_trimmed == sent_full
    assert b"ns0:" + mtype.encode() in sent_full  # typed: the org needs xsi:type

    read_full, read_trimmed = _read_back(full, sent_full), _read_back(trimmed, sent_full)
    assert read_trimmed == read_full
    assert read_full["fullName"] == values["fullName"]
    assert len(read_full) == len(metadata.plain(values))


def test_the_operations_and_headers_orglink_uses_are_kept(clients: tuple[zeep.Client, zeep.Client]) -> None:
    full, trimmed = clients
    kept = set(trimmed.service._operations)
    assert kept == set(metadata_wsdl.OPERATIONS)
    for operation in kept:
        assert str(trimmed.service._binding._operations[operation].input.signature()) == str(
            full.service._binding._operations[operation].input.signature()
        )
    for name in ("SessionHeader", "CallOptions", "AllOrNoneHeader", "ListMetadataQuery"):
        lookup = trimmed.get_type if name == "ListMetadataQuery" else trimmed.get_element
        assert lookup(f"ns0:{name}") is not None


def test_every_component_type_a_provider_names_is_in_the_trimmed_wsdl(
    clients: tuple[zeep.Client, zeep.Client],
) -> None:
    full, trimmed = clients
    named = set()
    for module_info in pkgutil.walk_packages(providers.__path__, "providers."):
        module = importlib.import_module(module_info.name)
        for attribute, value in vars(module).items():
            if not (attribute.endswith("_TYPE") and isinstance(value, str)):
                continue
            try:
                xsd_type = full.get_type(f"ns0:{value}")
            except zeep.exceptions.LookupError:
                continue  # not a metadata type (NamedPrincipal is a principalType value)
            if hasattr(xsd_type, "elements"):  # a complex type: a component (or part of one)
                named.add(value)
    assert {"ConnectedApp", "PermissionSet", "ExternalClientApplication"} <= named
    assert named <= set(metadata_wsdl.COMPONENT_TYPES)
    for mtype in named:
        assert trimmed.get_type(f"ns0:{mtype}") is not None


def test_trim_is_deterministic_and_a_tenth_of_the_size() -> None:
    full = FULL.read_bytes()
    first, second = metadata_wsdl.trim(full), metadata_wsdl.trim(full)
    assert first == second
    assert len(first) < len(full) / 3


def test_the_cache_is_keyed_by_the_full_wsdls_content(tmp_path: Path) -> None:
    source = tmp_path / "metadata.wsdl"
    source.write_bytes(FULL.read_bytes())
    cache = tmp_path / "cache"
    made = metadata_wsdl.trimmed_wsdl(source, cache)
    [cached] = cache.glob("metadata-*.wsdl")
    assert cached.read_bytes() == made
    assert metadata_wsdl.trimmed_wsdl(source, cache) == made  # a hit

    source.write_bytes(FULL.read_bytes().replace(b"Salesforce.com Metadata API", b"Metadata API", 1))
    metadata_wsdl.trimmed_wsdl(source, cache)
    assert len(list(cache.glob("metadata-*.wsdl"))) == 2  # another WSDL, another file


def test_an_unwritable_cache_still_gives_the_trimmed_wsdl(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    assert metadata_wsdl.trimmed_wsdl(FULL, blocked / "orglink") == metadata_wsdl.trim(FULL.read_bytes())
