"""What real orgs refuse of connected apps and External Client Apps, through unmodified clients.

simple-salesforce (its zeep-based `mdapi`, `deploy`/`checkDeployStatus`) for the Metadata API and
requests for the OAuth token endpoint, against the session's emulator over HTTPS:
- consumer keys are create-only: an update, an upsert of an existing app or a deploy that carries
  the key (even unchanged, as a retrieved app does) is refused with "You cannot provide a Consumer
  Key"; a key another app holds is "already taken"; keys with underscores (connected apps) and
  base64 characters (ECA global settings) are accepted;
- an ECA is built header, OAuth settings, global OAuth settings: global settings first are refused;
  a deploy of all three in one zip saves them in that order;
- ECA global settings read back the generated key, never the secret, and the certificate only
  with the org setting `eca-certificate-readable`;
- ECA flows through the shared login host (login.salesforce.com's stand-in) answer `app_not_found`;
  a JWT for an ECA must name the My Domain as audience; ECAs refuse the username-password flow.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce

from tests.emulator_fixtures import EmulatorHandle
from tests.metadata_zip import document as _xml
from tests.metadata_zip import package as _package
from tests.metadata_zip import zip_of as _zip
from tests.support import self_signed_certificate

ORG = "orgB"
KEY_GIVEN = "You cannot provide a Consumer Key"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CERT_SETTING = "eca-certificate-readable"


def _name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def _failure(exc: BaseException) -> tuple[str, str]:
    """(statusCode, message) from simple-salesforce's "\\n<name>: (<code>, <message>), " text."""
    match = re.search(r": \((\w+), (.*)\), $", str(exc), re.S)
    assert match, str(exc)
    return match.group(1), match.group(2)


def _md(sf: Salesforce) -> Any:
    """simple-salesforce's Metadata API client (typed Any: its read() is annotated list-or-object)."""
    return sf.mdapi


def _connected_app(sf: Salesforce, name: str, **oauth: Any) -> Any:
    md = _md(sf)
    config = md.ConnectedAppOauthConfig(callbackUrl="https://example.invalid/cb", scopes=["Api"], **oauth)
    return md.ConnectedApp(fullName=name, label=name, contactEmail="ops@example.invalid", oauthConfig=config)


# -- deploy helpers (the zip layout of source-deploy-retrieve's registry) ---------------------------


def _deploy(sf: Salesforce, files: dict[str, str]) -> dict[str, Any]:
    started = sf.deploy(_zip(files), sandbox=False)
    return dict(sf.checkDeployStatus(str(started["asyncId"])))


# -- connected apps: consumer keys are create-only --------------------------------------------------


def test_a_connected_app_key_sent_back_is_refused_by_update_upsert_and_deploy(
    emulator: EmulatorHandle, sf: Salesforce, creation_allowed: None
) -> None:
    name = _name("Keyed_App")
    _md(sf).ConnectedApp.create([_connected_app(sf, name)])
    key = _md(sf).ConnectedApp.read([name]).oauthConfig.consumerKey
    assert key
    # What a read-modify-write that keeps the read key sends: refused, also though the key is unchanged.
    with pytest.raises(Exception) as updated:
        _md(sf).ConnectedApp.update([_connected_app(sf, name, consumerKey=key)])
    assert _failure(updated.value) == ("FIELD_INTEGRITY_EXCEPTION", KEY_GIVEN)
    with pytest.raises(Exception) as upserted:
        _md(sf).ConnectedApp.upsert([_connected_app(sf, name, consumerKey=key)])
    assert _failure(upserted.value) == ("FIELD_INTEGRITY_EXCEPTION", KEY_GIVEN)

    def app_file(with_key: bool) -> str:
        oauth = "<callbackUrl>https://example.invalid/cb</callbackUrl>"
        oauth += f"<consumerKey>{key}</consumerKey>" if with_key else ""
        return _xml(
            "ConnectedApp",
            f"<contactEmail>ops@example.invalid</contactEmail><label>Relabelled</label>"
            f"<oauthConfig>{oauth}<scopes>Api</scopes></oauthConfig>",
        )

    package = _package({"ConnectedApp": [name]})
    result = _deploy(sf, {"package.xml": package, f"connectedApps/{name}.connectedApp": app_file(True)})
    assert result["state"] == "Failed"
    [failure] = result["deployment_detail"]["errors"]
    assert failure["message"] == KEY_GIVEN
    assert _md(sf).ConnectedApp.read([name]).label == name  # nothing of it was saved
    # Without the key the same deploy goes through, and the app keeps its key.
    result = _deploy(sf, {"package.xml": package, f"connectedApps/{name}.connectedApp": app_file(False)})
    assert result["state"] == "Succeeded", result
    read = _md(sf).ConnectedApp.read([name])
    assert (read.label, read.oauthConfig.consumerKey) == ("Relabelled", key)


