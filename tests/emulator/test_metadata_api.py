"""Metadata API of the emulator, driven through unmodified simple-salesforce (and zeep) over HTTPS.

Each test names one documented behaviour. The `emulator`
fixture is session-scoped and shared, so every test uses names of its own (`_name`) and puts back
any org setting it changes.

How simple-salesforce reports failures, asserted in `test_error_surface`:
- a per-component failure raises a bare `Exception` whose text is
  "\\n<fullName>: (<statusCode>, <message>), ";
- a SOAP fault raises `zeep.exceptions.Fault` with `.message` (the faultstring) and `.code`.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import zeep
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce

from tests.emulator_fixtures import CREATION_SETTING

API_VERSION = "63.0"
MD_NS = "http://soap.sforce.com/2006/04/metadata"


# -- helpers -------------------------------------------------------------------------------------


def _name(prefix: str = "App") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _user(info: dict[str, Any], local: str) -> str:
    """Seeded username in the same org as the admin (e.g. integration@orgb.orglink.test)."""
    return local + "@" + info["admin_username"].split("@", 1)[1]


class Org:
    """One org as a test sees it: a logged-in simple-salesforce client plus the admin side."""

    def __init__(self, emulator: Any, alias: str) -> None:
        self.alias = alias
        self.info = emulator.orgs[alias]
        self.admin = emulator.admin
        # SOAP login as the seeded admin; the fixture points REQUESTS_CA_BUNDLE at the emulator's CA.
        self.sf: Salesforce = emulator.login(alias)
        self.session_id = self.sf.session_id
        # Typed Any: simple-salesforce annotates read() as list-or-object and delete() as taking dicts.
        self.md: Any = self.sf.mdapi
        self.metadata_url = f"{self.info['instance_url']}/services/Soap/m/{API_VERSION}/"

    def user(self, local: str) -> str:
        return _user(self.info, local)

    def stored(self, mtype: str, name: str) -> dict[str, Any]:
        """The component as the org keeps it, secrets included (admin side)."""
        component = self.admin.get_component(self.alias, mtype, name)
        assert component is not None, f"{mtype} {name} is not stored"
        return dict(component)

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.admin.snapshot(self.alias)["records"].get(sobject, []))

    def raw(self, body_xml: str, extra_ns: str = "") -> requests.Response:
        """POST a hand-written Metadata API envelope (for what zeep refuses to send)."""
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" {extra_ns}>'
            f'<soapenv:Header><SessionHeader xmlns="{MD_NS}"><sessionId>{self.session_id}</sessionId>'
            f"</SessionHeader></soapenv:Header><soapenv:Body>{body_xml}</soapenv:Body></soapenv:Envelope>"
        )
        return requests.post(
            self.metadata_url,
            data=envelope.encode(),
            headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'},
            verify=self.info["ca_bundle"],
            timeout=10,
        )

    def service(self) -> Any:
        """The zeep service simple-salesforce uses, for results it does not hand back (upsert's created)."""
        return self.md._service  # noqa: SLF001 - the same object simple-salesforce calls

    def header(self) -> Any:
        return self.md._session_header  # noqa: SLF001

    def allow_connected_apps(self, allowed: bool) -> None:
        self.admin.set_setting(self.alias, CREATION_SETTING, allowed)


@pytest.fixture(scope="session")
def org_b(emulator: Any) -> Org:
    return Org(emulator, sorted(emulator.orgs)[-1])


@pytest.fixture(scope="session")
def org_a(emulator: Any) -> Org:
    return Org(emulator, sorted(emulator.orgs)[0])


@pytest.fixture
def ca_allowed(org_b: Org) -> Iterator[Org]:
    """orgB with connected app creation switched on (off by default, as in Spring '26 orgs)."""
    org_b.allow_connected_apps(True)
    yield org_b
    org_b.allow_connected_apps(False)


def _connected_app(org: Org, name: str, **overrides: Any) -> Any:
    md = org.md
    oauth = {"callbackUrl": "https://example.invalid/cb", "scopes": ["Api", "RefreshToken"]}
    oauth.update(overrides.pop("oauth", {}))
    fields: dict[str, Any] = {
        "fullName": name,
        "label": name.replace("_", " "),
        "contactEmail": "ops@example.invalid",
        "oauthConfig": md.ConnectedAppOauthConfig(**oauth),
        "oauthPolicy": md.ConnectedAppOauthPolicy(ipRelaxation="ENFORCE", refreshTokenPolicy="infinite"),
    }
    fields.update(overrides)
    return md.ConnectedApp(**fields)


def _failure(exc: BaseException) -> tuple[str, str]:
    """(statusCode, message) from simple-salesforce's "\\n<name>: (<code>, <message>), " text."""
    match = re.search(r": \((\w+), (.*)\), $", str(exc), re.S)
    assert match, str(exc)
    return match.group(1), match.group(2)


# -- ConnectedApp CRUD -----------------------------------------------------------------------------


def test_connected_app_create_read_update_delete(ca_allowed: Org) -> None:
    org = ca_allowed
    name = _name()
    org.md.ConnectedApp.create([_connected_app(org, name, description="first")])

    app = org.md.ConnectedApp.read([name])
    assert app.fullName == name
    assert app.label == name.replace("_", " ")
    assert app.oauthConfig.callbackUrl == "https://example.invalid/cb"
    assert app.oauthConfig.scopes == ["Api", "RefreshToken"]
    assert app.oauthPolicy.ipRelaxation == "ENFORCE"
    assert app.description == "first"
    # Generated when omitted: key returned, secret never.
    assert re.fullmatch(r"[A-Za-z0-9]{8,256}", app.oauthConfig.consumerKey)
    assert app.oauthConfig.consumerSecret is None
    stored = org.stored("ConnectedApp", name)
    assert stored is not None
    assert re.fullmatch(r"[A-Za-z0-9]{8,256}", stored["oauthConfig"]["consumerSecret"])

    records = [r for r in org.records("ConnectedApplication") if r["Name"] == app.label]
    assert len(records) == 1 and records[0]["Id"].startswith("0H4") and len(records[0]["Id"]) == 18

    # Update replaces the whole component: the description left out is reset.
    org.md.ConnectedApp.update([_connected_app(org, name, label="Renamed label")])
    app = org.md.ConnectedApp.read([name])
    assert app.description is None
    assert app.label == "Renamed label"
    assert [r["Name"] for r in org.records("ConnectedApplication") if r["Id"] == records[0]["Id"]] == [
        "Renamed label"
    ]
    # Key and secret survive an update that leaves them out.
    assert app.oauthConfig.consumerKey == stored["oauthConfig"]["consumerKey"]
    assert (
        org.stored("ConnectedApp", name)["oauthConfig"]["consumerSecret"]
        == stored["oauthConfig"]["consumerSecret"]
    )

    org.md.ConnectedApp.delete([name])
    assert org.md.ConnectedApp.read([name]).fullName is None
    assert not [r for r in org.records("ConnectedApplication") if r["Id"] == records[0]["Id"]]


def test_read_missing_name_is_a_nil_record(org_b: Org) -> None:
    missing = org_b.md.ConnectedApp.read([_name("Missing")])
    assert missing.fullName is None
    raw = org_b.raw(
        f'<readMetadata xmlns="{MD_NS}"><type>ConnectedApp</type><fullNames>Nope_x</fullNames></readMetadata>'
    )
    assert raw.status_code == 200
    assert 'xsi:nil="true"' in raw.text
    assert "<result/>" not in raw.text


def test_read_records_carry_xsi_type(ca_allowed: Org) -> None:
    name = _name()
    ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, name)])
    raw = ca_allowed.raw(
        f'<readMetadata xmlns="{MD_NS}"><type>ConnectedApp</type><fullNames>{name}</fullNames></readMetadata>'
    )
    assert raw.status_code == 200
    assert re.search(r'<records xsi:type="ConnectedApp">', raw.text)
    assert "consumerSecret" not in raw.text
    both = ca_allowed.md.ConnectedApp.read([name, _name("Missing")])
    assert [r.fullName if r is not None else None for r in both] == [name, None]


