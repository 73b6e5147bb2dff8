"""OAuth token endpoint flows and their preconditions, with Salesforce's error codes and texts."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce

from tests.emulator_fixtures import API_VERSION, AppInfo, EmulatorHandle, org_setting
from tests.support import self_signed_certificate

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _token(emulator: EmulatorHandle, url: str, data: dict[str, str], **kw: Any) -> requests.Response:
    return requests.post(url, data=data, verify=emulator.ca_bundle, timeout=10, **kw)


def _error(resp: requests.Response) -> tuple[int, str, str]:
    body = resp.json()
    return resp.status_code, body["error"], body["error_description"]


def _key_and_cert() -> tuple[bytes, str]:
    cert = self_signed_certificate("orglink-test-jwt", dt.timedelta(minutes=-1), dt.timedelta(days=1))
    # Retrieved metadata holds the certificate body without BEGIN/END lines; store it that way.
    body = "".join(cert.pem.splitlines()[1:-1])
    return cert.key_pem.encode(), body


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, str]:
    return _key_and_cert()


def _assertion(key: bytes, iss: str, sub: str, aud: str, exp: Any = None) -> str:
    exp = exp if exp is not None else f"{time.time() + 120:.0f}"
    return jwt.encode({"iss": iss, "sub": sub, "aud": aud, "exp": exp}, key, algorithm="RS256")


# -- password -------------------------------------------------------------------------------------
PASSWORD_FLOW = "oauth-username-password-enabled"


def _password_grant(emulator: EmulatorHandle, app: AppInfo, password: str | None = None) -> requests.Response:
    org = emulator.orgs[app.org]
    form = {"grant_type": "password", "client_id": app.consumer_key, "client_secret": app.consumer_secret,
            "username": org["admin_username"], "password": password or org["admin_password"]}  # fmt: skip
    return _token(emulator, org["token_url"], form)


def test_password_flow_token_works_with_simple_salesforce(emulator, connected_app) -> None:
    app = connected_app("orgB")
    org = emulator.orgs["orgB"]
    with org_setting(emulator.admin, "orgB", PASSWORD_FLOW, True):  # an org that allows the flow
        resp = _password_grant(emulator, app)
    assert resp.status_code == 200
    body = resp.json()
    assert body["instance_url"] == org["instance_url"]
    assert body["token_type"] == "Bearer" and "refresh_token" not in body
    assert body["id"].endswith(f"/id/{org['org_id']}/" + body["id"].rsplit("/", 1)[1])
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], version=API_VERSION)
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1


def test_a_new_org_blocks_the_password_flow_as_a_failed_login(emulator, connected_app) -> None:
    """Orgs created since Summer '23 block the flow by default; the answer is a wrong password's."""
    app = connected_app("orgB")
    assert emulator.admin.settings("orgB")[PASSWORD_FLOW] is False
    blocked, wrong = _password_grant(emulator, app), _password_grant(emulator, app, "not-the-password")
    assert blocked.status_code == wrong.status_code == 400
    assert (
        blocked.json()
        == wrong.json()
        == {"error": "invalid_grant", "error_description": "authentication failure"}
    )


# -- client credentials ---------------------------------------------------------------------------
def test_client_credentials_with_secret_in_body(emulator, connected_app) -> None:
    app = connected_app(
        "orgB", isClientCredentialEnabled=True, oauthClientCredentialUser="integration@orgb.orglink.test"
    )
    resp = _token(
        emulator,
        emulator.orgs["orgB"]["token_url"],
        {
            "grant_type": "client_credentials",
            "client_id": app.consumer_key,
            "client_secret": app.consumer_secret,
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "refresh_token" not in body and body["scope"] == "api refresh_token offline_access"
    info = requests.get(
        emulator.orgs["orgB"]["instance_url"] + "/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        verify=emulator.ca_bundle,
    )
    assert info.json()["preferred_username"] == "integration@orgb.orglink.test"


def test_client_credentials_with_http_basic(emulator, connected_app) -> None:
    app = connected_app(
        "orgB", isClientCredentialEnabled=True, oauthClientCredentialUser="integration@orgb.orglink.test"
    )
    resp = _token(
        emulator,
        emulator.orgs["orgB"]["token_url"],
        {"grant_type": "client_credentials"},
        auth=(app.consumer_key, app.consumer_secret),
    )
    assert resp.status_code == 200, resp.text


def _eca(emulator: EmulatorHandle, org: str, global_cc: bool, policy_cc: bool) -> tuple[str, str]:
    name = "Eca_" + secrets.token_hex(4)
    key, secret = "ECAKEY" + secrets.token_hex(16), "ECASEC" + secrets.token_hex(16)
    admin = emulator.admin
    admin.put_component(
        org,
        "ExternalClientApplication",
        name,
        {"label": name, "contactEmail": "a@b.invalid", "distributionState": "Local"},
    )
    admin.put_component(
        org,
        "ExtlClntAppGlobalOauthSettings",
        name + "_glbloauth",
        {
            "externalClientApplication": name,
            "label": name,
            "callbackUrl": "https://localhost/cb",
            "consumerKey": key,
            "consumerSecret": secret,
            "isClientCredentialsFlowEnabled": global_cc,
        },
    )
    admin.put_component(
        org,
        "ExtlClntAppOauthSettings",
        name + "_oauth",
        {"externalClientApplication": name, "label": name, "commaSeparatedOauthScopes": "Api, RefreshToken"},
    )
    admin.put_component(
        org,
        "ExtlClntAppOauthConfigurablePolicies",
        name + "_oauthPlcy",
        {
            "externalClientApplication": name,
            "label": name,
            "isClientCredentialsFlowEnabled": policy_cc,
            "clientCredentialsFlowUser": "integration@orgb.orglink.test",
            "permittedUsersPolicyType": "AllSelfAuthorized",
        },
    )
    return key, secret


@pytest.mark.parametrize(
    ("global_cc", "policy_cc", "ok"), [(True, True, True), (True, False, False), (False, True, False)]
)
def test_eca_client_credentials_needs_global_and_policy_flags(emulator, global_cc, policy_cc, ok) -> None:
    key, secret = _eca(emulator, "orgB", global_cc, policy_cc)
    resp = _token(
        emulator,
        emulator.orgs["orgB"]["token_url"],
        {"grant_type": "client_credentials", "client_id": key, "client_secret": secret},
    )
    if ok:
        assert resp.status_code == 200, resp.text
    else:
        assert _error(resp) == (400, "invalid_grant", "no client credentials user enabled")


# -- JWT bearer -----------------------------------------------------------------------------------
def _jwt_app(connected_app, cert: str, **oauth: Any):
    config: dict[str, Any] = {"certificate": cert, "isAdminApproved": True}
    config.update(oauth)
    return connected_app("orgB", extra={"profileName": ["System Administrator"]}, **config)


@pytest.mark.parametrize("exp_kind", ["string", "number"])
def test_jwt_bearer_for_pre_authorized_user(emulator, connected_app, key_pair, exp_kind) -> None:
    key, cert = key_pair
    app = _jwt_app(connected_app, cert)
    org = emulator.orgs["orgB"]
    exp: Any = f"{time.time() + 120:.0f}" if exp_kind == "string" else int(time.time() + 120)
    resp = _token(
        emulator,
        org["token_url"],
        {
            "grant_type": JWT_GRANT,
            "assertion": _assertion(key, app.consumer_key, org["admin_username"], org["login_url"], exp),
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["instance_url"] == org["instance_url"]


def test_jwt_audience_may_be_login_salesforce_com(emulator, connected_app, key_pair) -> None:
    key, cert = key_pair
    app = _jwt_app(connected_app, cert)
    org = emulator.orgs["orgB"]
    resp = _token(
        emulator,
        org["token_url"],
        {
            "grant_type": JWT_GRANT,
            "assertion": _assertion(
                key, app.consumer_key, org["admin_username"], "https://login.salesforce.com"
            ),
        },
    )
    assert resp.status_code == 200, resp.text


def test_jwt_pre_authorized_through_setup_entity_access(emulator, connected_app, key_pair, sf_login) -> None:
    key, cert = key_pair
    app = connected_app("orgB", certificate=cert, isAdminApproved=True)
    org = emulator.orgs["orgB"]
    data = {
        "grant_type": JWT_GRANT,
        "assertion": _assertion(key, app.consumer_key, org["admin_username"], org["login_url"]),
    }
    assert _error(_token(emulator, org["token_url"], data))[2] == "user hasn't approved this consumer"
    sf = sf_login("orgB")
    ps = sf.query(
        "SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true AND Profile.Name = 'System Administrator'"
    )["records"][0]["Id"]
    cap = sf.query(f"SELECT Id FROM ConnectedApplication WHERE Name = '{app.name}'")["records"][0]["Id"]
    sf.SetupEntityAccess.create({"ParentId": ps, "SetupEntityId": cap})
    data["assertion"] = _assertion(key, app.consumer_key, org["admin_username"], org["login_url"])
    assert _token(emulator, org["token_url"], data).status_code == 200


def test_jwt_on_generic_login_port_finds_the_org(emulator, connected_app, key_pair) -> None:
    key, cert = key_pair
    app = _jwt_app(connected_app, cert)
    org = emulator.orgs["orgB"]
    resp = _token(
        emulator,
        emulator.generic_login_url + "/services/oauth2/token",
        {
            "grant_type": JWT_GRANT,
            "assertion": _assertion(key, app.consumer_key, org["admin_username"], emulator.generic_login_url),
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["instance_url"] == org["instance_url"]


# -- refresh tokens, revoke, userinfo -------------------------------------------------------------
def _refresh(emulator: EmulatorHandle, app, token: str) -> requests.Response:
    return _token(
        emulator,
        emulator.orgs["orgB"]["token_url"],
        {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": app.consumer_key,
            "client_secret": app.consumer_secret,
        },
    )


def test_refresh_without_rotation_keeps_the_token(emulator, connected_app) -> None:
    app = connected_app("orgB")
    rt = emulator.admin.issue_refresh_token("orgB", app.consumer_key, "admin@orgb.orglink.test")
    first = _refresh(emulator, app, rt)
    assert first.status_code == 200 and "refresh_token" not in first.json()
    assert _refresh(emulator, app, rt).status_code == 200


def test_refresh_rotation_and_reuse_revokes_the_chain(emulator, connected_app) -> None:
    app = connected_app("orgB", isRefreshTokenRotationEnabled=True)
    rt1 = emulator.admin.issue_refresh_token("orgB", app.consumer_key, "admin@orgb.orglink.test")
    r1 = _refresh(emulator, app, rt1)
    assert r1.status_code == 200, r1.text
    rt2, access2 = r1.json()["refresh_token"], r1.json()["access_token"]
    assert rt2 != rt1
    r2 = _refresh(emulator, app, rt2)
    rt3, access3 = r2.json()["refresh_token"], r2.json()["access_token"]
    # Reusing rt1 (already rotated) revokes the current token and its access tokens.
    assert _error(_refresh(emulator, app, rt1)) == (400, "invalid_grant", "expired access/refresh token")
    assert _error(_refresh(emulator, app, rt3)) == (400, "invalid_grant", "expired access/refresh token")
    url = emulator.orgs["orgB"]["instance_url"] + f"/services/data/v{API_VERSION}/query?q=SELECT+Id+FROM+User"
    for access in (access2, access3):
        resp = requests.get(url, headers={"Authorization": f"Bearer {access}"}, verify=emulator.ca_bundle)
        assert resp.status_code == 401 and resp.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_refresh_tokens_are_listed_as_oauth_tokens(emulator, connected_app, sf_login) -> None:
    app = connected_app("orgB")
    emulator.admin.issue_refresh_token("orgB", app.consumer_key, "admin@orgb.orglink.test")
    sf = sf_login("orgB")
    rows = sf.query(f"SELECT Id, AppName, User.Username FROM OauthToken WHERE AppName = '{app.name}'")[
        "records"
    ]
    assert len(rows) == 1 and rows[0]["User"]["Username"] == "admin@orgb.orglink.test"


def test_revoke_refresh_token(emulator, connected_app) -> None:
    app = connected_app("orgB")
    rt = emulator.admin.issue_refresh_token("orgB", app.consumer_key, "admin@orgb.orglink.test")
    access = _refresh(emulator, app, rt).json()["access_token"]
    base = emulator.orgs["orgB"]["instance_url"]
    assert (
        requests.post(
            base + "/services/oauth2/revoke", data={"token": rt}, verify=emulator.ca_bundle
        ).status_code
        == 200
    )
    assert _error(_refresh(emulator, app, rt)) == (400, "invalid_grant", "expired access/refresh token")
    info = requests.get(
        base + "/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {access}"},
        verify=emulator.ca_bundle,
    )
    assert info.status_code == 403
    bad = requests.post(base + "/services/oauth2/revoke", data={"token": "nope"}, verify=emulator.ca_bundle)
    assert _error(bad) == (400, "unsupported_token_type", "this token type is not supported")


def test_userinfo_describes_the_session_user(emulator, sf_login) -> None:
    sf = sf_login("orgA")
    resp = requests.get(
        emulator.orgs["orgA"]["instance_url"] + "/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {sf.session_id}"},
        verify=emulator.ca_bundle,
    )
    body = resp.json()
    assert body["preferred_username"] == "admin@orga.orglink.test"
    assert body["organization_id"] == emulator.orgs["orgA"]["org_id"]


def test_a_changed_app_is_unknown_until_it_propagates(emulator, connected_app) -> None:
    # Opt-in: a real org's token endpoint refuses a new or changed app for minutes.
    def now_stamp(seconds_ago: float = 0.0) -> dict[str, str]:
        when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
        return {"lastModifiedDate": when.strftime("%Y-%m-%dT%H:%M:%S.000Z")}

    app = connected_app("orgB", extra={"_audit": now_stamp()}, isClientCredentialEnabled=True,
                        oauthClientCredentialUser="integration@orgb.orglink.test")  # fmt: skip
    form = {"grant_type": "client_credentials", "client_id": app.consumer_key,
            "client_secret": app.consumer_secret}  # fmt: skip
    url = emulator.orgs["orgB"]["token_url"]
    emulator.admin.set_setting("orgB", "app-propagation-seconds", 2)
    try:
        assert _error(_token(emulator, url, form)) == (400, "invalid_client_id", "client identifier invalid")
        time.sleep(3.2)
        assert _token(emulator, url, form).status_code == 200
        # Changed again (a write stamps it anew): refused again, then accepted.
        emulator.admin.put_component("orgB", "ConnectedApp", app.name, {**app.body, "_audit": now_stamp()})
        assert _error(_token(emulator, url, form))[1] == "invalid_client_id"
        # Long since written: accepted at once.
        emulator.admin.put_component("orgB", "ConnectedApp", app.name, {**app.body, "_audit": now_stamp(60)})
        assert _token(emulator, url, form).status_code == 200
    finally:
        emulator.admin.set_setting("orgB", "app-propagation-seconds", 0)
    emulator.admin.put_component("orgB", "ConnectedApp", app.name, {**app.body, "_audit": now_stamp()})
    assert _token(emulator, url, form).status_code == 200  # off (the default): at once


# -- refusals: one bad token request each, and Salesforce's answer ---------------------------------
CC_USER = "integration@orgb.orglink.test"
CC_APP: dict[str, Any] = {"isClientCredentialEnabled": True, "oauthClientCredentialUser": CC_USER}


@dataclass(frozen=True)
class Made:
    """What a refused request is built from: the emulator, the app made for it (None: no app),
    the private key of the module's certificate and the Org B entry of orgs.json."""

    emulator: EmulatorHandle
    app: AppInfo | None
    key: bytes
    org: dict[str, Any]

    @property
    def consumer_key(self) -> str:
        assert self.app is not None
        return self.app.consumer_key


