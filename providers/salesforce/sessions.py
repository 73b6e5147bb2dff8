"""The ``requests.Session`` of one org: every call's timeout, CA bundle and request-log line.

REST (simple-salesforce), the Metadata API (zeep) and the logins all share it, so the configured CA
bundle reaches every call.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter

from providers.salesforce.request_log import REQUEST_LOG_ENV, client_tag, log_request, request_operation

# requests has no session-wide timeout; a hung org must not hang `pulumi up` forever.
CONNECT_TIMEOUT_S = 15.0
READ_TIMEOUT_S = 180.0


class _OrgAdapter(HTTPAdapter):
    """Every request to the org: a timeout unless the caller chose one, and the org's CA bundle.

    The bundle is applied here, not only as ``Session.verify``, because requests lets the
    environment's REQUESTS_CA_BUNDLE override a session's own setting. Here too each request is
    written to the request log (``log_request``).
    """

    def __init__(self, alias: str = "") -> None:
        super().__init__()
        self.ca_bundle: str | None = None
        self.alias = alias

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
        if self.ca_bundle:
            kwargs["verify"] = self.ca_bundle
        if not os.environ.get(REQUEST_LOG_ENV):
            return super().send(request, **kwargs)
        path = urlparse(request.url or "").path
        operation = request_operation(path, request.body)
        client = client_tag(request.body) if operation else ""
        started = time.monotonic()
        status = 0
        try:
            response = super().send(request, **kwargs)
            status = response.status_code
            return response
        finally:
            seconds = time.monotonic() - started
            log_request(self.alias, request.method or "", path, operation, status, seconds, client)


def new_session(ca_bundle: str | None, alias: str = "") -> requests.Session:
    session = requests.Session()
    adapter = _OrgAdapter(alias)
    session.mount("https://", adapter)
    trust(session, ca_bundle)
    session.headers["User-Agent"] = "orglink"
    return session


def trust(session: requests.Session, ca_bundle: str | None) -> None:
    """Verify the org's certificate against its CA bundle, or the system store. Never turned off."""
    session.verify = ca_bundle if ca_bundle else True
    adapter = session.get_adapter("https://")
    if isinstance(adapter, _OrgAdapter):
        adapter.ca_bundle = ca_bundle