def test_delete_removes_setup_entity_access_and_rename_keeps_record(ca_allowed: Org) -> None:
    org = ca_allowed
    name = _name()
    org.md.ConnectedApp.create([_connected_app(org, name, oauth={"isAdminApproved": True})])
    record = next(r for r in org.records("ConnectedApplication") if r["Name"] == name.replace("_", " "))
    owned = next(r for r in org.records("PermissionSet") if r.get("IsOwnedByProfile"))
    snapshot_before = len(org.records("SetupEntityAccess"))
    setup_entity_access: Any = org.sf.SetupEntityAccess  # REST sObject (typed as a union of bulk types)
    setup_entity_access.create({"ParentId": owned["Id"], "SetupEntityId": record["Id"]})
    assert len(org.records("SetupEntityAccess")) == snapshot_before + 1

    new_name = _name()
    org.md.ConnectedApp.rename(name, new_name)
    assert org.md.ConnectedApp.read([name]).fullName is None
    assert org.md.ConnectedApp.read([new_name]).fullName == new_name
    assert any(r["Id"] == record["Id"] for r in org.records("ConnectedApplication"))

    org.md.ConnectedApp.delete([new_name])
    assert not any(r["Id"] == record["Id"] for r in org.records("ConnectedApplication"))
    assert not any(r.get("SetupEntityId") == record["Id"] for r in org.records("SetupEntityAccess"))


