"""SOAP partner login: POST /services/Soap/u/<version>.

simple-salesforce reads `sessionId` and `serverUrl` with minidom by literal tag name, so the
LoginResult elements are unprefixed in the default namespace `urn:partner.soap.sforce.com` and carry
no attributes. The rest of a real LoginResult is there for other clients.
"""

from __future__ import annotations

import re

from .seed import check_password, security_token
from .soap import PARTNER_NS, EnvelopeError, envelope, soap_fault, xml_text
from .store import OrgStore
from .web import Ctx, Response, xml_response

_VERSION = re.compile(r"^/services/Soap/u/(\d+\.\d)/?")
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
# login() left the partner API with 65.0; earlier versions have it where the org allows it.
LAST_VERSION_WITH_LOGIN = (64, 0)
LOGIN_DISABLED = (
    "SOAP API login() is disabled by default in this org. "
    "Contact the org administrator to enable SOAP API login()."
)


def version_refused(version: str) -> str:
    return (
        f"The SOAP Login operation is not available in the API version specified ({version}). "
        "Refer to the documentation for supported versions."
    )


def _has_login(version: str) -> bool:
    major, _, minor = version.partition(".")
    return (int(major), int(minor or 0)) <= LAST_VERSION_WITH_LOGIN


def _login_disabled(org: OrgStore) -> bool:
    return not org.setting("soap-login-enabled")


def _fault(code: str, message: str) -> Response:
    return xml_response(500, soap_fault(code, message))


def _login_call(ctx: Ctx) -> tuple[str, str] | Response:
    """(username, password) of a partner `login` call, or the fault that answers the request."""
    try:
        operation = ctx.req.envelope().operation
    except EnvelopeError:
        if ctx.req.body:
            return _fault("INVALID_LOGIN", INVALID_LOGIN)
        operation = None
    if operation is None or operation.tag != f"{{{PARTNER_NS}}}login":
        tag = f"{{{PARTNER_NS}}}login" if operation is None else str(operation.tag)
        return _fault("UNKNOWN_EXCEPTION", f"Element {tag} invalid at this location")
    uname = operation.findtext(f"{{{PARTNER_NS}}}username") or ""
    password = operation.findtext(f"{{{PARTNER_NS}}}password") or ""
    return uname.strip(), password


def password_ok(org: OrgStore, user: dict, password: str) -> bool:
    """The password alone (trusted IP range) or the password followed by the security token."""
    if check_password(org, str(user["Id"]), password):
        return True
    token = security_token(org, str(user["Id"]))
    return (
        bool(token)
        and password.endswith(str(token))
        and check_password(org, str(user["Id"]), password[: -len(str(token))])
    )


def handle(ctx: Ctx) -> Response:
    m = _VERSION.match(ctx.req.path)
    if ctx.req.method != "POST" or m is None:
        return _fault("INVALID_OPERATION", "SOAP login needs a POST to /services/Soap/u/<version>")
    version = m.group(1)
    if not _has_login(version):
        return _fault("INVALID_OPERATION", version_refused(version))
    # On an org's My Domain the org's setting decides before any credential is looked at.
    if ctx.org is not None and _login_disabled(ctx.org):
        return _fault("INVALID_OPERATION", LOGIN_DISABLED)
    creds = _login_call(ctx)
    if isinstance(creds, Response):
        return creds
    found = ctx.app.find_user(ctx.org, creds[0])
    # Salesforce gives one answer for unknown user, wrong password and inactive user alike.
    if found is None or not found[1].get("IsActive") or not password_ok(found[0], found[1], creds[1]):
        return _fault("INVALID_LOGIN", INVALID_LOGIN)
    org, user = found
    if _login_disabled(org):
        return _fault("INVALID_OPERATION", LOGIN_DISABLED)
    timeout = int(org.setting("session-timeout-s"))
    token = org.add_token("access", str(user["Id"]), ttl_s=timeout)
    return xml_response(200, _login_result(ctx, org, user, token, version, timeout))


def _login_result(ctx: Ctx, org: OrgStore, user: dict, token: str, version: str, timeout: int) -> bytes:
    base = ctx.app.instance_url(org.alias)
    org_id = org.org_id
    profile = org.get_record("Profile", str(user.get("ProfileId"))) or {}
    info = {
        "accessibilityMode": False,
        "chatterExternal": False,
        "currencySymbol": "$",
        "orgAttachmentFileSizeLimit": 5242880,
        "orgDefaultCurrencyIsoCode": "USD",
        "orgDefaultCurrencyLocale": "en_US",
        "orgDisallowHtmlAttachments": False,
        "orgHasPersonAccounts": False,
        "organizationId": org_id,
        "organizationMultiCurrency": False,
        "organizationName": f"orglink {org.alias}",
        "profileId": profile.get("Id", ""),
        "sessionSecondsValid": timeout,
        "userEmail": user.get("Email", ""),
        "userFullName": user.get("Name", ""),
        "userId": user["Id"],
        "userLanguage": "en_US",
        "userLocale": "en_US",
        "userName": user["Username"],
        "userTimeZone": "America/Los_Angeles",
        "userType": "Standard",
        "userUiSkin": "Theme3",
    }
    info_xml = "".join(f"<{k}>{xml_text(v)}</{k}>" for k, v in info.items())
    result = (
        f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org_id}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{base}/services/Soap/u/{version}/{org_id}</serverUrl>"
        f"<sessionId>{xml_text(token)}</sessionId><userId>{user['Id']}</userId>"
        f"<userInfo>{info_xml}</userInfo>"
    )
    return envelope(f'<loginResponse xmlns="{PARTNER_NS}"><result>{result}</result></loginResponse>')
