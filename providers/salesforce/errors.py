"""Errors of the access layer: SalesforceError, and what a failure means (retry, renew, not found).

Every client library's exception (simple-salesforce's REST errors, zeep's SOAP faults and transport
errors, requests' connection errors) is classified here and turned into one SalesforceError that
keeps Salesforce's status code and message.
"""

from __future__ import annotations

import requests
import zeep.exceptions
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

# Salesforce codes that mean "try again later", from REST errors, SOAP faults and metadata results.
TRANSIENT_CODES = frozenset(
    {
        "REQUEST_LIMIT_EXCEEDED",
        "ALREADY_IN_PROCESS",
        "UNABLE_TO_LOCK_ROW",
        "UNKNOWN_EXCEPTION",
        "SERVER_UNAVAILABLE",
    }
)
SESSION_CODES = frozenset({"INVALID_SESSION_ID"})

# The codes that mean the thing a call names does not exist (any more): a REST 404 (NOT_FOUND, or a
# bare HTTP_404 from an endpoint without an error body), a deleted record, and orglink's own
# NOT_FOUND (modify_component, the lookups).
NOT_FOUND_CODES = frozenset({"NOT_FOUND", "HTTP_404", "ENTITY_IS_DELETED"})
# A delete's answer when the name or Id it was given names nothing. Elsewhere the same code says a
# reference inside the request is bad (a profile a policy names), which is not "gone".
DELETE_TARGET_MISSING_CODES = NOT_FOUND_CODES | {"INVALID_CROSS_REFERENCE_KEY"}


class SalesforceError(Exception):
    """A failure the user has to act on: names the resource, the org, the field and Salesforce's words.

    ``status_code`` is Salesforce's code (``DUPLICATE_VALUE``, ``invalid_grant``, ...) or one of ours
    (``ORGLINK_CONFIG``, ``NOT_FOUND``, ...). Never put a credential in any of these fields.
    """

    def __init__(
        self,
        org: str,
        resource: str | None,
        field: str | None,
        status_code: str,
        message: str,
    ) -> None:
        self.org = org
        self.resource = resource
        self.field = field
        self.status_code = status_code
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.resource} in org '{self.org}'" if self.resource else f"org '{self.org}'"
        field_part = f" (field '{self.field}')" if self.field else ""
        return f"{where}{field_part}: {self.status_code}: {self.message}"

    def about(self, resource: str | None = None, field: str | None = None) -> SalesforceError:
        """The same error, attributed to a resource and an input field (set only where still unknown)."""
        return SalesforceError(
            self.org,
            self.resource or resource,
            self.field or field,
            self.status_code,
            self.message,
        )


class RetryableResultError(Exception):
    """A metadata result that failed with a transient code: raised inside call() so it is retried."""

    def __init__(self, status_code: str, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code


def is_not_found(exc_or_code: BaseException | str | None, *, deleting: bool = False) -> bool:
    """True when an error (or its status code) says the thing asked about does not exist.

    ``deleting``: the error answers a delete, where INVALID_CROSS_REFERENCE_KEY also means the name
    or Id names nothing (it is already gone).
    """
    code = exc_or_code.status_code if isinstance(exc_or_code, SalesforceError) else exc_or_code
    if not isinstance(code, str):
        return False
    return code in (DELETE_TARGET_MISSING_CODES if deleting else NOT_FOUND_CODES)


def _rest_error_code(exc: SimpleSalesforceError) -> tuple[str, str]:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", f"HTTP_{exc.status}")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or f"HTTP_{exc.status}"), str(
            content.get("message") or content.get("error_description") or ""
        )
    return f"HTTP_{exc.status}", str(content)[:500]


def _fault_code(fault: zeep.exceptions.Fault) -> str:
    """`sf:INVALID_SESSION_ID` -> INVALID_SESSION_ID; falls back to the detail's exceptionCode."""
    code = (fault.code or "").split(":")[-1]
    if code in ("Server", "Client", "") and fault.detail is not None:
        for element in fault.detail.iter():
            if str(element.tag).endswith("exceptionCode") and element.text:
                return element.text.strip().split(":")[-1]
    return code or "SOAP_FAULT"


def classify(exc: BaseException) -> str | None:
    """'session' for an expired session, 'transient' for a retryable failure, None otherwise."""
    if isinstance(exc, requests.exceptions.SSLError):
        return None  # a certificate problem does not fix itself
    if isinstance(
        exc,
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ),
    ):
        return "transient"
    if isinstance(exc, requests.exceptions.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return "transient" if status >= 500 else None
    if isinstance(exc, RetryableResultError):
        return "transient"
    if isinstance(exc, SalesforceError):  # from a login: a busy org answers with a transient code
        return "transient" if exc.status_code.upper() in TRANSIENT_CODES else None
    if isinstance(exc, SimpleSalesforceError):
        code, _ = _rest_error_code(exc)
        if code in SESSION_CODES or exc.status == 401:
            return "session"
        if code in TRANSIENT_CODES or (isinstance(exc.status, int) and exc.status >= 500):
            return "transient"
        return None
    if isinstance(exc, zeep.exceptions.Fault):
        code = _fault_code(exc)
        if code in SESSION_CODES:
            return "session"
        return "transient" if code in TRANSIENT_CODES else None
    if isinstance(exc, zeep.exceptions.TransportError):
        return "transient" if exc.status_code >= 500 or exc.status_code == 0 else None
    return None


def as_salesforce_error(alias: str, what: str, exc: BaseException) -> SalesforceError:
    """Turn a client library's exception into our error, keeping Salesforce's code and message."""
    if isinstance(exc, SalesforceError):
        return exc
    if isinstance(exc, SimpleSalesforceError):
        code, message = _rest_error_code(exc)
        return SalesforceError(alias, None, None, code, f"{what}: {message}")
    if isinstance(exc, zeep.exceptions.Fault):
        return SalesforceError(alias, None, None, _fault_code(exc), f"{what}: {exc.message}")
    if isinstance(exc, zeep.exceptions.TransportError):
        return SalesforceError(alias, None, None, f"HTTP_{exc.status_code}", f"{what}: {exc.message}")
    if isinstance(exc, RetryableResultError):
        return SalesforceError(alias, None, None, exc.status_code, f"{what}: {exc}")
    if isinstance(exc, requests.exceptions.SSLError):
        return SalesforceError(
            alias,
            None,
            "ca_bundle",
            "TLS_ERROR",
            f"{what}: the org's certificate is not trusted; "
            f"set `ca_bundle` for this org ({type(exc).__name__})",
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return SalesforceError(alias, None, None, "CONNECTION_ERROR", f"{what}: {type(exc).__name__}: {exc}")
    return SalesforceError(alias, None, None, type(exc).__name__, f"{what}: {exc}")


def short_reason(exc: BaseException) -> str:
    kind = type(exc).__name__
    if isinstance(exc, SimpleSalesforceError):
        return f"{kind} {_rest_error_code(exc)[0]}"
    if isinstance(exc, zeep.exceptions.Fault):
        return f"fault {_fault_code(exc)}"
    if isinstance(exc, zeep.exceptions.TransportError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, RetryableResultError):
        return exc.status_code
    return kind
