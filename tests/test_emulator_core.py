"""Emulator process, TLS, seeded content, SOAP login and restart durability."""

from __future__ import annotations

import json
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

ROOT = Path(__file__).resolve().parent.parent


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
