"""Connect REST: OAuth credentials of an app, and named credential principal credentials.

- GET /services/data/vXX.X/apps/oauth/credentials/{appId}: the app's OAuth consumers.
- GET .../apps/oauth/credentials/{appId}/{consumerId}?part=key|secret|keyandsecret: `{id, key, name,
  secret, url}`. Reading the secret needs the org setting `enable-client-secret-in-rest-api`
  (ExternalClientAppSettings.enableClientSecretInRestApiAccess); the key alone does not (decision:
  the setting's name and documentation are about the secret).
- /services/data/vXX.X/named-credentials/credential: POST create, PUT replace, GET, DELETE (query
  parameters externalCredential, principalName, principalType). Encrypted credential values are
  stored but never returned.

What a real org answers for "nothing stored" and for a second POST is not documented, so each is
an org setting, by default the answer a client can least take for granted:
- `principal-credential-missing` (GET of an existing principal that holds nothing):
  `not-configured` (default: 200 with `authenticationStatus: NotConfigured`) or `not-found` (404);
- `principal-credential-duplicate` (POST where credentials exist): `other` (default: 400
  `INVALID_INPUT`) or `duplicate-value` (400 `DUPLICATE_VALUE`).
"""

from __future__ import annotations

from typing import Any

from .store import OrgStore, case_safe_id
from .web import (
    Ctx,
    Response,
    bearer_token,
    invalid_session,
    json_response,
    not_found,
    rest_error,
    session_user,
)
from .web import split_version as _split

_PARTS = ("key", "secret", "keyandsecret")


def handle(ctx: Ctx) -> Response:
    split = _split(ctx.req.path)
    if split is None:
        return not_found()
    version, rest = split
    if session_user(ctx, bearer_token(ctx.req)) is None:
        return invalid_session()
    assert ctx.org is not None
    parts = [p for p in rest.split("/") if p]
    if parts[:3] == ["apps", "oauth", "credentials"] and len(parts) in (4, 5):
        return app_credentials(ctx, ctx.org, parts[3], parts[4] if len(parts) == 5 else None, version)
    if parts == ["named-credentials", "credential"]:
        return principal_credential(ctx, ctx.org, version)
    return not_found()


# -- app OAuth credentials ------------------------------------------------------------------------
def consumer_id(app_id: str) -> str:
    """A stable OAuth consumer Id (key prefix 888) derived from the app record Id."""
    return case_safe_id("888" + app_id[3:15])


def _app(org: OrgStore, app_id: str) -> tuple[dict, str, dict] | None:
    """(app record, component type, component holding the key) for a 0H4/0xI record Id."""
    sobject = org.sobject_of(app_id)
    if sobject == "ConnectedApplication":
        rec = org.get_record(sobject, app_id) or {}
        comp = next(
            (c for c in org.list_components("ConnectedApp") if c.get("label") == rec.get("Name")), None
        )
        if comp is not None:
            return rec, "ConnectedApp", dict(comp.get("oauthConfig") or {})
    if sobject == "ExternalClientApplication":
        rec = org.get_record(sobject, app_id) or {}
        glob = next(
            (
                c
                for c in org.list_components("ExtlClntAppGlobalOauthSettings")
                if c.get("externalClientApplication") == rec.get("DeveloperName")
            ),
            None,
        )
        if glob is not None:
            return rec, "ExternalClientApplication", dict(glob)
    return None


def app_credentials(ctx: Ctx, org: OrgStore, app_id: str, consumer: str | None, version: str) -> Response:
    found = _app(org, app_id)
    if found is None:
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    rec, _mtype, oauth = found
    name = str(rec.get("Name") or rec.get("MasterLabel") or rec.get("DeveloperName"))
    cid = consumer_id(str(rec["Id"]))
    url = f"/services/data/v{version}/apps/oauth/credentials/{rec['Id']}/{cid}"
    if consumer is None:
        return json_response(200, {"consumers": [{"id": cid, "name": name, "url": url}]})
    if consumer[:15] != cid[:15]:
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    part = ctx.req.query.get("part", "key")
    if part not in _PARTS:
        return rest_error(
            400, "INVALID_INPUT", f"Invalid value for part: {part}. Valid values: key, secret, keyandsecret"
        )
    if part != "key" and not org.setting("enable-client-secret-in-rest-api"):
        return rest_error(
            403,
            "INSUFFICIENT_ACCESS",
            "Access to consumer secrets through the REST API is "
            "turned off. Turn on enableClientSecretInRestApiAccess in External Client App Settings.",
        )
    body: dict[str, Any] = {"id": cid, "key": None, "name": name, "secret": None, "url": url}
    if part in ("key", "keyandsecret"):
        body["key"] = oauth.get("consumerKey")
    if part in ("secret", "keyandsecret"):
        body["secret"] = oauth.get("consumerSecret")
    return json_response(200, body)