def test_connected_app_keys_with_underscores_are_accepted_and_a_taken_key_is_refused(
    sf: Salesforce, creation_allowed: None
) -> None:
    # The shape of the keys CumulusCI creates: 85 characters with underscores.
    key = ("OL_" + secrets.token_hex(41))[:85]
    assert len(key) == 85 and "_" in key
    name = _name("Underscore_App")
    _md(sf).ConnectedApp.create([_connected_app(sf, name, consumerKey=key)])
    assert _md(sf).ConnectedApp.read([name]).oauthConfig.consumerKey == key
    with pytest.raises(Exception) as taken:
        _md(sf).ConnectedApp.create([_connected_app(sf, _name("Other_App"), consumerKey=key)])
    assert _failure(taken.value) == ("DUPLICATE_VALUE", "The consumer key is already taken")
    with pytest.raises(Exception) as dashed:
        _md(sf).ConnectedApp.create([_connected_app(sf, _name("Dash_App"), consumerKey="has-a-dash-1")])
    assert _failure(dashed.value)[0] == "FIELD_INTEGRITY_EXCEPTION"


# -- External Client Apps ----------------------------------------------------------------------------


def _eca_header(sf: Salesforce) -> str:
    md, name = _md(sf), _name("Eca")
    md.ExternalClientApplication.create(
        [md.ExternalClientApplication(fullName=name, label=name, contactEmail="ops@example.invalid",
                                      distributionState="Local")]
    )  # fmt: skip
    return name


def _oauth_settings(sf: Salesforce, app: str) -> None:
    oauth = _md(sf).ExtlClntAppOauthSettings
    oauth.create([oauth(fullName=f"{app}_oauth", externalClientApplication=app, label="o",
                        commaSeparatedOauthScopes="Api")])  # fmt: skip


def _global_settings(sf: Salesforce, app: str, **fields: Any) -> Any:
    settings = _md(sf).ExtlClntAppGlobalOauthSettings
    return settings(fullName=f"{app}_glbloauth", externalClientApplication=app, label="g",
                    callbackUrl="https://example.invalid/cb", **fields)  # fmt: skip


def test_eca_global_settings_before_the_oauth_settings_are_refused(
    emulator: EmulatorHandle, sf: Salesforce
) -> None:
    app = _eca_header(sf)
    with pytest.raises(Exception) as early:
        _md(sf).ExtlClntAppGlobalOauthSettings.create([_global_settings(sf, app)])
    code, message = _failure(early.value)
    assert code == "INVALID_CROSS_REFERENCE_KEY" and "ExtlClntAppOauthSettings" in message
    assert emulator.admin.get_component(ORG, "ExtlClntAppGlobalOauthSettings", f"{app}_glbloauth") is None
    _oauth_settings(sf, app)
    _md(sf).ExtlClntAppGlobalOauthSettings.create([_global_settings(sf, app)])
    assert _md(sf).ExtlClntAppGlobalOauthSettings.read([f"{app}_glbloauth"]).consumerKey