def test_rename_to_existing_name_is_duplicate(ca_allowed: Org) -> None:
    first, second = _name(), _name()
    ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, first), _connected_app(ca_allowed, second)])
    with pytest.raises(Exception) as info:
        ca_allowed.md.ConnectedApp.rename(first, second)
    assert _failure(info.value)[0] == "DUPLICATE_VALUE"


def test_create_existing_name_is_duplicate_value(ca_allowed: Org) -> None:
    name = _name()
    ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, name)])
    with pytest.raises(Exception) as info:
        ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, name)])
    code, message = _failure(info.value)
    assert code == "DUPLICATE_VALUE"
    assert message.startswith("duplicate value found")


def test_update_and_delete_of_missing_name_fail(org_b: Org) -> None:
    name = _name("Missing")
    with pytest.raises(Exception) as info:
        org_b.md.ConnectedApp.update([_connected_app(org_b, name)])
    assert _failure(info.value) == (
        "INVALID_CROSS_REFERENCE_KEY",
        f"In field: fullName - no ConnectedApp named {name} found",
    )
    with pytest.raises(Exception) as info:
        org_b.md.ConnectedApp.delete([name])
    assert _failure(info.value)[0] == "INVALID_CROSS_REFERENCE_KEY"


def test_upsert_creates_then_updates(ca_allowed: Org) -> None:
    org = ca_allowed
    name = _name()
    first = org.service().upsertMetadata([_connected_app(org, name)], _soapheaders=[org.header()])
    assert (first[0].created, first[0].success) == (True, True)
    second = org.service().upsertMetadata(
        [_connected_app(org, name, description="second")], _soapheaders=[org.header()]
    )
    assert (second[0].created, second[0].success) == (False, True)
    assert org.md.ConnectedApp.read([name]).description == "second"
    org.md.ConnectedApp.upsert([_connected_app(org, name, description="third")])
    assert org.md.ConnectedApp.read([name]).description == "third"


# -- connected app creation switched off -----------------------------------------------------------


def test_connected_app_creation_off_by_default(org_b: Org) -> None:
    org_b.allow_connected_apps(True)
    existing = _name()
    org_b.md.ConnectedApp.create([_connected_app(org_b, existing)])
    org_b.allow_connected_apps(False)

    for call in (org_b.md.ConnectedApp.create, org_b.md.ConnectedApp.upsert):
        with pytest.raises(Exception) as info:
            call([_connected_app(org_b, _name())])
        code, message = _failure(info.value)
        assert code == "INSUFFICIENT_ACCESS"
        assert "can't be created in this org" in message and "Salesforce Support" in message

    # Existing apps can still be changed and deleted.
    org_b.md.ConnectedApp.update([_connected_app(org_b, existing, description="edited")])
    org_b.md.ConnectedApp.upsert([_connected_app(org_b, existing, description="edited again")])
    assert org_b.md.ConnectedApp.read([existing]).description == "edited again"
    org_b.md.ConnectedApp.delete([existing])


# -- consumer key and secret -------------------------------------------------------------------------


def test_consumer_key_and_secret_supplied_on_create(ca_allowed: Org) -> None:
    org = ca_allowed
    name = _name()
    key = "K" + uuid.uuid4().hex
    secret = "S" + uuid.uuid4().hex
    org.md.ConnectedApp.create(
        [_connected_app(org, name, oauth={"consumerKey": key, "consumerSecret": secret})]
    )
    app = org.md.ConnectedApp.read([name])
    assert app.oauthConfig.consumerKey == key
    assert app.oauthConfig.consumerSecret is None
    assert org.stored("ConnectedApp", name)["oauthConfig"]["consumerSecret"] == secret

    # Create-only: an update without them keeps them; one that carries them (even the same key, as
    # a retrieved app does) is refused.
    org.md.ConnectedApp.update([_connected_app(org, name)])
    other_key = "Other" + uuid.uuid4().hex
    for oauth in ({"consumerKey": key}, {"consumerKey": other_key}, {"consumerSecret": secret}):
        with pytest.raises(Exception) as info:
            org.md.ConnectedApp.update([_connected_app(org, name, oauth=oauth)])
        code, message = _failure(info.value)
        assert code == "FIELD_INTEGRITY_EXCEPTION" and message.startswith("You cannot provide a Consumer")
    assert org.md.ConnectedApp.read([name]).oauthConfig.consumerKey == key
    assert org.stored("ConnectedApp", name)["oauthConfig"]["consumerSecret"] == secret


@pytest.mark.parametrize("field", ["consumerKey", "consumerSecret"])
@pytest.mark.parametrize("value", ["short7x", "has-dash-1234", "x" * 257])
def test_consumer_values_must_be_8_to_256_alphanumeric(ca_allowed: Org, field: str, value: str) -> None:
    with pytest.raises(Exception) as info:
        ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, _name(), oauth={field: value})])
    assert _failure(info.value)[0] == "FIELD_INTEGRITY_EXCEPTION"


