"""Emulator process, TLS, seeded content, SOAP login and restart durability."""

from __future__ import annotations

import json
import secrets
import sqlite3
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import requests
from cryptography import x509
from simple_salesforce import SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from emulator import control
from emulator.admin import AdminClient
from emulator.store import case_safe_id
from tests.emulator_fixtures import API_VERSION, EmulatorHandle
from tests.engine import ROOT


def test_orgs_json_has_every_field_and_case_safe_org_ids(emulator: EmulatorHandle) -> None:
    assert set(emulator.orgs) == {"orgA", "orgB"}
    for alias, org in emulator.orgs.items():
        assert set(org) >= {
            "instance_url",
            "login_url",
            "token_url",
            "ca_bundle",
            "org_id",
            "my_domain",
            "admin_username",
            "admin_password",
        }
        assert org["instance_url"] == org["login_url"]
        assert org["token_url"] == org["instance_url"] + "/services/oauth2/token"
        assert org["admin_username"] == f"admin@{alias.lower()}.orglink.test"
        assert len(org["org_id"]) == 18 and org["org_id"].startswith("00D")
        assert case_safe_id(org["org_id"][:15]) == org["org_id"]
    assert emulator.orgs["orgA"]["org_id"] != emulator.orgs["orgB"]["org_id"]
    assert emulator.orgs["orgA"]["instance_url"] != emulator.orgs["orgB"]["instance_url"]


def test_start_is_idempotent(emulator: EmulatorHandle) -> None:
    pid = json.loads((emulator.state_dir / "emulator.json").read_text())["pid"]
    again = control.start(emulator.state_dir, ["orgA", "orgB"])
    assert again == emulator.orgs
    assert json.loads((emulator.state_dir / "emulator.json").read_text())["pid"] == pid