# -- named credential principal credentials -------------------------------------------------------
_REQUIRED = ("externalCredential", "principalName", "principalType")


def _public(body: dict, version: str) -> dict[str, Any]:
    """The stored credential without secret values: encrypted entries carry no value."""
    creds = {}
    for name, cred in dict(body.get("credentials") or {}).items():
        entry = dict(cred) if isinstance(cred, dict) else {"value": cred, "encrypted": False}
        if entry.get("encrypted"):
            entry.pop("value", None)
        creds[name] = entry
    configured = bool(creds) and all(
        isinstance(c, dict) for c in dict(body.get("credentials") or {}).values()
    )
    return {
        "authenticationProtocol": body.get("authenticationProtocol"),
        "authenticationProtocolVariant": body.get("authenticationProtocolVariant"),
        "authenticationStatus": "Configured" if configured else "NotConfigured",
        "credentials": creds,
        "externalCredential": body["externalCredential"],
        "principalName": body["principalName"],
        "principalType": body["principalType"],
        "url": f"/services/data/v{version}/named-credentials/credential",
    }


def _validate(org: OrgStore, body: Any) -> Response | None:
    if not isinstance(body, dict):
        return rest_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    missing = [f for f in _REQUIRED if not body.get(f)]
    if missing:
        return rest_error(400, "INVALID_INPUT", f"Missing required input: {', '.join(missing)}", missing)
    if org.get_component("ExternalCredential", str(body["externalCredential"])) is None:
        return rest_error(
            404,
            "NOT_FOUND",
            f"External credential {body['externalCredential']} not found",
            ["externalCredential"],
        )
    return None


_PRINCIPAL_TYPES = ("NamedPrincipal", "PerUserPrincipal")


def _principal_defined(org: OrgStore, external_credential: str, principal_name: str) -> bool:
    ext = org.get_component("ExternalCredential", external_credential) or {}
    return any(
        p.get("parameterName") == principal_name and p.get("parameterType") in _PRINCIPAL_TYPES
        for p in ext.get("externalCredentialParameters") or []
    )


def _nothing_stored(org: OrgStore, key: tuple[str, str, str], version: str) -> Response:
    """GET of a principal without credentials: 200 NotConfigured or 404, as the org setting says."""
    defined = _principal_defined(org, key[0], key[1])
    if not defined or org.setting("principal-credential-missing") == "not-found":
        return not_found()
    return json_response(
        200,
        {
            "authenticationProtocol": None,
            "authenticationProtocolVariant": None,
            "authenticationStatus": "NotConfigured",
            "credentials": {},
            "externalCredential": key[0],
            "principalName": key[1],
            "principalType": key[2],
            "url": f"/services/data/v{version}/named-credentials/credential",
        },
    )


def _second_post(org: OrgStore) -> Response:
    if org.setting("principal-credential-duplicate") == "duplicate-value":
        return rest_error(
            400, "DUPLICATE_VALUE", "Credentials already exist for this principal. Use PUT to replace them."
        )
    return rest_error(400, "INVALID_INPUT", "This principal already has credentials.")


def principal_credential(ctx: Ctx, org: OrgStore, version: str) -> Response:
    method = ctx.req.method
    if method in ("GET", "DELETE"):
        q = ctx.req.query
        missing = [f for f in _REQUIRED if not q.get(f)]
        if missing:
            return rest_error(400, "INVALID_INPUT", f"Missing required input: {', '.join(missing)}", missing)
        key = (q["externalCredential"], q["principalName"], q["principalType"])
        if method == "DELETE":
            return Response(204) if org.delete_credential(*key) else not_found()
        stored = org.get_credential(*key)
        if stored is None:
            return _nothing_stored(org, key, version)
        return json_response(200, _public(stored, version))
    if method not in ("POST", "PUT"):
        return rest_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
    try:
        body = ctx.req.json()
    except ValueError:
        return rest_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
    error = _validate(org, body)
    if error is not None:
        return error
    key = (str(body["externalCredential"]), str(body["principalName"]), str(body["principalType"]))
    with org.transaction():
        exists = org.get_credential(*key) is not None
        if method == "POST" and exists:
            return _second_post(org)
        if method == "PUT" and not exists:
            return not_found()
        org.put_credential(body)
    return json_response(201 if method == "POST" else 200, _public(body, version))
