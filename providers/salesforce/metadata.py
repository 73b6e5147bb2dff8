"""The Metadata API: its results, the WSDL zeep speaks it with, and the limits of its calls.

The WSDL is the trimmed copy of the one simple-salesforce ships (providers.salesforce.metadata_wsdl),
parsed once per process; every org's zeep client posts through the org's own session.
"""

from __future__ import annotations

import copy
import io
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import simple_salesforce
import zeep
import zeep.transports
import zeep.wsdl

from providers.salesforce import metadata_wsdl
from providers.salesforce.errors import SalesforceError

T = TypeVar("T")

# zeep logs whole envelopes (consumer secrets included) at DEBUG; keep that out of any log.
logging.getLogger("zeep.transports").setLevel(logging.INFO)


@dataclass(frozen=True)
class MetadataProblem:
    status_code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetadataResult:
    """One SaveResult / UpsertResult / DeleteResult."""

    full_name: str
    success: bool
    problems: tuple[MetadataProblem, ...] = ()
    created: bool | None = None

    def error(self, alias: str, what: str) -> SalesforceError:
        first = self.problems[0] if self.problems else MetadataProblem("UNKNOWN", "no detail given")
        message = "; ".join(p.message for p in self.problems) or first.message
        field_name = first.fields[0] if first.fields else None
        return SalesforceError(
            alias, None, field_name, first.status_code, f"{what} '{self.full_name}': {message}"
        )


def metadata_result(raw: Any) -> MetadataResult:
    problems = tuple(
        MetadataProblem(
            str(getattr(e, "statusCode", "UNKNOWN")),
            str(getattr(e, "message", "")),
            tuple(getattr(e, "fields", None) or ()),
        )
        for e in (getattr(raw, "errors", None) or [])
    )
    return MetadataResult(
        full_name=str(getattr(raw, "fullName", "") or ""),
        success=bool(getattr(raw, "success", False)),
        problems=problems,
        created=getattr(raw, "created", None),
    )


def plain(value: Any) -> Any:
    """zeep objects -> plain dicts and lists, without None values and empty lists."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            cleaned = plain(item)
            if cleaned is None or cleaned == []:
                continue
            out[key] = cleaned
        return out
    if isinstance(value, list):
        return [plain(item) for item in value if item is not None]
    return value


_WSDL_PATH = Path(simple_salesforce.__file__).parent / "metadata.wsdl"
_WSDL_LOCK = threading.Lock()
_wsdl_document: zeep.wsdl.Document | None = None
ZEEP_SETTINGS = zeep.Settings(strict=False, xsd_ignore_sequence_order=True)
METADATA_BATCH = 10  # the Metadata API's CRUD calls take at most 10 components


class MetadataTransport(zeep.transports.Transport):
    """zeep's transport on the org's session, failing clearly on an HTTP error without a SOAP body.

    zeep handles a SOAP fault (HTTP 500 with XML) itself, but crashes on a plain-text error page
    such as a 503 from a load balancer; such an answer becomes an HTTPError, which is retried.
    """

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        response: requests.Response = super().post(address, message, headers)
        if response.status_code >= 400 and not response.content.lstrip().startswith(b"<"):
            response.raise_for_status()
        return response


def wsdl_document() -> zeep.wsdl.Document:
    """The Metadata WSDL, parsed once per process.

    Parsed from the trimmed copy (providers.salesforce.metadata_wsdl): the full 1.5 MB WSDL takes 0.5-1 s of
    every provider process's start-up, the types and operations orglink uses well under 0.1 s.
    """
    global _wsdl_document
    with _WSDL_LOCK:
        if _wsdl_document is None:
            # From memory (zeep reads any file-like object): the WSDL imports nothing relative
            # to its location. zeep annotates `transport` as a class, but wants an instance.
            _wsdl_document = zeep.wsdl.Document(
                io.BytesIO(metadata_wsdl.trimmed_wsdl(_WSDL_PATH)),
                zeep.transports.Transport(),  # type: ignore[arg-type]
                settings=ZEEP_SETTINGS,
            )
        return _wsdl_document


def batches(items: list[T], size: int = METADATA_BATCH) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Elements an org takes only when the component is created: sent for an existing one, even
# unchanged, they are refused ("You cannot provide a Consumer Key"). A read returns the key, so a
# read-modify-write would send it back.
CREATE_ONLY: dict[str, tuple[tuple[str, ...], ...]] = {
    "ConnectedApp": (("oauthConfig", "consumerKey"), ("oauthConfig", "consumerSecret")),
    "ExtlClntAppGlobalOauthSettings": (("consumerKey",), ("consumerSecret",)),
}


def without_create_only(mtype: str, component: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``component`` without the elements the org takes only at creation."""
    paths = CREATE_ONLY.get(mtype, ())
    if not paths:
        return component
    copied = copy.deepcopy(component)
    for *parents, leaf in paths:
        holder: Any = copied
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            holder.pop(leaf, None)
    return copied


def raise_on_failure(alias: str, what: str, results: list[MetadataResult]) -> None:
    for result in results:
        if not result.success:
            raise result.error(alias, what)