# A request: (URL, form, extra keyword arguments of requests.post).
Sent = tuple[str, dict[str, str], dict[str, Any]]


def cc_app(made_app: Any, _cert: str, **oauth: Any) -> AppInfo:
    return made_app("orgB", **{**CC_APP, **oauth})


def client_credentials(secret: str | None = None, client_id: str | None = None,
                       login_host: bool = False) -> Callable[[Made], Sent]:  # fmt: skip
    def sent(made: Made) -> Sent:
        app = made.app
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id or (app.consumer_key if app else ""),
            "client_secret": secret or (app.consumer_secret if app else ""),
        }
        login = made.emulator.generic_login_url + "/services/oauth2/token"
        return (login if login_host else made.org["token_url"]), form, {}

    return sent


def jwt_bearer(audience: str | None = None, exp: int | None = None,
               other_key: bool = False) -> Callable[[Made], Sent]:  # fmt: skip
    def sent(made: Made) -> Sent:
        key = _key_and_cert()[0] if other_key else made.key
        aud = audience or made.org["login_url"]
        assertion = _assertion(key, made.consumer_key, made.org["admin_username"], aud, exp)
        return made.org["token_url"], {"grant_type": JWT_GRANT, "assertion": assertion}, {}

    return sent


def raw(form: dict[str, str], headers: dict[str, str] | None = None) -> Callable[[Made], Sent]:
    return lambda made: (made.org["token_url"], form, {"headers": headers} if headers else {})