def test_a_deploy_of_a_whole_eca_saves_the_oauth_settings_before_the_global_settings(
    emulator: EmulatorHandle, sf: Salesforce
) -> None:
    app = _name("Deployed_Eca")
    files = {
        "package.xml": _package({
            "ExternalClientApplication": [app], "ExtlClntAppGlobalOauthSettings": [f"{app}_glbloauth"],
            "ExtlClntAppOauthSettings": [f"{app}_oauth"],
        }),
        # Global settings first in the zip: the org orders them, not the file.
        f"extlClntAppGlobalOauthSets/{app}_glbloauth.ecaGlblOauth": _xml(
            "ExtlClntAppGlobalOauthSettings",
            f"<callbackUrl>https://example.invalid/cb</callbackUrl><externalClientApplication>{app}"
            "</externalClientApplication><label>g</label>",
        ),
        f"extlClntAppOauthSettings/{app}_oauth.ecaOauth": _xml(
            "ExtlClntAppOauthSettings",
            f"<commaSeparatedOauthScopes>Api</commaSeparatedOauthScopes><externalClientApplication>{app}"
            "</externalClientApplication><label>o</label>",
        ),
        f"externalClientApps/{app}.eca": _xml(
            "ExternalClientApplication",
            f"<contactEmail>ops@example.invalid</contactEmail><distributionState>Local</distributionState>"
            f"<label>{app}</label>",
        ),
    }  # fmt: skip
    result = _deploy(sf, files)
    assert result["state"] == "Succeeded", result
    assert emulator.admin.get_component(ORG, "ExtlClntAppGlobalOauthSettings", f"{app}_glbloauth")


def test_eca_global_settings_read_back_the_key_never_the_secret_and_refuse_the_key_sent_back(
    emulator: EmulatorHandle, sf: Salesforce
) -> None:
    app = _eca_header(sf)
    _oauth_settings(sf, app)
    # Keys other tools write into ECA settings are base64.
    key = "b64+Key/" + secrets.token_urlsafe(24) + "=="
    settings = _md(sf).ExtlClntAppGlobalOauthSettings
    settings.create([_global_settings(sf, app, consumerKey=key)])
    read = settings.read([f"{app}_glbloauth"])
    assert (read.consumerKey, read.consumerSecret) == (key, None)
    stored = emulator.admin.get_component(ORG, "ExtlClntAppGlobalOauthSettings", f"{app}_glbloauth")
    assert stored is not None and stored["consumerSecret"]
    with pytest.raises(Exception) as sent_back:
        settings.update([_global_settings(sf, app, consumerKey=key)])
    assert _failure(sent_back.value) == ("FIELD_INTEGRITY_EXCEPTION", KEY_GIVEN)
    settings.update([_global_settings(sf, app, isPkceRequired=False)])
    assert settings.read([f"{app}_glbloauth"]).consumerKey == key


@pytest.mark.parametrize("readable", [False, True], ids=["default: not returned", "org returns it"])
def test_eca_global_settings_certificate_reads_back_only_where_the_org_setting_says(
    emulator: EmulatorHandle, sf: Salesforce, readable: bool
) -> None:
    app = _eca_header(sf)
    _oauth_settings(sf, app)
    assert emulator.admin.settings(ORG)[CERT_SETTING] is False
    certificate = "".join(self_signed_certificate("eca-cert").pem.splitlines()[1:-1])
    _md(sf).ExtlClntAppGlobalOauthSettings.create([_global_settings(sf, app, certificate=certificate)])
    emulator.admin.set_setting(ORG, CERT_SETTING, readable)
    try:
        read = _md(sf).ExtlClntAppGlobalOauthSettings.read([f"{app}_glbloauth"])
    finally:
        emulator.admin.set_setting(ORG, CERT_SETTING, False)
    assert read.certificate == (certificate if readable else None)
    stored = emulator.admin.get_component(ORG, "ExtlClntAppGlobalOauthSettings", f"{app}_glbloauth")
    assert stored is not None and stored["certificate"] == certificate


# -- ECA OAuth flows ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eca_key_pair() -> tuple[bytes, str]:
    cert = self_signed_certificate("orglink-eca-jwt")
    return cert.key_pem.encode(), "".join(cert.pem.splitlines()[1:-1])


