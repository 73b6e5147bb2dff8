"""Tooling API executeAnonymous: GET /services/data/vXX.X/tooling/executeAnonymous/?anonymousBody=...

The local org does not run Apex. It runs exactly one kind of script: an HTTP callout through a named
credential, `req.setEndpoint('callout:<NamedCredential>/<path>')` (method from `setMethod`, GET by
default). Like the Apex runtime it resolves NamedCredential -> ExternalCredential -> the stored
principal credentials, requests a client-credentials token over HTTPS at the external credential's
AuthProviderUrl (trusting the emulator CA), then calls the named credential URL + path with the token.

The answer is the real ExecuteAnonymousResult {line, column, compiled, success, compileProblem,
exceptionStackTrace, exceptionMessage}, plus two fields real orgs do not send (clients ignore unknown
fields), so the callout's outcome is visible without debug logs:
- `calloutResponse`: {statusCode, status, body} of the endpoint's answer;
- `debugLog`: CALLOUT_REQUEST / CALLOUT_RESPONSE lines as in an Apex debug log (no tokens or secrets).
As in Apex, a non-2xx answer from the endpoint is not an exception (success=true; read
calloutResponse.statusCode). A failure to get the token or to connect throws: success=false and
exceptionMessage "System.CalloutException: ...". Any other Apex answers compiled=false with a
compileProblem saying the local org does not run Apex.

Like Apex, the callout runs as the session's user, and Salesforce checks at run time that this user
holds access to the external credential's principal: a permission set carrying an enabled
`externalCredentialPrincipalAccesses` entry `<ExternalCredential>-<Principal>` must be assigned to the
user (a PermissionSetAssignment; the profile's own permission set counts too). Without it the callout
throws the same "We couldn't access the credential(s)" CalloutException as a missing external
credential, before any token is asked for.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from .oauth import user_permission_set_ids
from .store import OrgStore
from .web import (
    Ctx,
    Response,
    bearer_token,
    invalid_session,
    json_response,
    not_found,
    session_user,
    split_version,
)

_CALLOUT = re.compile(r"""['"]callout:([A-Za-z][A-Za-z0-9_]*)(/[^'"]*)?['"]""")
_METHOD = re.compile(r"""setMethod\(\s*['"]([A-Za-z]+)['"]\s*\)""")
_TIMEOUT_S = 10.0
NOT_APEX = (
    "This local org does not run Apex: executeAnonymous supports only an HTTP callout through a named "
    "credential, e.g. req.setEndpoint('callout:My_Named_Credential/services/data/v63.0/')."
)


class CalloutException(Exception):
    pass


@dataclass
class CalloutResult:
    status: int
    reason: str
    body: str


def _result(compiled: bool = True, success: bool = True, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "line": -1,
        "column": -1,
        "compiled": compiled,
        "success": success,
        "compileProblem": None,
        "exceptionStackTrace": None,
        "exceptionMessage": None,
    }
    out.update(extra)
    return out


def handle(ctx: Ctx) -> Response:
    split = split_version(ctx.req.path)
    if split is None:
        return not_found()
    user = session_user(ctx, bearer_token(ctx.req))
    if user is None:
        return invalid_session()
    assert ctx.org is not None
    if split[1].strip("/") != "tooling/executeAnonymous":
        return not_found()
    return json_response(
        200, execute_anonymous(ctx, ctx.org, user, ctx.req.query.get("anonymousBody", ""))
    )


def execute_anonymous(ctx: Ctx, org: OrgStore, user: dict, apex: str) -> dict[str, Any]:
    m = _CALLOUT.search(apex)
    if m is None:
        return _result(compiled=False, success=False, line=1, column=1, compileProblem=NOT_APEX)
    name, path = m.group(1), m.group(2) or ""
    method_m = _METHOD.search(apex)
    method = method_m.group(1).upper() if method_m else "GET"
    log = [f"CALLOUT_REQUEST|[1]|System.HttpRequest[Endpoint=callout:{name}{path}, Method={method}]"]
    try:
        resp = callout(ctx, org, user, name, path, method)
    except CalloutException as exc:
        log.append(f"EXCEPTION_THROWN|[1]|System.CalloutException: {exc}")
        return _result(
            success=False,
            exceptionMessage=f"System.CalloutException: {exc}",
            exceptionStackTrace="AnonymousBlock: line 1, column 1",
            debugLog="\n".join(log),
        )
    log.append(f"CALLOUT_RESPONSE|[1]|System.HttpResponse[Status={resp.reason}, StatusCode={resp.status}]")
    return _result(
        calloutResponse={"statusCode": resp.status, "status": resp.reason, "body": resp.body},
        debugLog="\n".join(log),
    )


def _params(comp: dict, key: str) -> list[dict]:
    value = comp.get(key) or []
    return [p for p in (value if isinstance(value, list) else [value]) if isinstance(p, dict)]


def _param(params: list[dict], ptype: str, field: str = "parameterValue") -> str | None:
    for p in params:
        if p.get("parameterType") == ptype:
            value = p.get(field)
            return None if value is None else str(value)
    return None


def denied(ext_name: str) -> str:
    """Salesforce's words for a missing external credential and for a user without principal access."""
    return (
        f"We couldn't access the credential(s). You might not have the required permissions, or the "
        f'external credential "{ext_name}" might not exist.'
    )


def _principals(ext: dict) -> set[str]:
    return {
        str(p.get("parameterName", "")).lower()
        for p in _params(ext, "externalCredentialParameters")
        if p.get("parameterType") in ("NamedPrincipal", "PerUserPrincipal")
    }


def has_principal_access(org: OrgStore, user: dict, ext_name: str, ext: dict) -> bool:
    """The user holds, through an assigned (or the profile's own) permission set, an enabled access
    to one of the external credential's principals."""
    wanted = {f"{ext_name.lower()}-{principal}" for principal in _principals(ext)}
    held = user_permission_set_ids(org, user)
    for record in org.records("PermissionSet"):
        if str(record["Id"])[:15] not in held:
            continue
        component = org.get_component("PermissionSet", str(record.get("Name"))) or {}
        for access in _params(component, "externalCredentialPrincipalAccesses"):
            enabled = str(access.get("enabled", True)).lower() not in ("false", "0")
            if enabled and str(access.get("externalCredentialPrincipal", "")).lower() in wanted:
                return True
    return False


def callout(ctx: Ctx, org: OrgStore, user: dict, name: str, path: str, method: str) -> CalloutResult:
    nc = org.get_component("NamedCredential", name)
    if nc is None:
        raise CalloutException(f"Unable to find a named credential called {name}")
    if str(nc.get("calloutStatus", "Enabled")) == "Disabled":
        raise CalloutException(f"Callouts through the named credential {name} are disabled")
    nc_params = _params(nc, "namedCredentialParameters")
    base_url = _param(nc_params, "Url")
    ext_name = _param(nc_params, "Authentication", "externalCredential")
    if not base_url or not ext_name:
        raise CalloutException(f"The named credential {name} has no URL or no external credential")
    ext = org.get_component("ExternalCredential", ext_name)
    if ext is None or not has_principal_access(org, user, ext_name, ext):
        raise CalloutException(denied(ext_name))
    token = fetch_token(ctx, org, ext_name)
    return _http(ctx, method, base_url.rstrip("/") + path, {"Authorization": f"Bearer {token}"}, None)


def fetch_token(ctx: Ctx, org: OrgStore, ext_name: str) -> str:
    """Client-credentials token for the external credential's named principal."""
    ext = org.get_component("ExternalCredential", ext_name)
    if ext is None:
        raise CalloutException(denied(ext_name))
    params = _params(ext, "externalCredentialParameters")
    variant = _param(params, "AuthProtocolVariant") or "ClientCredentialsClientSecret"
    token_url = _param(params, "AuthProviderUrl")
    principal = _param(params, "NamedPrincipal", "parameterName")
    if not token_url or not principal:
        raise CalloutException(
            f"The external credential {ext_name} has no AuthProviderUrl or named principal"
        )
    stored = org.get_credential(ext_name, principal, "NamedPrincipal")
    creds = dict((stored or {}).get("credentials") or {})
    client_id = _cred_value(creds.get("clientId"))
    client_secret = _cred_value(creds.get("clientSecret"))
    if stored is None or not client_id or not client_secret:
        raise CalloutException(denied(ext_name))
    form: dict[str, str] = {"grant_type": "client_credentials"}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if variant == "ClientCredentialsClientSecretBasic":
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form.update(client_id=client_id, client_secret=client_secret)
    resp = _http(ctx, "POST", token_url, headers, urlencode(form).encode())
    try:
        payload = json.loads(resp.body)
    except ValueError:
        payload = {}
    if resp.status != 200 or not isinstance(payload, dict) or "access_token" not in payload:
        detail = (
            f"{payload.get('error', '')}: {payload.get('error_description', '')}"
            if isinstance(payload, dict)
            else ""
        )
        raise CalloutException(
            f"Unable to fetch the OAuth token for external credential {ext_name}: HTTP {resp.status} {detail}"
        )
    return str(payload["access_token"])


def _cred_value(entry: Any) -> str | None:
    if isinstance(entry, dict):
        value = entry.get("value")
        return None if value is None else str(value)
    return None if entry is None else str(entry)


def _http(ctx: Ctx, method: str, url: str, headers: dict[str, str], body: bytes | None) -> CalloutResult:
    """A real HTTPS request that trusts the emulator CA only (verification stays on)."""
    if not url.startswith("https://"):
        raise CalloutException(f"Only HTTPS endpoints are supported: {url.split('?')[0]}")
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT_S, context=ctx.app.client_ssl) as r:
            return CalloutResult(r.status, r.reason, r.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        return CalloutResult(err.code, str(err.reason), err.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise CalloutException(f"Unable to tunnel through proxy or connect: {reason}") from None