def test_consumer_key_unique_across_orgs(ca_allowed: Org, org_a: Org) -> None:
    key = "Shared" + uuid.uuid4().hex
    org_a.allow_connected_apps(True)
    try:
        org_a.md.ConnectedApp.create([_connected_app(org_a, _name(), oauth={"consumerKey": key})])
    finally:
        org_a.allow_connected_apps(False)
    with pytest.raises(Exception) as info:
        ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, _name(), oauth={"consumerKey": key})])
    assert _failure(info.value) == ("DUPLICATE_VALUE", "The consumer key is already taken")


# -- cross references and flags -------------------------------------------------------------------------


def test_unknown_profile_and_permission_set(ca_allowed: Org) -> None:
    org = ca_allowed
    with pytest.raises(Exception) as info:
        org.md.ConnectedApp.create(
            [_connected_app(org, _name(), oauth={"isAdminApproved": True}, profileName=["No Such Profile"])]
        )
    assert _failure(info.value) == (
        "INVALID_CROSS_REFERENCE_KEY",
        "In field: profileName - no Profile named No Such Profile found",
    )
    with pytest.raises(Exception) as info:
        org.md.ConnectedApp.create(
            [_connected_app(org, _name(), oauth={"isAdminApproved": True}, permissionSetName=["No_Such_PS"])]
        )
    assert _failure(info.value)[0] == "INVALID_CROSS_REFERENCE_KEY"
    assert "permissionSetName" in _failure(info.value)[1]

    name = _name()
    org.md.ConnectedApp.create(
        [
            _connected_app(
                org,
                name,
                oauth={"isAdminApproved": True},
                profileName=["System Administrator"],
                permissionSetName=["Orglink_Integration_Access"],
            )
        ]
    )
    app = org.md.ConnectedApp.read([name])
    assert app.profileName == ["System Administrator"]
    assert app.permissionSetName == ["Orglink_Integration_Access"]


def test_profiles_need_admin_approved(ca_allowed: Org) -> None:
    with pytest.raises(Exception) as info:
        ca_allowed.md.ConnectedApp.create(
            [_connected_app(ca_allowed, _name(), profileName=["System Administrator"])]
        )
    code, message = _failure(info.value)
    assert code == "FIELD_INTEGRITY_EXCEPTION" and "isAdminApproved" in message


def test_client_credentials_run_as_user(ca_allowed: Org) -> None:
    org = ca_allowed
    with pytest.raises(Exception) as info:
        org.md.ConnectedApp.create([_connected_app(org, _name(), oauth={"isClientCredentialEnabled": True})])
    code, message = _failure(info.value)
    assert code == "REQUIRED_FIELD_MISSING" and "oauthClientCredentialUser" in message

    for bad in (org.user("inactive"), "integration@example.invalid", "No Such User"):
        with pytest.raises(Exception) as info:
            org.md.ConnectedApp.create(
                [
                    _connected_app(
                        org,
                        _name(),
                        oauth={"isClientCredentialEnabled": True, "oauthClientCredentialUser": bad},
                    )
                ]
            )
        code, message = _failure(info.value)
        assert code == "INVALID_CROSS_REFERENCE_KEY" and "oauthClientCredentialUser" in message

    name = _name()
    user = org.user("integration")
    org.md.ConnectedApp.create(
        [
            _connected_app(
                org, name, oauth={"isClientCredentialEnabled": True, "oauthClientCredentialUser": user}
            )
        ]
    )
    assert org.md.ConnectedApp.read([name]).oauthConfig.oauthClientCredentialUser == user


def test_scopes_normalised_on_read(ca_allowed: Org) -> None:
    name = _name()
    scopes = ["Api", "Profile", "Email", "OfflineAccess", "RefreshToken", "Phone"]
    ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, name, oauth={"scopes": scopes})])
    assert ca_allowed.md.ConnectedApp.read([name]).oauthConfig.scopes == ["Api", "Basic", "RefreshToken"]


def test_certificate_field_kept_as_base64_body(ca_allowed: Org) -> None:
    name = _name()
    pem = "-----BEGIN CERTIFICATE-----\nMIIBabc\ndef==\n-----END CERTIFICATE-----\n"
    ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, name, oauth={"certificate": pem})])
    assert ca_allowed.md.ConnectedApp.read([name]).oauthConfig.certificate == "MIIBabcdef=="


# -- schema validation --------------------------------------------------------------------------------


