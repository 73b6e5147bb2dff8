"""The Metadata WSDL cut down to what orglink sends and reads, so the provider starts faster.

simple-salesforce ships the whole Metadata API WSDL (1.5 MB, about 2,000 schema declarations);
zeep parses all of it, which takes 0.5-1 s of every provider process's start-up. orglink uses 7
operations and 12 component types, whose declarations (with every type they reference) are about
a tenth of it and parse in well under 0.1 s.

:func:`trim` derives that WSDL from simple-salesforce's own: it keeps the schema declarations
reachable from the kept operations' elements, the SOAP headers and the component types, drops
every other declaration, message, port-type operation and binding operation, and leaves each
kept declaration byte for byte as it was. It is a pure function of the input, so
:func:`trimmed_wsdl` caches its result on disk under a key of the full WSDL's SHA-256 (and of
what is kept): a simple-salesforce upgrade, or a change to the lists below, makes a new file.

Only lxml (which zeep itself uses) is needed; nothing here imports zeep or simple-salesforce.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"

# The Metadata API calls salesforce.OrgClient makes.
OPERATIONS: tuple[str, ...] = (
    "createMetadata",
    "deleteMetadata",
    "listMetadata",
    "readMetadata",
    "renameMetadata",
    "updateMetadata",
    "upsertMetadata",
)

# Every component type a provider reads or writes (a test checks that each provider's type
# constant is here). readMetadata answers with xsi:type set to the type asked
# for, so a type missing here could not be read back either.
COMPONENT_TYPES: tuple[str, ...] = (
    "ConnectedApp",
    "ConnectedAppSettings",
    "ExternalClientApplication",
    "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthSettings",
    "ExtlClntAppOauthConfigurablePolicies",
    "ExtlClntAppConfigurablePolicies",
    "ExternalClientAppSettings",
    "Certificate",
    "ExternalCredential",
    "NamedCredential",
    "PermissionSet",
)

# Bump when trim() changes what it writes: the cache key includes it.
TRIM_FORMAT = 1

# Schema attributes whose value names another declaration of the same schema (prefix tns:).
_REFERENCE_ATTRIBUTES = ("type", "base", "ref", "itemType", "element")
_KINDS = ("complexType", "simpleType", "element")


def full_wsdl_path() -> Path:
    """simple-salesforce's metadata.wsdl, found without importing simple-salesforce (~0.1 s)."""
    spec = importlib.util.find_spec("simple_salesforce")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("simple_salesforce is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "metadata.wsdl"


def _tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def trim(
    full_wsdl: bytes,
    operations: Iterable[str] = OPERATIONS,
    component_types: Iterable[str] = COMPONENT_TYPES,
) -> bytes:
    """The WSDL with only ``operations``, ``component_types`` and what they reference."""
    kept_operations = set(operations)
    parser = etree.XMLParser(remove_blank_text=False, resolve_entities=False, no_network=True)
    root = etree.fromstring(full_wsdl, parser)
    schema = root.find(f"{_tag(WSDL_NS, 'types')}/{_tag(XSD_NS, 'schema')}")
    if schema is None:
        raise ValueError("not a WSDL with an embedded XML schema")

    declarations: dict[tuple[str, str], etree._Element] = {}
    for child in schema:
        if isinstance(child.tag, str) and child.get("name"):
            declarations[(etree.QName(child).localname, child.get("name", ""))] = child

    header = root.find(f"{_tag(WSDL_NS, 'message')}[@name='Header']")
    header_elements = [part.get("element", "") for part in (header if header is not None else [])]
    wanted: list[tuple[str, str]] = [
        ("element", name) for op in sorted(kept_operations) for name in (op, f"{op}Response")
    ]
    wanted += [("element", _local(ref)) for ref in header_elements]
    wanted += [("complexType", name) for name in component_types]
    missing = [name for kind, name in wanted if (kind, name) not in declarations]
    if missing:
        raise ValueError(f"the WSDL declares none of: {', '.join(sorted(missing))}")

    # The closure over references: a kept declaration keeps every declaration it names.
    kept: set[tuple[str, str]] = set()
    pending = list(wanted)
    while pending:
        key = pending.pop()
        if key in kept:
            continue
        kept.add(key)
        for node in declarations[key].iter():
            if not isinstance(node.tag, str):
                continue
            for attribute in _REFERENCE_ATTRIBUTES:
                value = node.get(attribute)
                if value and value.startswith("tns:"):
                    name = _local(value)
                    pending.extend((kind, name) for kind in _KINDS if (kind, name) in declarations)

    for key, node in declarations.items():
        if key not in kept:
            schema.remove(node)
    for message in root.findall(_tag(WSDL_NS, "message")):
        name = message.get("name", "")
        if name != "Header" and name.removesuffix("Request").removesuffix("Response") not in kept_operations:
            root.remove(message)
    for container in ("portType", "binding"):
        for parent in root.findall(_tag(WSDL_NS, container)):
            for operation in parent.findall(_tag(WSDL_NS, "operation")):
                if operation.get("name") not in kept_operations:
                    parent.remove(operation)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _local(reference: str) -> str:
    return reference.partition(":")[2] or reference


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/orglink`` (``~/.cache/orglink`` when unset), as other CLI tools do."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orglink"


def cache_key(full_wsdl: bytes) -> str:
    digest = hashlib.sha256(full_wsdl)
    digest.update(repr((TRIM_FORMAT, sorted(OPERATIONS), sorted(COMPONENT_TYPES))).encode())
    return digest.hexdigest()[:32]


def trimmed_wsdl(full_path: Path | None = None, directory: Path | None = None) -> bytes:
    """The trimmed WSDL for ``full_path`` (simple-salesforce's by default), from the cache if there.

    On a miss it is made (about 0.1 s) and written atomically, so concurrent provider processes
    never read half a file. A cache that cannot be written (read-only home) is no error: the
    trimmed text is still returned, only made again next time.
    """
    full = (full_path or full_wsdl_path()).read_bytes()
    cached = (directory or cache_dir()) / f"metadata-{cache_key(full)}.wsdl"
    try:
        return cached.read_bytes()
    except OSError:
        pass
    trimmed = trim(full)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, prefix=".metadata-", delete=False) as tmp:
            tmp.write(trimmed)
    except OSError:
        return trimmed
    try:
        os.replace(tmp.name, cached)
    except OSError:
        Path(tmp.name).unlink(missing_ok=True)
    return trimmed
