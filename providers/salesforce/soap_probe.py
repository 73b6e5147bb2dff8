"""Metadata API deploys through simple-salesforce, for probes that write nothing (validate-only).

A deploy goes through a simple-salesforce client of its own on the org's session, because its
deploy calls set `Content-Type: text/xml` on their client's shared headers, which must not reach the
org's shared client. A SOAP fault of those calls is raised as zeep's Fault, as the CRUD calls raise
it, so ``OrgClient.call`` renews an expired session and keeps Salesforce's code.
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import zeep
from lxml import etree
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from providers.salesforce.client import OrgClient

DEPLOY_DONE = ("Succeeded", "SucceededPartial", "Failed", "Canceled")
DEPLOY_WAIT_S = 600.0  # a validate-only deploy of one app takes seconds; Salesforce queues deploys
DEPLOY_POLL_S = (0.0, 1.0, 2.0, 5.0)  # before the 1st, 2nd, 3rd and every later status check


_DEPLOY_CLIENTS: weakref.WeakKeyDictionary[OrgClient, Salesforce] = weakref.WeakKeyDictionary()
_DEPLOY_CLIENTS_LOCK = threading.Lock()


def _deploy_client(client: OrgClient) -> Salesforce:
    """A simple-salesforce client of its own on the org's current session: its deploy calls set
    `Content-Type: text/xml` on that client's headers, which must not reach the shared one. Kept per
    org client and session (its Metadata API client loads the WSDL, about half a second)."""
    session_id = client.sf.session_id
    with _DEPLOY_CLIENTS_LOCK:
        own = _DEPLOY_CLIENTS.get(client)
        if own is None or own.session_id != session_id:
            own = Salesforce(
                instance_url=client.instance_url,
                session_id=session_id,
                version=client.api_version,
                session=client.session,
            )
            _DEPLOY_CLIENTS[client] = own
        return own


def _soap(request: Callable[[], Any]) -> Callable[[], Any]:
    """``request`` with a Metadata API SOAP fault raised as zeep's Fault (as the CRUD calls raise
    it), so ``OrgClient.call`` renews an expired session and keeps Salesforce's code: simple-
    salesforce's deploy calls raise an HTTP error holding the fault's XML instead."""

    def run() -> Any:
        try:
            return request()
        except SimpleSalesforceError as exc:
            fault = _fault(exc.content)
            if fault is None:
                raise
            raise zeep.exceptions.Fault(fault[1], code=fault[0]) from None

    return run


def _fault(content: Any) -> tuple[str, str] | None:
    """(faultcode, faultstring) of a SOAP fault body, or None."""
    if not isinstance(content, str | bytes) or b"Fault" not in (
        content.encode() if isinstance(content, str) else content
    ):
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(content.encode() if isinstance(content, str) else content, parser)
    except etree.XMLSyntaxError:
        return None
    code = root.findtext(".//faultcode")
    return (code, root.findtext(".//faultstring") or "") if code else None


def check_only_deploy(client: OrgClient, what: str, archive: bytes) -> dict[str, Any]:
    """Start a validate-only deploy of the zip ``archive`` (nothing is written); its answer."""
    return dict(client.call(what, _soap(lambda: _deploy_client(client).deploy(
        io.BytesIO(archive), sandbox=False, checkOnly="true", ignoreWarnings="true"))))  # fmt: skip


def wait_for_deploy(client: OrgClient, what: str, async_id: str) -> dict[str, Any]:
    """checkDeployStatus until the deploy is done (or DEPLOY_WAIT_S passed: the last answer)."""
    deadline = time.monotonic() + DEPLOY_WAIT_S
    attempt = 0
    while True:
        time.sleep(DEPLOY_POLL_S[min(attempt, len(DEPLOY_POLL_S) - 1)])
        status = client.call(
            f"status of the {what}", _soap(lambda: _deploy_client(client).checkDeployStatus(async_id))
        )
        if str(status.get("state") or "") in DEPLOY_DONE or time.monotonic() >= deadline:
            return dict(status)
        attempt += 1