def test_missing_required_field(ca_allowed: Org) -> None:
    # zeep refuses to send a component without its required elements, so these go out by hand.
    def create(inner: str) -> requests.Response:
        return ca_allowed.raw(
            f'<createMetadata xmlns="{MD_NS}"><metadata xsi:type="ConnectedApp">'
            f"<fullName>{_name()}</fullName>"
            f"<contactEmail>a@b.c</contactEmail>{inner}</metadata></createMetadata>"
        )

    resp = create("<oauthConfig><callbackUrl>https://x.invalid</callbackUrl></oauthConfig>")
    assert resp.status_code == 200
    assert "<fields>label</fields><message>Required field is missing: label</message>" in resp.text
    assert "<statusCode>REQUIRED_FIELD_MISSING</statusCode>" in resp.text

    resp = create("<label>L</label><oauthConfig><isAdminApproved>true</isAdminApproved></oauthConfig>")
    assert "<message>Required field is missing: callbackUrl</message>" in resp.text


def test_bad_enum_value_is_a_fault(org_b: Org) -> None:
    app = _connected_app(org_b, _name(), oauth={"scopes": ["Api", "Everything"]})
    with pytest.raises(zeep.exceptions.Fault) as info:
        org_b.md.ConnectedApp.create([app])
    assert (
        info.value.message == "'Everything' is not a valid value for the enum 'ConnectedAppOauthAccessScope'"
    )


def test_string_typed_enums_are_checked(ca_allowed: Org) -> None:
    app = _connected_app(ca_allowed, _name())
    app.oauthPolicy.ipRelaxation = "SOMETIMES"
    with pytest.raises(Exception) as info:
        ca_allowed.md.ConnectedApp.create([app])
    assert "'SOMETIMES' is not a valid value for the enum" in _failure(info.value)[1]


def test_unknown_element_is_invalid_field_fault(org_b: Org) -> None:
    resp = org_b.raw(
        f'<createMetadata xmlns="{MD_NS}"><metadata xsi:type="ConnectedApp"><fullName>X_1</fullName>'
        "<label>X</label><contactEmail>a@b.c</contactEmail><colour>blue</colour></metadata></createMetadata>"
    )
    assert resp.status_code == 500
    assert "<faultcode>sf:INVALID_FIELD</faultcode>" in resp.text
    assert "colour invalid at this location in type ConnectedApp" in resp.text


def test_xsi_type_prefix_resolved_through_namespaces(ca_allowed: Org) -> None:
    name = _name()
    # The type's prefix is declared on the Envelope and is not "ns0" nor the default namespace.
    resp = ca_allowed.raw(
        f'<m:createMetadata xmlns:m="{MD_NS}"><m:metadata xsi:type="meta:ConnectedApp">'
        f"<m:fullName>{name}</m:fullName><m:contactEmail>a@b.c</m:contactEmail><m:label>L</m:label>"
        "<m:oauthConfig><m:callbackUrl>https://x.invalid</m:callbackUrl></m:oauthConfig>"
        "</m:metadata></m:createMetadata>",
        extra_ns=f'xmlns:meta="{MD_NS}"',
    )
    assert resp.status_code == 200, resp.text
    assert "<success>true</success>" in resp.text
    # The same prefix text bound to another namespace is not a metadata type.
    resp = ca_allowed.raw(
        f'<createMetadata xmlns="{MD_NS}"><metadata xsi:type="meta:ConnectedApp" xmlns:meta="urn:other">'
        f"<fullName>{_name()}</fullName></metadata></createMetadata>"
    )
    assert resp.status_code == 500 and "INVALID_TYPE" in resp.text


def test_more_than_ten_components_is_refused(ca_allowed: Org) -> None:
    apps = [_connected_app(ca_allowed, _name()) for _ in range(11)]
    with pytest.raises(zeep.exceptions.Fault) as info:
        ca_allowed.md.ConnectedApp.create(apps)
    assert info.value.code == "sf:EXCEEDED_ID_LIMIT"
    assert "cannot submit more than 10" in info.value.message
    assert ca_allowed.md.ConnectedApp.read([apps[0].fullName]).fullName is None


def test_error_surface(ca_allowed: Org) -> None:
    """Codes and messages reach the client intact, both as raised by simple-salesforce and from zeep."""
    name = _name()
    ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, name)])
    with pytest.raises(Exception) as info:
        ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, name)])
    assert str(info.value).startswith(f"\n{name}: (DUPLICATE_VALUE, duplicate value found")
    assert str(info.value).endswith("), ")
    results = ca_allowed.service().createMetadata(
        [_connected_app(ca_allowed, name)], _soapheaders=[ca_allowed.header()]
    )
    assert results[0].success is False
    assert results[0].errors[0].statusCode == "DUPLICATE_VALUE"
    assert results[0].errors[0].fields == ["fullName"]