NOT_APPROVED = (400, "invalid_grant", "user hasn't approved this consumer")
NO_CC_USER = (400, "invalid_grant", "no client credentials user enabled")
UNKNOWN_CLIENT = (400, "invalid_client_id", "client identifier invalid")
BAD_CLIENT = (400, "invalid_client", "invalid client credentials")

REFUSALS = [
    # case, app (connected_app fixture, certificate -> app; None: no app), request, answer
    ("unknown client id", None, client_credentials("x", client_id="nope"), UNKNOWN_CLIENT),
    ("wrong secret", cc_app, client_credentials("wrong"), BAD_CLIENT),
    ("app of another org", lambda made_app, _c: made_app("orgA"), client_credentials(), UNKNOWN_CLIENT),
    ("client credentials on the login domain", cc_app, client_credentials(login_host=True),
     (400, "invalid_grant", "request not supported on this domain")),
    ("client credentials flow not enabled", lambda made_app, _c: made_app("orgB"), client_credentials(),
     NO_CC_USER),
    ("client credentials without a run-as user",
     lambda made_app, _c: made_app("orgB", isClientCredentialEnabled=True), client_credentials(), NO_CC_USER),
    ("client credentials with an inactive run-as user",
     lambda made_app, c: cc_app(made_app, c, oauthClientCredentialUser="inactive@orgb.orglink.test"),
     client_credentials(), NO_CC_USER),
    ("jwt signed with another key", _jwt_app, jwt_bearer(other_key=True), BAD_CLIENT),
    ("jwt for another audience", _jwt_app, jwt_bearer(audience="https://example.com"),
     (400, "invalid_grant", "audience is invalid")),
    ("jwt expired", _jwt_app, jwt_bearer(exp=int(time.time() - 600)),
     (400, "invalid_grant", "invalid assertion")),
    ("jwt to an app not admin approved", lambda made_app, c: made_app("orgB", certificate=c),
     jwt_bearer(), NOT_APPROVED),
    ("jwt of a profile the app does not list",
     lambda made_app, c: made_app("orgB", extra={"profileName": ["Standard User"]}, certificate=c,
                                  isAdminApproved=True),
     jwt_bearer(), NOT_APPROVED),
    ("jwt to an app without the refresh token scope",
     lambda made_app, c: _jwt_app(made_app, c, scopes=["Api"]), jwt_bearer(), NOT_APPROVED),
    ("unsupported grant type", None, raw({"grant_type": "magic"}),
     (400, "unsupported_grant_type", "grant type not supported")),
    # A malformed Basic header is a client error, not a server crash.
    ("basic header without a secret", None,
     raw({"grant_type": "client_credentials"},
         {"Authorization": "Basic " + base64.b64encode(b"only-an-id").decode()}),
     UNKNOWN_CLIENT),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make_app", "sent", "answer"), REFUSALS, ids=[row[0] for row in REFUSALS])
def test_bad_token_requests_get_salesforces_error(
    emulator, connected_app, key_pair, case, make_app, sent, answer
) -> None:
    key, cert = key_pair
    app = make_app(connected_app, cert) if make_app else None
    url, form, extra = sent(Made(emulator, app, key, emulator.orgs["orgB"]))
    assert _error(_token(emulator, url, form, **extra)) == answer, case