def _flow_eca(emulator: EmulatorHandle, certificate: str) -> tuple[str, str]:
    """An ECA with client credentials (run as the integration user) and JWT for the admin's profile."""
    name, admin = _name("Flow_Eca"), emulator.admin
    key, secret = "ECAKEY" + secrets.token_hex(16), "ECASEC" + secrets.token_hex(16)
    admin.put_component(
        ORG,
        "ExternalClientApplication",
        name,
        {"label": name, "contactEmail": "a@b.invalid", "distributionState": "Local"},
    )
    admin.put_component(
        ORG,
        "ExtlClntAppOauthSettings",
        name + "_oauth",
        {"externalClientApplication": name, "label": name, "commaSeparatedOauthScopes": "Api, RefreshToken"},
    )
    admin.put_component(
        ORG,
        "ExtlClntAppGlobalOauthSettings",
        name + "_glbloauth",
        {
            "externalClientApplication": name,
            "label": name,
            "callbackUrl": "https://localhost/cb",
            "consumerKey": key,
            "consumerSecret": secret,
            "certificate": certificate,
            "isClientCredentialsFlowEnabled": True,
        },
    )
    admin.put_component(ORG, "ExtlClntAppOauthConfigurablePolicies", name + "_oauthPlcy",
                        {"externalClientApplication": name, "label": name,
                         "isClientCredentialsFlowEnabled": True,
                         "clientCredentialsFlowUser": "integration@orgb.orglink.test",
                         "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
                         "commaSeparatedProfile": "System Administrator"})  # fmt: skip
    return key, secret


def _token(emulator: EmulatorHandle, base_url: str, form: dict[str, str]) -> requests.Response:
    url = f"{base_url}/services/oauth2/token"
    return requests.post(url, data=form, verify=emulator.ca_bundle, timeout=10)


def _error(resp: requests.Response) -> tuple[int, str, str]:
    body = resp.json()
    return resp.status_code, body["error"], body["error_description"]


def _assertion(key: bytes, iss: str, sub: str, aud: str) -> str:
    claims = {"iss": iss, "sub": sub, "aud": aud, "exp": int(time.time()) + 120}
    return jwt.encode(claims, key, algorithm="RS256")


def test_eca_flows_through_the_generic_login_host_answer_app_not_found(
    emulator: EmulatorHandle, eca_key_pair: tuple[bytes, str]
) -> None:
    private_key, certificate = eca_key_pair
    key, secret = _flow_eca(emulator, certificate)
    org = emulator.org(ORG)
    not_installed = (400, "app_not_found", "External client app is not installed in this org")
    client_credentials = {"grant_type": "client_credentials", "client_id": key, "client_secret": secret}
    assertion = _assertion(private_key, key, org["admin_username"], emulator.generic_login_url)
    jwt_form = {"grant_type": JWT_GRANT, "assertion": assertion}
    assert _error(_token(emulator, emulator.generic_login_url, client_credentials)) == not_installed
    assert _error(_token(emulator, emulator.generic_login_url, jwt_form)) == not_installed
    # The same app through its My Domain works, with the My Domain as the JWT's audience.
    assert _token(emulator, org["instance_url"], client_credentials).status_code == 200
    my_domain_jwt = _assertion(private_key, key, org["admin_username"], org["instance_url"])
    resp = _token(emulator, org["instance_url"], {"grant_type": JWT_GRANT, "assertion": my_domain_jwt})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("audience", ["https://login.salesforce.com", "https://test.salesforce.com"])
def test_an_eca_jwt_for_a_generic_login_audience_is_refused(
    emulator: EmulatorHandle, eca_key_pair: tuple[bytes, str], audience: str
) -> None:
    private_key, certificate = eca_key_pair
    key, _secret = _flow_eca(emulator, certificate)
    org = emulator.org(ORG)
    assertion = _assertion(private_key, key, org["admin_username"], audience)
    resp = _token(emulator, org["instance_url"], {"grant_type": JWT_GRANT, "assertion": assertion})
    assert _error(resp) == (400, "invalid_grant", "audience is invalid")


def test_ecas_refuse_the_username_password_flow(
    emulator: EmulatorHandle, eca_key_pair: tuple[bytes, str]
) -> None:
    key, secret = _flow_eca(emulator, eca_key_pair[1])
    org = emulator.org(ORG)
    form = {"grant_type": "password", "client_id": key, "client_secret": secret,
            "username": org["admin_username"], "password": org["admin_password"]}  # fmt: skip
    assert _error(_token(emulator, org["instance_url"], form)) == (
        400, "unsupported_grant_type", "grant type not supported",
    )  # fmt: skip