def test_list_metadata_and_describe(ca_allowed: Org) -> None:
    name = _name()
    ca_allowed.md.ConnectedApp.create([_connected_app(ca_allowed, name)])
    listed = ca_allowed.md.list_metadata([ca_allowed.md.ListMetadataQuery(type="ConnectedApp")])
    mine = [p for p in listed if p.fullName == name]
    assert len(mine) == 1
    assert mine[0].fileName == f"connectedApps/{name}.connectedApp"
    assert mine[0].type == "ConnectedApp" and mine[0].id.startswith("0H4")
    described = ca_allowed.md.ConnectedApp.describe()
    assert {f.name for f in described.valueTypeFields} >= {"fullName", "label", "oauthConfig"}


def test_concurrent_creates_of_one_name(ca_allowed: Org, emulator: Any) -> None:
    name = _name()
    outcomes: list[str] = []

    def create() -> None:
        client = Org(emulator, ca_allowed.alias)
        try:
            client.md.ConnectedApp.create([_connected_app(client, name)])
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - the loser's error is the point of the test
            outcomes.append(_failure(exc)[0])

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["DUPLICATE_VALUE"] * 3 + ["ok"]
    assert (
        len([r for r in ca_allowed.records("ConnectedApplication") if r["Name"] == name.replace("_", " ")])
        == 1
    )


# -- External Client Apps ---------------------------------------------------------------------------------


def _eca(org: Org) -> str:
    name = _name("Eca")
    md = org.md
    md.ExternalClientApplication.create(
        [
            md.ExternalClientApplication(
                fullName=name, label=name, contactEmail="ops@example.invalid", distributionState="Local"
            )
        ]
    )
    return name


def _eca_oauth_settings(org: Org, app: str) -> None:
    """The OAuth settings an app needs before its global OAuth settings."""
    oauth = org.md.ExtlClntAppOauthSettings
    oauth.create([oauth(fullName=f"{app}_oauth", externalClientApplication=app, label="o",
                        commaSeparatedOauthScopes="Api")])  # fmt: skip


def test_eca_header_creates_record_and_policies(org_b: Org) -> None:
    name = _eca(org_b)
    records = [r for r in org_b.records("ExternalClientApplication") if r["DeveloperName"] == name]
    assert len(records) == 1 and records[0]["Id"].startswith("0xI")
    md = org_b.md
    listed = md.list_metadata(
        [
            md.ListMetadataQuery(type="ExtlClntAppOauthConfigurablePolicies"),
            md.ListMetadataQuery(type="ExtlClntAppConfigurablePolicies"),
        ]
    )
    names = {(p.type, p.fullName) for p in listed}
    assert ("ExtlClntAppOauthConfigurablePolicies", f"{name}_oauthPlcy") in names
    assert ("ExtlClntAppConfigurablePolicies", f"{name}_plcy") in names
    policy = md.ExtlClntAppOauthConfigurablePolicies.read([f"{name}_oauthPlcy"])
    assert policy.externalClientApplication == name
    assert policy.permittedUsersPolicyType == "AllSelfAuthorized"

    md.ExternalClientApplication.delete([name])
    assert not [r for r in org_b.records("ExternalClientApplication") if r["DeveloperName"] == name]
    assert md.ExtlClntAppOauthConfigurablePolicies.read([f"{name}_oauthPlcy"]).fullName is None


def test_eca_part_naming_missing_app(org_b: Org) -> None:
    md = org_b.md
    with pytest.raises(Exception) as info:
        md.ExtlClntAppGlobalOauthSettings.create(
            [
                md.ExtlClntAppGlobalOauthSettings(
                    fullName=_name("G"), externalClientApplication="No_Such_App", label="g"
                )
            ]
        )
    assert _failure(info.value) == (
        "INVALID_CROSS_REFERENCE_KEY",
        "In field: externalClientApplication - no ExternalClientApplication named No_Such_App found",
    )


def test_eca_global_oauth_settings(org_b: Org) -> None:
    md = org_b.md
    app = _eca(org_b)
    name = f"{app}_glbloauth"
    _eca_oauth_settings(org_b, app)
    settings = md.ExtlClntAppGlobalOauthSettings
    settings.create(
        [
            settings(
                fullName=name,
                externalClientApplication=app,
                label="g",
                callbackUrl="https://x.invalid/cb",
                certificate="MIIBcert",
                isClientCredentialsFlowEnabled=True,
            )
        ]
    )
    stored = org_b.stored("ExtlClntAppGlobalOauthSettings", name)
    assert re.fullmatch(r"[A-Za-z0-9]{8,256}", stored["consumerKey"])
    assert re.fullmatch(r"[A-Za-z0-9]{8,256}", stored["consumerSecret"])
    assert stored["certificate"] == "MIIBcert"
    # The generated key reads back, the secret never, the certificate not by default.
    read = settings.read([name])
    assert read.consumerKey == stored["consumerKey"] and read.consumerSecret is None
    assert read.certificate is None

    # A deploy without the certificate clears it; key and secret stay.
    settings.update(
        [
            settings(
                fullName=name, externalClientApplication=app, label="g", callbackUrl="https://x.invalid/cb"
            )
        ]
    )
    again = org_b.stored("ExtlClntAppGlobalOauthSettings", name)
    assert "certificate" not in again
    assert (again["consumerKey"], again["consumerSecret"]) == (
        stored["consumerKey"],
        stored["consumerSecret"],
    )