def test_cli_status_reports_running_orgs(emulator: EmulatorHandle) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "emulator", "status", "--state-dir", str(emulator.state_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    status = json.loads(out.stdout)
    assert status["running"] is True
    assert status["orgs"]["orgA"]["instance_url"] == emulator.orgs["orgA"]["instance_url"]


def test_cli_set_switches_connected_app_creation(emulator: EmulatorHandle) -> None:
    assert emulator.admin.settings("orgB")["allow-connected-app-creation"] is False  # Spring '26 default
    subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "set",
            "--state-dir",
            str(emulator.state_dir),
            "--org",
            "orgB",
            "allow-connected-app-creation",
            "true",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        assert emulator.admin.settings("orgB")["allow-connected-app-creation"] is True
    finally:
        emulator.admin.set_setting("orgB", "allow-connected-app-creation", False)


def test_tls_is_verified_against_the_emulator_ca_only(emulator: EmulatorHandle) -> None:
    url = emulator.orgs["orgA"]["instance_url"] + "/services/data/"
    with pytest.raises(requests.exceptions.SSLError):
        # A public CA store (REQUESTS_CA_BUNDLE would override verify=True) does not know the local CA.
        requests.get(url, verify=certifi.where(), timeout=5)
    assert requests.get(url, verify=emulator.ca_bundle, timeout=5).status_code == 200
    cert = x509.load_pem_x509_certificate(Path(emulator.state_dir / "tls" / "server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ctx = ssl.create_default_context(cafile=emulator.ca_bundle)
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_seeded_users_profiles_and_permission_sets(sf_login) -> None:
    sf = sf_login("orgA")
    users = sf.query("SELECT Username, IsActive, Profile.Name FROM User ORDER BY Username")["records"]
    by_name = {u["Username"]: u for u in users}
    assert by_name["admin@orga.orglink.test"]["Profile"]["Name"] == "System Administrator"
    assert (
        by_name["integration@orga.orglink.test"]["Profile"]["Name"]
        == "Minimum Access - API Only Integrations"
    )
    assert by_name["standard@orga.orglink.test"]["Profile"]["Name"] == "Standard User"
    assert by_name["inactive@orga.orglink.test"]["IsActive"] is False
    owned = sf.query("SELECT Id, Profile.Name FROM PermissionSet WHERE IsOwnedByProfile = true")["records"]
    assert {r["Profile"]["Name"] for r in owned} == {
        "System Administrator",
        "Standard User",
        "Minimum Access - API Only Integrations",
    }
    plain = sf.query("SELECT Name FROM PermissionSet WHERE IsOwnedByProfile = false")["records"]
    # Other tests share the session emulator and may add permission sets: check the seeded one is there.
    assert "Orglink_Integration_Access" in [r["Name"] for r in plain]
    api_only = sf.query(
        "SELECT PermissionsApiUserOnly FROM Profile WHERE Name = 'Minimum Access - API Only Integrations'"
    )["records"][0]
    assert api_only["PermissionsApiUserOnly"] is True


SOAP_SETTING = "soap-login-enabled"
LOGIN_DISABLED = (
    "SOAP API login() is disabled by default in this org. "
    "Contact the org administrator to enable SOAP API login()."
)


@pytest.fixture
def soap_login_enabled(emulator: EmulatorHandle) -> Iterator[None]:
    """Both orgs allow SOAP login() as an admin of an established org would (new orgs do not)."""
    for alias in emulator.orgs:
        emulator.admin.set_setting(alias, SOAP_SETTING, True)
    yield
    for alias in emulator.orgs:
        emulator.admin.set_setting(alias, SOAP_SETTING, False)


def soap_login(
    emulator: EmulatorHandle, alias: str, version: str = API_VERSION, url: str | None = None
) -> None:
    org = emulator.orgs[alias]
    SalesforceLogin(
        username=org["admin_username"],
        password=org["admin_password"],
        security_token="",
        scratch_url=url or org["login_url"],
        sf_version=version,
    )


@pytest.mark.parametrize("port", ["my_domain", "generic"])
def test_soap_login_is_refused_in_a_new_org(emulator: EmulatorHandle, port: str) -> None:
    assert emulator.admin.settings("orgA")[SOAP_SETTING] is False  # what control.start makes
    url = emulator.generic_login_url if port == "generic" else None
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        soap_login(emulator, "orgA", url=url)
    assert err.value.code == "INVALID_OPERATION"
    assert err.value.content == LOGIN_DISABLED.encode()


@pytest.mark.parametrize("version", ["65.0", "67.0"])
def test_soap_login_is_refused_from_api_65_even_where_enabled(
    emulator: EmulatorHandle, soap_login_enabled: None, version: str
) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        soap_login(emulator, "orgB", version=version)
    assert err.value.code == "INVALID_OPERATION"
    assert err.value.content == (
        f"The SOAP Login operation is not available in the API version specified ({version}). "
        "Refer to the documentation for supported versions."
    ).encode()
    soap_login(emulator, "orgB", version="64.0")  # the last version that has it


def test_jwt_login_through_the_seeded_ci_app_as_any_active_seeded_user(
    emulator: EmulatorHandle, sf_login
) -> None:
    for local in ("admin", "standard", "integration"):
        sf = sf_login("orgA", username=f"{local}@orga.orglink.test")
        who = sf.query("SELECT Username FROM User WHERE Username = '" + f"{local}@orga.orglink.test'")
        assert who["totalSize"] == 1
    with pytest.raises(AssertionError, match="invalid_grant"):
        sf_login("orgA", username="inactive@orga.orglink.test")
    app = emulator.orgs["orgA"]["login"]
    glob = emulator.admin.get_component("orgA", "ExtlClntAppGlobalOauthSettings", f"{app['app']}_glbloauth")
    assert glob is not None and glob["consumerKey"] == app["consumer_key"]


def test_start_profiles_new_org_by_default_and_established_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new, old = tmp_path / "new", tmp_path / "old"
    subprocess.run(
        [sys.executable, "-m", "emulator", "start", "--state-dir", str(new), "--orgs", "orgX"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    try:
        assert AdminClient(new).settings("orgX")[SOAP_SETTING] is False
        orgs = control.start(old, ["orgY"], profile="established")
        assert AdminClient(old).settings("orgY")[SOAP_SETTING] is True
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", orgs["orgY"]["ca_bundle"])
        session_id, _instance = SalesforceLogin(
            username=orgs["orgY"]["admin_username"], password=orgs["orgY"]["admin_password"],
            security_token="", scratch_url=orgs["orgY"]["login_url"], sf_version=API_VERSION,
        )  # fmt: skip
        assert session_id
    finally:
        control.stop(new)
        control.stop(old)


def test_soap_login_returns_full_login_result(emulator: EmulatorHandle, soap_login_enabled: None) -> None:
    org = emulator.orgs["orgA"]
    body = f"""<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>
  <n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>{org["admin_username"]}</n1:username>
  <n1:password>{org["admin_password"]}</n1:password></n1:login></env:Body></env:Envelope>"""
    resp = requests.post(
        f"{org['login_url']}/services/Soap/u/{API_VERSION}",
        data=body,
        headers={"Content-Type": "text/xml", "SOAPAction": "login"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 200
    text = resp.text
    for tag in (
        "metadataServerUrl",
        "passwordExpired",
        "sandbox",
        "serverUrl",
        "sessionId",
        "userId",
        "organizationId",
        "userName",
        "profileId",
        "userFullName",
        "userEmail",
    ):
        assert f"<{tag}>" in text, tag
    assert f"<organizationId>{org['org_id']}</organizationId>" in text
    assert f"<metadataServerUrl>{org['instance_url']}/services/Soap/m/{API_VERSION}/" in text


def test_soap_login_with_simple_salesforce(emulator: EmulatorHandle, soap_login_enabled: None) -> None:
    org = emulator.orgs["orgB"]
    session_id, instance = SalesforceLogin(
        username=org["admin_username"],
        password=org["admin_password"],
        security_token="",
        scratch_url=org["login_url"],
        sf_version=API_VERSION,
    )
    assert session_id.startswith(org["org_id"][:15] + "!")
    assert instance == org["instance_url"].removeprefix("https://")


@pytest.mark.parametrize("who", ["wrong-password", "inactive", "unknown"])
def test_soap_login_fault_for_bad_credentials_and_inactive_user(
    emulator: EmulatorHandle, soap_login_enabled: None, who: str
) -> None:
    org = emulator.orgs["orgA"]
    username = {
        "wrong-password": org["admin_username"],
        "inactive": "inactive@orga.orglink.test",
        "unknown": "nobody@orga.orglink.test",
    }[who]
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        SalesforceLogin(
            username=username,
            password="nope" if who == "wrong-password" else org["admin_password"],
            security_token="",
            scratch_url=org["login_url"],
            sf_version=API_VERSION,
        )
    assert err.value.code == "INVALID_LOGIN"
    assert err.value.content == b"Invalid username, password, security token; or user locked out."


def test_soap_login_on_generic_login_port_routes_to_the_users_org(
    emulator: EmulatorHandle, soap_login_enabled: None
) -> None:
    org = emulator.orgs["orgB"]
    session_id, instance = SalesforceLogin(
        username=org["admin_username"],
        password=org["admin_password"],
        security_token="",
        scratch_url=emulator.generic_login_url,
        sf_version=API_VERSION,
    )
    assert instance == org["instance_url"].removeprefix("https://")


def test_restart_keeps_components_records_settings_sessions_and_ports(
    emulator: EmulatorHandle, sf_login, connected_app
) -> None:
    app = connected_app("orgB")
    sf = sf_login("orgB")
    ps = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'Orglink_Integration_Access'")["records"][0][
        "Id"
    ]
    cap = sf.query(f"SELECT Id FROM ConnectedApplication WHERE Name = '{app.name}'")["records"][0]["Id"]
    sea = sf.SetupEntityAccess.create({"ParentId": ps, "SetupEntityId": cap})["id"]
    emulator.admin.set_setting("orgB", "enable-client-secret-in-rest-api", True)
    before = emulator.admin.snapshot("orgB")
    urls = dict(emulator.orgs)

    emulator.restart()

    assert emulator.orgs == urls
    after = emulator.admin.snapshot("orgB")
    assert after == before
    assert (
        after["components"]["ConnectedApp"][app.name]["oauthConfig"]["consumerSecret"] == app.consumer_secret
    )
    # The session issued before the restart still works.
    assert sf.SetupEntityAccess.get(sea)["SetupEntityType"] == "ConnectedApplication"
    emulator.admin.set_setting("orgB", "enable-client-secret-in-rest-api", False)
    sf.SetupEntityAccess.delete(sea)


def test_no_secret_value_in_plain_text_in_any_file_of_the_state_dir(
    emulator: EmulatorHandle, sf_login, connected_app
) -> None:
    app = connected_app("orgB")  # its consumer secret, stored as an org stores it
    sf = sf_login("orgA")
    principal_secret = "PrincipalSecret" + secrets.token_hex(12)
    ext = "Ext_" + secrets.token_hex(4)
    emulator.admin.put_component("orgA", "ExternalCredential", ext, {
        "label": ext, "authenticationProtocol": "Oauth", "externalCredentialParameters": [
            {"parameterName": "Oauth", "parameterType": "AuthProtocolVariant",
             "parameterValue": "ClientCredentialsClientSecret"},
            {"parameterName": "AuthProviderUrl", "parameterType": "AuthProviderUrl",
             "parameterValue": "https://127.0.0.1:1/services/oauth2/token"},
            {"parameterName": "OrgB", "parameterType": "NamedPrincipal", "sequenceNumber": 1}]})  # fmt: skip
    created = requests.post(
        f"{emulator.orgs['orgA']['instance_url']}/services/data/v{API_VERSION}/named-credentials/credential",
        json={"externalCredential": ext, "principalName": "OrgB", "principalType": "NamedPrincipal",
              "authenticationProtocol": "OAuth",
              "authenticationProtocolVariant": "ClientCredentialsClientSecret",
              "credentials": {"clientId": {"value": "client-id", "encrypted": False},
                              "clientSecret": {"value": principal_secret, "encrypted": True}}},
        headers={"Authorization": f"Bearer {sf.session_id}"}, verify=emulator.ca_bundle, timeout=30,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    org_b = emulator.orgs["orgB"]
    login_key = org_b["login"]["consumer_key"]
    refresh = emulator.admin.issue_refresh_token("orgB", login_key, org_b["admin_username"])
    wanted = {
        "consumer secret": app.consumer_secret,
        "principal secret": principal_secret,
        "access token": str(sf.session_id),
        "refresh token": refresh,
        **{f"{a} admin password": o["admin_password"] for a, o in emulator.orgs.items()},
        **{
            f"{a} login key line {i}": line
            for a, o in emulator.orgs.items()
            for i, line in enumerate(o["login"]["private_key"].splitlines())
            if line and "-----" not in line
        },
    }
    files = [p for p in emulator.state_dir.rglob("*") if p.is_file()]
    assert {"orgA.sqlite", "orgA.sqlite-wal", "orgs.json", "secrets.key"} <= {p.name for p in files}
    for path in files:
        text = path.read_bytes().decode("latin-1")
        assert [name for name, value in wanted.items() if value in text] == [], path.name
    assert b"ENCRYPTED PRIVATE KEY" in (emulator.state_dir / "tls" / "server-key.pem").read_bytes()
    # The admin side still hands back what the org holds, for tests to compare.
    held = emulator.admin.get_component("orgB", "ConnectedApp", app.name)
    assert held is not None and held["oauthConfig"]["consumerSecret"] == app.consumer_secret


def test_a_state_dir_from_before_sealing_is_sealed_when_opened(tmp_path: Path) -> None:
    """What an older emulator left in plain text (a component body, a raw token, the password) is
    sealed, and no freed page keeps it, once this emulator opens the state dir."""
    state = tmp_path / "old"
    control.start(state, ["orgX"])
    control.stop(state)
    plain_secret, plain_password = "LegacySecret" + secrets.token_hex(8), "Legacy-Pw-4711"
    raw_token = "00D" + "x" * 70
    oauth = {"consumerKey": "LEGACYKEY0001", "consumerSecret": plain_secret}
    body = {"label": "Legacy", "oauthConfig": oauth}
    with sqlite3.connect(state / "orgX.sqlite") as db:  # as the older emulator wrote them
        db.execute("INSERT INTO components VALUES ('ConnectedApp', 'Legacy_App', ?)", (json.dumps(body),))
        db.execute(
            "INSERT INTO tokens (token, kind, user_id, created) VALUES (?, 'access', 'u', 0)", (raw_token,)
        )
        db.execute("UPDATE meta SET value = ? WHERE name = 'admin_password'", (plain_password,))
        db.execute("DELETE FROM meta WHERE name = 'sealed_at_rest'")
    try:
        orgs = control.start(state, ["orgX"])
        held = AdminClient(state).get_component("orgX", "ConnectedApp", "Legacy_App")
        assert held is not None and held["oauthConfig"]["consumerSecret"] == plain_secret
        assert orgs["orgX"]["admin_password"] == plain_password
        for path in (p for p in state.rglob("*") if p.is_file()):
            text = path.read_bytes().decode("latin-1")
            leaked = [value for value in (plain_secret, plain_password, raw_token) if value in text]
            assert leaked == [], path.name
    finally:
        control.stop(state)
