"""OAuth 2.0 endpoints: /services/oauth2/token, /revoke, /userinfo, and the identity URL /id/<org>/<user>.

Apps are found by consumer key among the org's ConnectedApp components and External Client App
global OAuth settings; each flow enforces the app's configuration with Salesforce's error codes
and texts. Errors are HTTP 400 JSON `{"error", "error_description"}`.

External Client Apps are known only on their org's My Domain: on the shared login port (the
login.salesforce.com / test.salesforce.com stand-in) every flow of one answers `app_not_found`, a
JWT for one must name the My Domain as audience, and the username-password flow is refused.

Refresh tokens: Salesforce issues them only through interactive flows. The emulator serves the web
server flow (authorization code, with PKCE) through a minimal login page and an approval page at
/services/oauth2/authorize, as `sf org login web` drives it; tests that need a refresh token without
a browser have the admin side play the person who approved (`AdminClient.issue_refresh_token`).

The Salesforce CLI's own app (client id `PlatformCLI`, no secret, callback
http://localhost:1717/OauthRedirect) is a global app present in every org, as in real ones.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .soap_login import password_ok
from .store import OrgStore, same_id
from .web import Ctx, Response, bearer_token, json_response

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# How far ahead an assertion's exp may be (Salesforce: "within three minutes"), plus clock skew.
JWT_MAX_AHEAD_S = 3 * 60 + 30
JWT_SKEW_S = 30
# An exp above this (year 5138 in seconds) can only be milliseconds.
JWT_MILLISECONDS_FROM = 1e11

_WIRE_SCOPES = {
    "Api": "api",
    "RefreshToken": "refresh_token offline_access",
    "OfflineAccess": "refresh_token offline_access",
    "Web": "web",
    "Full": "full",
    "Basic": "id",
    "Profile": "id",
    "Email": "id",
    "Address": "id",
    "Phone": "id",
    "OpenID": "openid",
    "Chatter": "chatter_api",
    "CustomPermissions": "custom_permissions",
    "Wave": "wave_api",
    "Lightning": "lightning",
    "Content": "content",
    "Pardot": "pardot_api",
    "Eclair": "eclair_api",
    "CustomApplications": "visualforce",
}


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class App:
    """The OAuth-relevant view of a ConnectedApp or of an External Client App's components."""

    org: OrgStore
    mtype: str  # "ConnectedApp" or "ExternalClientApplication"
    name: str
    consumer_key: str
    consumer_secret: str | None
    certificate: str | None
    secret_optional: bool
    secret_for_refresh: bool
    rotation: bool
    cc_enabled: bool
    cc_user: str | None
    admin_approved: bool
    profiles: list[str] = field(default_factory=list)
    permission_sets: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    callback_urls: list[str] = field(default_factory=list)  # where /authorize may send a code


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def _csv(value: Any) -> list[str]:
    return [p.strip() for p in str(value or "").split(",") if p.strip()]


def _url_lines(value: Any) -> list[str]:
    """An app's callback URLs: one a line in Setup, or separated by commas."""
    return [u.strip() for u in str(value or "").replace(",", "\n").splitlines() if u.strip()]