def test_eca_oauth_settings_oauth_link(org_b: Org, org_a: Org) -> None:
    app = _eca(org_b)
    oauth = org_b.md.ExtlClntAppOauthSettings
    name = f"{app}_oauth"
    oauth.create(
        [
            oauth(
                fullName=name,
                externalClientApplication=app,
                label="o",
                commaSeparatedOauthScopes="Api, RefreshToken, OfflineAccess",
            )
        ]
    )
    read = oauth.read([name])
    assert read.oauthLink
    assert read.commaSeparatedOauthScopes == "Api, RefreshToken"
    # The same org's link is accepted back; another org's is refused.
    oauth.update([oauth(fullName=name, externalClientApplication=app, label="o", oauthLink=read.oauthLink)])
    other_app = _eca(org_a)
    foreign = org_a.md.ExtlClntAppOauthSettings
    foreign.create([foreign(fullName=f"{other_app}_oauth", externalClientApplication=other_app, label="o")])
    foreign_link = foreign.read([f"{other_app}_oauth"]).oauthLink
    with pytest.raises(Exception) as info:
        oauth.update([oauth(fullName=name, externalClientApplication=app, label="o", oauthLink=foreign_link)])
    code, message = _failure(info.value)
    assert code == "FIELD_INTEGRITY_EXCEPTION" and "oauthLink" in message


def test_eca_oauth_policies_rules(org_b: Org) -> None:
    md = org_b.md
    app = _eca(org_b)
    policies = md.ExtlClntAppOauthConfigurablePolicies
    name = f"{app}_oauthPlcy"

    def update(**fields: Any) -> None:
        policies.update([policies(fullName=name, externalClientApplication=app, label="p", **fields)])

    with pytest.raises(zeep.exceptions.Fault) as fault:
        update(permittedUsersPolicyType="AdminApproved")
    assert (
        fault.value.message == "'AdminApproved' is not a valid value for the enum 'PermittedUsersPolicyType'"
    )

    for user in (None, org_b.user("inactive"), "nobody@example.invalid"):
        with pytest.raises(Exception) as info:
            update(isClientCredentialsFlowEnabled=True, clientCredentialsFlowUser=user)
        assert (
            _failure(info.value)[1] == "Enter a valid execution user for the OAuth client credentials flow."
        )

    with pytest.raises(Exception) as info:
        update(permittedUsersPolicyType="AdminApprovedPreAuthorized", commaSeparatedProfile="Nope Profile")
    assert _failure(info.value)[0] == "INVALID_CROSS_REFERENCE_KEY"

    update(
        isClientCredentialsFlowEnabled=True,
        clientCredentialsFlowUser=org_b.user("integration"),
        permittedUsersPolicyType="AdminApprovedPreAuthorized",
        commaSeparatedProfile="System Administrator",
        ipRelaxationPolicyType="Bypass",
        refreshTokenPolicyType="Infinite",
    )
    read = policies.read([name])
    assert read.clientCredentialsFlowUser == org_b.user("integration")
    assert read.commaSeparatedProfile == "System Administrator"

    # Creating the auto-created component again collides with it.
    with pytest.raises(Exception) as info:
        policies.create([policies(fullName=name, externalClientApplication=app, label="p")])
    assert _failure(info.value)[0] == "DUPLICATE_VALUE"


# -- Certificate ------------------------------------------------------------------------------------------


