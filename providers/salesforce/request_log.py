"""The request log: one JSON line per request to an org when ORGLINK_REQUEST_LOG names a file.

`make contract` and the bench count and time requests by API family with it. A line never holds a
header, a body or a query string: those carry sessions, secrets and Apex.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from typing import Any
from urllib.parse import unquote_plus

# Set to a file path, every request to an org appends one JSON line there (`make contract` counts
# and times them): org alias, API family, method, path without query, status, seconds. Never a
# header, a body or a query string: those carry sessions, secrets and Apex.
REQUEST_LOG_ENV = "ORGLINK_REQUEST_LOG"
REQUEST_FAMILIES = ("login", "oauth", "rest", "metadata", "deploy", "connect", "tooling")
_DEPLOY_OPERATIONS = frozenset(
    {
        "deploy",
        "checkDeployStatus",
        "cancelDeploy",
        "retrieve",
        "checkRetrieveStatus",
        "deployRecentValidation",
    }
)
_SOAP_OPERATION = re.compile(rb"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)")
_request_log_lock = threading.Lock()


def soap_operation(body: Any) -> str:
    """The operation element of a SOAP envelope (`readMetadata`, `deploy`, `login`), or ''."""
    raw = body.encode() if isinstance(body, str) else body
    found = _SOAP_OPERATION.search(raw) if isinstance(raw, bytes) else None
    return found.group(1).decode() if found else ""


def request_family(path: str, operation: str = "") -> str:
    """Which API family a request to an org belongs to (the latency profile's keys)."""
    if "/services/Soap/u/" in path:
        return "login"
    if path.startswith("/services/oauth2/"):
        return "oauth"
    if "/services/Soap/m/" in path:
        return "deploy" if operation in _DEPLOY_OPERATIONS else "metadata"
    if "/tooling/" in path:
        return "tooling"
    if "/named-credentials/" in path or "/apps/oauth/" in path or "/connect/" in path:
        return "connect"
    return "rest"


def form_value(body: Any, wanted: str) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        if name == wanted:
            return unquote_plus(value)
    return ""


def client_tag(body: Any) -> str:
    """A token request's app, as 8 hex of a hash of its client id: tells apps apart in the log
    (how long each new app took to reach the login servers) without naming the key."""
    client_id = form_value(body, "client_id")
    return hashlib.sha256(client_id.encode()).hexdigest()[:8] if client_id else ""


def log_request(
    alias: str, method: str, path: str, operation: str, status: int, seconds: float, client: str = ""
) -> None:
    """One line in the request log, when ORGLINK_REQUEST_LOG names one (no secret ever)."""
    target = os.environ.get(REQUEST_LOG_ENV)
    if not target:
        return
    line = json.dumps(
        {
            "at": round(time.time() - seconds, 3),
            "org": alias,
            "family": request_family(path, operation),
            "method": method,
            "path": path,
            "operation": operation,
            "status": status,
            "seconds": round(seconds, 4),
            "client": client,
        }
    )
    try:
        with _request_log_lock, open(target, "a", encoding="utf-8") as log:
            log.write(line + "\n")
    except OSError:
        pass  # counting must never break a resource operation


def request_operation(path: str, body: Any) -> str:
    """What the log says a request did beyond its path: a SOAP operation or an OAuth grant type."""
    if "/services/Soap/" in path:
        return soap_operation(body)
    if path.startswith("/services/oauth2/token"):
        return form_value(body, "grant_type")
    return ""