def _flag(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _connected_app(org: OrgStore, comp: dict) -> App:
    cfg = comp.get("oauthConfig") or {}
    return App(
        org=org,
        mtype="ConnectedApp",
        name=str(comp["fullName"]),
        consumer_key=str(cfg.get("consumerKey", "")),
        consumer_secret=cfg.get("consumerSecret"),
        certificate=cfg.get("certificate"),
        secret_optional=_flag(cfg.get("isConsumerSecretOptional")),
        secret_for_refresh=_flag(cfg.get("isSecretRequiredForRefreshToken"), default=True),
        rotation=_flag(cfg.get("isRefreshTokenRotationEnabled")),
        cc_enabled=_flag(cfg.get("isClientCredentialEnabled")),
        cc_user=cfg.get("oauthClientCredentialUser"),
        admin_approved=_flag(cfg.get("isAdminApproved")),
        profiles=_as_list(comp.get("profileName")),
        permission_sets=_as_list(comp.get("permissionSetName")),
        scopes=_as_list(cfg.get("scopes")),
        callback_urls=_url_lines(cfg.get("callbackUrl")),
    )


def _eca_part(org: OrgStore, mtype: str, app_name: str) -> dict:
    return next((c for c in org.list_components(mtype) if c.get("externalClientApplication") == app_name), {})


def _external_client_app(org: OrgStore, glob: dict) -> App:
    name = str(glob.get("externalClientApplication", ""))
    policy = _eca_part(org, "ExtlClntAppOauthConfigurablePolicies", name)
    settings = _eca_part(org, "ExtlClntAppOauthSettings", name)
    return App(
        org=org,
        mtype="ExternalClientApplication",
        name=name,
        consumer_key=str(glob.get("consumerKey", "")),
        consumer_secret=glob.get("consumerSecret"),
        certificate=glob.get("certificate"),
        secret_optional=_flag(glob.get("isConsumerSecretOptional")),
        secret_for_refresh=_flag(glob.get("isSecretRequiredForRefreshToken"), default=True),
        rotation=_flag(glob.get("isRefreshTokenRotationEnabled")),
        # Client credentials on an ECA needs the global flag and the policy flag.
        cc_enabled=_flag(glob.get("isClientCredentialsFlowEnabled"))
        and _flag(policy.get("isClientCredentialsFlowEnabled")),
        cc_user=policy.get("clientCredentialsFlowUser"),
        admin_approved=policy.get("permittedUsersPolicyType") == "AdminApprovedPreAuthorized",
        profiles=_csv(policy.get("commaSeparatedProfile")),
        permission_sets=_csv(policy.get("commaSeparatedPermissionSet")),
        scopes=_csv(settings.get("commaSeparatedOauthScopes")),
        callback_urls=_url_lines(glob.get("callbackUrl")),
    )


# What real orgs answer when an External Client App's flow goes through login.salesforce.com or
# test.salesforce.com (the shared login port plays both): ECAs are known only on their My Domain.
ECA_NOT_ON_GENERIC_HOST = ("app_not_found", "External client app is not installed in this org")
# ECAs do not support the username-password flow; the real answer is unknown, this one is ours.
ECA_PASSWORD_FLOW = ("unsupported_grant_type", "grant type not supported")


PLATFORM_CLI_KEY = "PlatformCLI"
PLATFORM_CLI_CALLBACK = "http://localhost:1717/OauthRedirect"


def platform_cli_app(org: OrgStore) -> App:
    """The Salesforce CLI's global connected app: no secret, any user may approve it for themselves."""
    return App(
        org=org,
        mtype="ConnectedApp",
        name="Salesforce CLI",
        consumer_key=PLATFORM_CLI_KEY,
        consumer_secret=None,
        certificate=None,
        secret_optional=True,
        secret_for_refresh=False,
        rotation=False,
        cc_enabled=False,
        cc_user=None,
        admin_approved=False,
        scopes=["Web", "Api", "RefreshToken"],
        callback_urls=[PLATFORM_CLI_CALLBACK],
    )


def find_app(ctx: Ctx, client_id: str, org: OrgStore | None = None) -> App:
    """The app with this consumer key: in this org, or (a connected app) in any org on the shared
    login port. The CLI's global app is in every org: `org` says which one where the port does not."""
    if client_id == PLATFORM_CLI_KEY:
        target = ctx.org or org
        if target is None:
            raise OAuthError("invalid_grant", "expired access/refresh token")
        return platform_cli_app(target)
    found = ctx.app.emulator.find_app_by_key(client_id) if client_id else None
    if found is None or (ctx.org is not None and found[0] is not ctx.org):
        raise OAuthError("invalid_client_id", "client identifier invalid")
    org, mtype, comp = found
    if ctx.org is None and mtype != "ConnectedApp":
        raise OAuthError(*ECA_NOT_ON_GENERIC_HOST)
    if _still_propagating(org, comp):
        raise OAuthError("invalid_client_id", "client identifier invalid")
    return _connected_app(org, comp) if mtype == "ConnectedApp" else _external_client_app(org, comp)


def _still_propagating(org: OrgStore, comp: dict) -> bool:
    """A real org's login servers learn of a new or changed app 2-10 minutes late; the opt-in
    setting `app-propagation-seconds` makes the token endpoint refuse it that long after the
    component holding its OAuth settings and credentials was last written."""
    delay = float(org.setting("app-propagation-seconds") or 0)
    changed = str((comp.get("_audit") or {}).get("lastModifiedDate") or "")
    if delay <= 0 or not changed:
        return False
    written = dt.datetime.strptime(changed, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    # The stamp has whole seconds: count from the end of that second, never less than asked.
    age = (dt.datetime.now(dt.UTC) - written).total_seconds() - 1.0
    return age < delay


def check_secret(app: App, secret: str | None, required: bool = True) -> None:
    if secret is None or secret == "":
        if required:
            raise OAuthError("invalid_client", "invalid client credentials")
        return
    if not app.consumer_secret or not hmac.compare_digest(str(app.consumer_secret), secret):
        raise OAuthError("invalid_client", "invalid client credentials")


# -- pre-authorization ----------------------------------------------------------------------------
def user_permission_set_ids(org: OrgStore, user: dict) -> set[str]:
    """The user's profile-owned permission set and every assigned permission set (15-char Ids)."""
    ids = {
        str(a["PermissionSetId"])[:15]
        for a in org.records("PermissionSetAssignment")
        if same_id(a.get("AssigneeId"), user["Id"])
    }
    for ps in org.records("PermissionSet"):
        if ps.get("IsOwnedByProfile") and same_id(ps.get("ProfileId"), user.get("ProfileId")):
            ids.add(str(ps["Id"])[:15])
    return ids


def pre_authorized(app: App, user: dict) -> bool:
    """Admin-approved app and the user reached through a profile, a permission set or SetupEntityAccess."""
    if not app.admin_approved:
        return False
    org = app.org
    profile = org.get_record("Profile", str(user.get("ProfileId"))) or {}
    if profile.get("Name") in app.profiles:
        return True
    ps_ids = user_permission_set_ids(org, user)
    names = {str(ps.get("Name")) for ps in org.records("PermissionSet") if str(ps["Id"])[:15] in ps_ids}
    if names & set(app.permission_sets):
        return True
    record = org.app_record(app.mtype, app.name)
    if record is None:
        return False
    return any(
        same_id(sea.get("SetupEntityId"), record["Id"]) and str(sea.get("ParentId"))[:15] in ps_ids
        for sea in org.records("SetupEntityAccess")
    )


# -- issuing tokens -------------------------------------------------------------------------------
def wire_scope(app: App) -> str:
    words: list[str] = []
    for s in app.scopes:
        for w in _WIRE_SCOPES.get(s, s.lower()).split():
            if w not in words:
                words.append(w)
    return " ".join(words)


def _token_payload(ctx: Ctx, app: App, org: OrgStore, user: dict, access: str) -> dict[str, Any]:
    issued_at = str(int(time.time() * 1000))
    base = ctx.app.generic_login_url if ctx.org is None else ctx.app.instance_url(org.alias)
    ident = f"{base}/id/{org.org_id}/{user['Id']}"
    key = str(app.consumer_secret or app.consumer_key).encode()
    signature = base64.b64encode(
        hmac.new(key, (ident + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    return {
        "access_token": access,
        "signature": signature,
        "scope": wire_scope(app),
        # simple-salesforce keeps host:port of instance_url; no trailing slash.
        "instance_url": ctx.app.instance_url(org.alias),
        "id": ident,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }


def _access(org: OrgStore, user: dict, app: App, family: str | None = None) -> str:
    ttl = float(org.setting("session-timeout-s"))
    return org.add_token(
        "access", str(user["Id"]), app_key=app.consumer_key, family=family, scope=wire_scope(app), ttl_s=ttl
    )


def issue_refresh_token(app: App, user: dict) -> str:
    """A refresh token as if the user had approved the app interactively (admin side only)."""
    org = app.org
    family = uuid.uuid4().hex
    record_id = org.insert_record(
        "OauthToken",
        {
            "AppName": app.name,
            "UserId": user["Id"],
            "CreatedDate": _now_iso(),
            "LastUsedDate": _now_iso(),
            "UseCount": 0,
            "AppMenuItemId": None,
            "DeleteToken": None,
            "RequestToken": None,
            "AccessToken": None,
        },
    )
    return org.add_token(
        "refresh",
        str(user["Id"]),
        app_key=app.consumer_key,
        family=family,
        scope=wire_scope(app),
        record_id=record_id,
    )


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())


def _active_user(ctx: Ctx, org: OrgStore | None, uname: str | None) -> tuple[OrgStore, dict] | None:
    if not uname:
        return None
    found = ctx.app.find_user(org, uname)
    if found is None or not found[1].get("IsActive"):
        return None
    return found


# -- grants ---------------------------------------------------------------------------------------
def _client_auth(ctx: Ctx, form: dict[str, str]) -> tuple[str, str | None]:
    """client_id and client_secret from the body, or from HTTP Basic."""
    auth = ctx.req.header("authorization")
    if auth.startswith("Basic "):
        try:
            raw = base64.b64decode(auth[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "invalid client credentials") from None
        cid, _, secret = raw.partition(":")
        return unquote(cid), unquote(secret)
    return form.get("client_id", ""), form.get("client_secret")


PASSWORD_FLOW_SETTING = "oauth-username-password-enabled"


def grant_password(ctx: Ctx, form: dict[str, str]) -> dict[str, Any]:
    cid, secret = _client_auth(ctx, form)
    app = find_app(ctx, cid)
    if app.mtype != "ConnectedApp":
        raise OAuthError(*ECA_PASSWORD_FLOW)
    check_secret(app, secret, required=not app.secret_optional)
    found = _active_user(ctx, app.org, form.get("username"))
    if found is None or not password_ok(found[0], found[1], form.get("password", "")):
        raise OAuthError("invalid_grant", "authentication failure")
    if not found[0].setting(PASSWORD_FLOW_SETTING):
        # The blocked flow says nothing more than a wrong password does; only the user's login
        # history in Setup tells the reason.
        raise OAuthError("invalid_grant", "authentication failure")
    org, user = found
    if app.admin_approved and not pre_authorized(app, user):
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    return _token_payload(ctx, app, org, user, _access(org, user, app))


def grant_client_credentials(ctx: Ctx, form: dict[str, str]) -> dict[str, Any]:
    cid, secret = _client_auth(ctx, form)
    if ctx.org is None:
        # Client credentials works only on the org's My Domain, never on login.salesforce.com
        # (where an External Client App is not known at all).
        holder = ctx.app.emulator.find_app_by_key(cid) if cid else None
        if holder is not None and holder[1] != "ConnectedApp":
            raise OAuthError(*ECA_NOT_ON_GENERIC_HOST)
        raise OAuthError("invalid_grant", "request not supported on this domain")
    app = find_app(ctx, cid)
    check_secret(app, secret)
    if not app.cc_enabled:
        raise OAuthError("invalid_grant", "no client credentials user enabled")
    found = _active_user(ctx, app.org, app.cc_user)
    if found is None:
        raise OAuthError("invalid_grant", "no client credentials user enabled")
    org, user = found
    return _token_payload(ctx, app, org, user, _access(org, user, app))


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _load_certificate(text: str) -> x509.Certificate:
    body = text.strip()
    if "BEGIN CERTIFICATE" not in body:
        # Retrieved metadata holds the base64 body without the BEGIN/END lines.
        body = "-----BEGIN CERTIFICATE-----\n" + "".join(body.split()) + "\n-----END CERTIFICATE-----\n"
    return x509.load_pem_x509_certificate(body.encode())


def _verify_rs256(certificate: str | None, signing_input: bytes, signature: bytes) -> bool:
    if not certificate:
        return False
    try:
        key = _load_certificate(certificate).public_key()
    except ValueError:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _decode_assertion(assertion: str) -> tuple[dict, dict, bytes, bytes]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise OAuthError("invalid_grant", "invalid assertion")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, binascii.Error):
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
        raise OAuthError("invalid_grant", "invalid assertion")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


def _audience_ok(ctx: Ctx, app: App, aud: Any) -> bool:
    """A connected app takes its My Domain or a generic login host as `aud`; an ECA only its My
    Domain (real orgs answer "audience is invalid" for login.salesforce.com)."""
    auds = aud if isinstance(aud, list) else [aud]
    allowed = {ctx.app.instance_url(app.org.alias)}
    if app.mtype == "ConnectedApp":
        allowed |= {ctx.app.generic_login_url, "https://login.salesforce.com", "https://test.salesforce.com"}
    return any(str(a).rstrip("/") in allowed for a in auds)


def grant_jwt(ctx: Ctx, form: dict[str, str]) -> dict[str, Any]:
    _header, claims, signing_input, signature = _decode_assertion(form.get("assertion", ""))
    app = find_app(ctx, str(claims.get("iss", "")))
    if not _verify_rs256(app.certificate, signing_input, signature):
        raise OAuthError("invalid_client", "invalid client credentials")
    if not _audience_ok(ctx, app, claims.get("aud")):
        raise OAuthError("invalid_grant", "audience is invalid")
    try:
        exp = float(claims["exp"])  # a number, or a string as simple-salesforce sends it
    except (KeyError, TypeError, ValueError):
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if exp > JWT_MILLISECONDS_FROM:
        # The Salesforce CLI writes exp as Date.now() + 300, in milliseconds, and real orgs take it.
        exp /= 1000
    now = time.time()
    if exp < now - JWT_SKEW_S or exp > now + JWT_MAX_AHEAD_S:
        raise OAuthError("invalid_grant", "invalid assertion")
    found = _active_user(ctx, app.org, str(claims.get("sub", "")))
    if found is None:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    org, user = found
    # JWT bearer needs an admin-approved app, a pre-authorized user and the RefreshToken scope.
    has_refresh_scope = bool({"RefreshToken", "OfflineAccess"} & set(app.scopes))
    if not (pre_authorized(app, user) and has_refresh_scope):
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    return _token_payload(ctx, app, org, user, _access(org, user, app))


def _org_holding_token(ctx: Ctx, value: str) -> OrgStore | None:
    orgs = [ctx.org] if ctx.org is not None else list(ctx.app.emulator.orgs.values())
    return next((org for org in orgs if value and org.get_token(value) is not None), None)


def grant_refresh(ctx: Ctx, form: dict[str, str]) -> dict[str, Any]:
    cid, secret = _client_auth(ctx, form)
    app = find_app(ctx, cid, _org_holding_token(ctx, form.get("refresh_token", "")))
    check_secret(app, secret, required=app.secret_for_refresh and not app.secret_optional)
    org = app.org
    row = org.get_token(form.get("refresh_token", ""))
    if row is None or row["kind"] != "refresh" or row["revoked"] or row["app_key"] != app.consumer_key:
        raise OAuthError("invalid_grant", "expired access/refresh token")
    if row["rotated"]:
        # Reuse of a rotated refresh token: revoke the whole chain, as Salesforce does.
        org.revoke_family(str(row["family"]))
        raise OAuthError("invalid_grant", "expired access/refresh token")
    user = org.get_record("User", str(row["user_id"]))
    if user is None or not user.get("IsActive"):
        raise OAuthError("invalid_grant", "inactive user")
    family = str(row["family"])
    payload = _token_payload(ctx, app, org, user, _access(org, user, app, family=family))
    if app.rotation:
        with org.transaction():
            org.mark_rotated(str(row["token"]))
            payload["refresh_token"] = org.add_token(
                "refresh",
                str(user["Id"]),
                app_key=app.consumer_key,
                family=family,
                scope=row["scope"],
                record_id=row["record_id"],
            )
    return payload


# -- the web server flow: authorization code, with PKCE -----------------------------------------
# Codes live 15 minutes and once, login-to-approval tickets 10 minutes; both only in this process
# (a restart drops a login half-way through, as a real org's would time out).
CODE_TTL_S = 15 * 60
TICKET_TTL_S = 10 * 60


@dataclass
class Authorization:
    """What a person asked for at /authorize, carried from the login page to the approval."""

    client_id: str
    redirect_uri: str
    state: str | None
    scope: str
    code_challenge: str | None
    org_alias: str = ""
    user_id: str = ""
    expires: float = 0.0


_pending_lock = threading.Lock()
_tickets: dict[str, Authorization] = {}
_codes: dict[str, Authorization] = {}


def _remember(table: dict[str, Authorization], auth: Authorization, ttl_s: float) -> str:
    key = secrets.token_urlsafe(32)
    auth.expires = time.time() + ttl_s
    with _pending_lock:
        for old in [k for k, v in table.items() if v.expires < time.time()]:
            del table[old]
        table[key] = auth
    return key


def _take(table: dict[str, Authorization], key: str) -> Authorization | None:
    """Single use: whatever is taken is gone, expired or not."""
    with _pending_lock:
        auth = table.pop(key, None)
    return auth if auth is not None and auth.expires >= time.time() else None


def _page(title: str, body: str, status: int = 200) -> Response:
    document = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(status, document.encode(), {"Content-Type": "text/html;charset=UTF-8"})


def _hidden(values: dict[str, str | None]) -> str:
    return "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in values.items()
        if v is not None
    )


def _login_page(auth: Authorization, problem: str | None = None) -> Response:
    error = f"<p class='error'>{html.escape(problem)}</p>" if problem else ""
    params = {
        "response_type": "code",
        "client_id": auth.client_id,
        "redirect_uri": auth.redirect_uri,
        "state": auth.state,
        "scope": auth.scope,
        "code_challenge": auth.code_challenge,
        "code_challenge_method": "S256" if auth.code_challenge else None,
    }
    return _page(
        "Login",
        f"{error}<form method='POST' action='/services/oauth2/authorize'>{_hidden(params)}"
        "<label>Username <input type='email' name='username'></label>"
        "<label>Password <input type='password' name='pw'></label>"
        "<input type='submit' name='Login' value='Log In'></form>",
    )


def _approve_page(app: App, ticket: str, auth: Authorization) -> Response:
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in auth.scope.split())
    return _page(
        "Allow Access?",
        f"<p>{html.escape(app.name)} is asking to:</p><ul>{scopes}</ul>"
        f"<form method='POST' action='/services/oauth2/authorize'>{_hidden({'ticket': ticket})}"
        "<input type='submit' name='approve' value='Allow'>"
        "<input type='submit' name='deny' value='Deny'></form>",
    )


def _error_page(err: OAuthError) -> Response:
    # Where the redirect URI cannot be trusted, Salesforce shows the error instead of redirecting.
    text = urlencode({"error": err.error, "error_description": err.description})
    return _page("Error", f"<p id='error'>{html.escape(text)}</p>", status=400)


def _redirect(auth: Authorization, params: dict[str, str]) -> Response:
    if auth.state is not None:
        params["state"] = auth.state
    separator = "&" if "?" in auth.redirect_uri else "?"
    return Response(302, b"", {"Location": auth.redirect_uri + separator + urlencode(params)})


def _requested(ctx: Ctx, values: dict[str, str]) -> tuple[Authorization, App]:
    """Check an /authorize request (client, redirect URI, response type, PKCE method); the app it
    names comes with it (one lookup per request: finding an app scans every org's apps)."""
    client_id = values.get("client_id", "")
    app = find_app(ctx, client_id, ctx.org or next(iter(ctx.app.emulator.orgs.values())))
    redirect_uri = values.get("redirect_uri", "")
    if redirect_uri not in app.callback_urls:
        raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
    if values.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "response type not supported")
    challenge = values.get("code_challenge") or None
    if challenge is not None and values.get("code_challenge_method", "S256") != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256")
    auth = Authorization(client_id, redirect_uri, values.get("state"), values.get("scope", ""), challenge)
    return auth, app


def authorize(ctx: Ctx) -> Response:
    """GET: the login page. POST with username/pw: the approval page. POST with a ticket: the
    redirect to the callback with a code (Allow) or access_denied (Deny)."""
    values = ctx.req.form() if ctx.req.method == "POST" else dict(ctx.req.query)
    if "ticket" in values:
        return _approved(ctx, values)
    try:
        auth, app = _requested(ctx, values)
    except OAuthError as err:
        return _error_page(err)
    if ctx.req.method != "POST":
        return _login_page(auth)
    found = _active_user(ctx, ctx.org, values.get("username"))
    if found is None or not password_ok(found[0], found[1], values.get("pw", "")):
        return _login_page(
            auth,
            "Please check your username and password. If you still can't log in, contact your "
            "Salesforce administrator.",
        )
    org, user = found
    if app.consumer_key == PLATFORM_CLI_KEY:
        app = platform_cli_app(org)  # the CLI's global app is in every org: here the user's
    elif app.org is not org:
        return _error_page(OAuthError("invalid_client_id", "client identifier invalid"))
    auth.org_alias, auth.user_id = org.alias, str(user["Id"])
    return _approve_page(app, _remember(_tickets, auth, TICKET_TTL_S), auth)


def _approved(ctx: Ctx, values: dict[str, str]) -> Response:
    auth = _take(_tickets, values.get("ticket", ""))
    if auth is None:
        return _error_page(OAuthError("invalid_request", "the login page has expired: start again"))
    if "approve" not in values:
        return _redirect(
            auth, {"error": "access_denied", "error_description": "end-user denied authorization"}
        )
    return _redirect(auth, {"code": _remember(_codes, auth, CODE_TTL_S)})


def _pkce_ok(challenge: str, verifier: str) -> bool:
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(digest, challenge)


def grant_authorization_code(ctx: Ctx, form: dict[str, str]) -> dict[str, Any]:
    cid, secret = _client_auth(ctx, form)
    auth = _take(_codes, form.get("code", ""))
    if auth is None:
        raise OAuthError("invalid_grant", "invalid authorization code")
    org = ctx.app.emulator.orgs.get(auth.org_alias)
    if org is None or (ctx.org is not None and ctx.org is not org) or cid != auth.client_id:
        raise OAuthError("invalid_grant", "invalid authorization code")
    app = find_app(ctx, cid, org)
    check_secret(app, secret, required=not app.secret_optional)
    if form.get("redirect_uri", "") != auth.redirect_uri:
        raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
    if auth.code_challenge is not None and not _pkce_ok(auth.code_challenge, form.get("code_verifier", "")):
        raise OAuthError("invalid_grant", "invalid code verifier")
    user = org.get_record("User", auth.user_id)
    if user is None or not user.get("IsActive"):
        raise OAuthError("invalid_grant", "inactive user")
    payload = _token_payload(ctx, app, org, user, _access(org, user, app))
    if {"RefreshToken", "OfflineAccess"} & set(app.scopes):
        payload["refresh_token"] = issue_refresh_token(app, user)
    return payload


_GRANTS = {
    "password": grant_password,
    "client_credentials": grant_client_credentials,
    JWT_GRANT: grant_jwt,
    "refresh_token": grant_refresh,
    "authorization_code": grant_authorization_code,
}


# -- endpoints ------------------------------------------------------------------------------------
def token(ctx: Ctx) -> Response:
    if ctx.req.method != "POST":
        return json_response(400, {"error": "invalid_request", "error_description": "must use HTTP POST"})
    form = ctx.req.form()
    grant = _GRANTS.get(form.get("grant_type", ""))
    if grant is None:
        return json_response(
            400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
        )
    try:
        payload = grant(ctx, form)
    except OAuthError as err:
        return json_response(err.status, {"error": err.error, "error_description": err.description})
    return json_response(
        200, payload, {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}
    )


def revoke(ctx: Ctx) -> Response:
    value = ctx.req.form().get("token") if ctx.req.method == "POST" else None
    value = value or ctx.req.query.get("token", "")
    orgs = [ctx.org] if ctx.org is not None else list(ctx.app.emulator.orgs.values())
    for org in orgs:
        if value and org.revoke_token(value):
            return Response(200, b"", {"Content-Type": "text/plain"})
    return json_response(
        400, {"error": "unsupported_token_type", "error_description": "this token type is not supported"}
    )


def _session(ctx: Ctx) -> tuple[OrgStore, dict] | None:
    value = bearer_token(ctx.req) or ctx.req.query.get("access_token") or ctx.req.query.get("oauth_token")
    orgs = [ctx.org] if ctx.org is not None else list(ctx.app.emulator.orgs.values())
    for org in orgs:
        row = org.valid_session(value) if value else None
        user = org.get_record("User", str(row["user_id"])) if row else None
        if user is not None:
            return org, user
    return None


def userinfo(ctx: Ctx) -> Response:
    found = _session(ctx)
    if found is None:
        return Response(403, b"Bad_OAuth_Token", {"Content-Type": "text/plain"})
    org, user = found
    base = ctx.app.instance_url(org.alias)
    return json_response(
        200,
        {
            "sub": f"{base}/id/{org.org_id}/{user['Id']}",
            "user_id": user["Id"],
            "organization_id": org.org_id,
            "preferred_username": user["Username"],
            "nickname": user.get("CommunityNickname"),
            "name": user.get("Name"),
            "email": user.get("Email"),
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user.get("LastName"),
            "zoneinfo": user.get("TimeZoneSidKey"),
            "active": bool(user.get("IsActive")),
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": -28800000,
            "is_app_installed": True,
            "urls": {
                "rest": f"{base}/services/data/v{{version}}/",
                "metadata": f"{base}/services/Soap/m/{{version}}/{org.org_id}",
            },
        },
    )


def identity(ctx: Ctx) -> Response:
    found = _session(ctx)
    if found is None:
        return Response(403, b"Bad_OAuth_Token", {"Content-Type": "text/plain"})
    org, user = found
    base = ctx.app.instance_url(org.alias)
    return json_response(
        200,
        {
            "id": f"{base}/id/{org.org_id}/{user['Id']}",
            "asserted_user": True,
            "user_id": user["Id"],
            "organization_id": org.org_id,
            "username": user["Username"],
            "display_name": user.get("Name"),
            "email": user.get("Email"),
            "active": bool(user.get("IsActive")),
            "user_type": "STANDARD",
            "urls": {
                "rest": f"{base}/services/data/v{{version}}/",
                "query": f"{base}/services/data/v{{version}}/query/",
            },
        },
    )


def handle(ctx: Ctx) -> Response:
    path = ctx.req.path.rstrip("/")
    if path == "/services/oauth2/token":
        return token(ctx)
    if path == "/services/oauth2/revoke":
        return revoke(ctx)
    if path == "/services/oauth2/authorize":
        return authorize(ctx)
    if path == "/services/oauth2/userinfo":
        return userinfo(ctx)
    if path.startswith("/id/"):
        return identity(ctx)
    return Response(404, b"Not Found", {"Content-Type": "text/plain"})