def test_certificate_generated_by_the_org(org_a: Org) -> None:
    md = org_a.md
    name = _name("Cert")
    md.Certificate.create(
        [md.Certificate(fullName=name, masterLabel="Org A signing", caSigned=False, keySize=2048)]
    )
    read = md.Certificate.read([name])
    assert read.masterLabel == "Org A signing" and read.keySize == 2048 and read.expirationDate is not None
    # content is the .crt file: the base64 DER body without BEGIN/END lines.
    body = read.content.decode()
    assert "BEGIN" not in body
    cert = x509.load_der_x509_certificate(base64.b64decode(body))
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "Org A signing"

    raw = org_a.raw(
        f'<readMetadata xmlns="{MD_NS}"><type>Certificate</type><fullNames>{name}</fullNames></readMetadata>'
    )
    assert "PRIVATE KEY" not in raw.text and "privateKey" not in raw.text
    # The org keeps the private key (it signs JWTs with it), and it matches the certificate.
    key = serialization.load_pem_private_key(org_a.stored("Certificate", name)["privateKey"].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert key.public_key().public_numbers() == public.public_numbers()


def test_certificate_rejects_private_key_import_and_bad_key_size(org_a: Org) -> None:
    md = org_a.md
    pem = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"
    with pytest.raises(Exception) as info:
        md.Certificate.create(
            [md.Certificate(fullName=_name("Cert"), masterLabel="x", caSigned=False, content=pem)]
        )
    code, message = _failure(info.value)
    assert code == "FIELD_INTEGRITY_EXCEPTION" and "Private keys" in message
    with pytest.raises(Exception) as info:
        md.Certificate.create(
            [md.Certificate(fullName=_name("Cert"), masterLabel="x", caSigned=False, keySize=1024)]
        )
    assert _failure(info.value)[0] == "FIELD_INTEGRITY_EXCEPTION"


# -- ExternalCredential, NamedCredential, PermissionSet --------------------------------------------------


def test_credentials_and_principal_access_cross_references(org_a: Org) -> None:
    md = org_a.md
    ext = _name("EC")
    md.ExternalCredential.create(
        [
            md.ExternalCredential(
                fullName=ext,
                label=ext,
                authenticationProtocol="Oauth",
                externalCredentialParameters=[
                    md.ExternalCredentialParameter(
                        parameterName="Oauth",
                        parameterType="AuthProtocolVariant",
                        parameterValue="ClientCredentialsClientSecret",
                    ),
                    md.ExternalCredentialParameter(
                        parameterName="AuthProviderUrl",
                        parameterType="AuthProviderUrl",
                        parameterValue="https://127.0.0.1/services/oauth2/token",
                    ),
                    md.ExternalCredentialParameter(
                        parameterName="OrgB", parameterType="NamedPrincipal", sequenceNumber=1
                    ),
                ],
            )
        ]
    )
    assert len(md.ExternalCredential.read([ext]).externalCredentialParameters) == 3

    def named(ext_name: str) -> Any:
        return md.NamedCredential(
            fullName=_name("NC"),
            label="nc",
            namedCredentialType="SecuredEndpoint",
            calloutStatus="Enabled",
            namedCredentialParameters=[
                md.NamedCredentialParameter(
                    parameterName="Url", parameterType="Url", parameterValue="https://x.invalid"
                ),
                md.NamedCredentialParameter(
                    parameterName="ExternalCredential",
                    parameterType="Authentication",
                    externalCredential=ext_name,
                ),
            ],
        )

    with pytest.raises(Exception) as info:
        md.NamedCredential.create([named("No_Such_EC")])
    assert _failure(info.value)[0] == "INVALID_CROSS_REFERENCE_KEY"
    md.NamedCredential.create([named(ext)])

    ps_name = _name("PS")
    access = md.PermissionSetExternalCredentialPrincipalAccess
    with pytest.raises(Exception) as info:
        md.PermissionSet.create(
            [
                md.PermissionSet(
                    fullName=ps_name,
                    label="ps",
                    externalCredentialPrincipalAccesses=[
                        access(enabled=True, externalCredentialPrincipal=f"{ext}-Nobody")
                    ],
                )
            ]
        )
    assert _failure(info.value)[0] == "INVALID_CROSS_REFERENCE_KEY"
    md.PermissionSet.create(
        [
            md.PermissionSet(
                fullName=ps_name,
                label="ps",
                externalCredentialPrincipalAccesses=[
                    access(enabled=True, externalCredentialPrincipal=f"{ext}-OrgB")
                ],
            )
        ]
    )
    read = md.PermissionSet.read([ps_name])
    assert [a.externalCredentialPrincipal for a in read.externalCredentialPrincipalAccesses] == [
        f"{ext}-OrgB"
    ]
    assert any(r["Name"] == ps_name for r in org_a.records("PermissionSet"))


# -- settings ------------------------------------------------------------------------------------------------


def test_external_client_app_settings_map_to_org_setting(org_b: Org) -> None:
    settings = org_b.md.ExternalClientAppSettings
    assert settings.read(["ExternalClientApp"]).enableClientSecretInRestApiAccess is False
    settings.update([settings(fullName="ExternalClientApp", enableClientSecretInRestApiAccess=True)])
    try:
        assert settings.read(["ExternalClientApp"]).enableClientSecretInRestApiAccess is True
        assert org_b.admin.snapshot(org_b.alias)["settings"]["enable-client-secret-in-rest-api"] is True
    finally:
        settings.update([settings(fullName="ExternalClientApp", enableClientSecretInRestApiAccess=False)])
    connected = org_b.md.ConnectedAppSettings
    connected.update([connected(fullName="ConnectedApp", enableAdminApprovedAppsOnly=True)])
    assert connected.read(["ConnectedApp"]).enableAdminApprovedAppsOnly is True
    connected.update([connected(fullName="ConnectedApp", enableAdminApprovedAppsOnly=False)])
