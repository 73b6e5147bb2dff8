"""Preflight: the read-only checks of both orgs, called as the engine would, against the emulator.

What only the orgs know (profiles, permission sets, the run-as user, an existing certificate, the
credentials) must fail here, with the config key to fix, and without a single write to either org.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pulumi.dynamic import Config, ConfigureRequest

from providers import salesforce
from providers.integration.preflight import PreflightProvider
from providers.org_a.checks import certificate_problem
from providers.org_b.checks import missing_holders
from providers.org_b.connected_app.checks import probe_name, probe_package
from providers.org_b.external_client_app.app import provenance_tag
from providers.salesforce.records import permission_set_query
from tests.emulator_fixtures import CREATION_SETTING, connected_app_creation
from tests.stack_project import write_counts
from tests.support import providers_on_emulator

KEY = "orglink:integrations[0]"
LOGINS = ("soap_login.", "oauth.")
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


def certificate_pem(not_after: datetime.datetime) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "preflight")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(not_after - datetime.timedelta(days=30)).not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def as_stored(pem: str) -> str:
    """A certificate as the emulator stores `content`: base64Binary of the .crt body (base64 DER)."""
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return base64.b64encode(base64.b64encode(der)).decode()


# -- the pure parts ------------------------------------------------------------------------------


def test_one_query_asks_for_every_profile_and_permission_set() -> None:
    soql = permission_set_query(["System Administrator", "O'Brien"], ["Orglink_Integration_Access"])
    assert soql.count("SELECT") == 1
    assert "Profile.Name IN ('System Administrator', 'O\\'Brien')" in soql
    assert "Name IN ('Orglink_Integration_Access')" in soql
    assert " OR " not in permission_set_query(["System Administrator"], [])


def test_missing_holders_compare_names_case_insensitively() -> None:
    rows = [
        {"Name": "X00ex", "IsOwnedByProfile": True, "Profile": {"Name": "System Administrator"}},
        {"Name": "Orglink_Integration_Access", "IsOwnedByProfile": False, "Profile": None},
    ]
    found = missing_holders(
        rows, ["system administrator", "Sys Admin"], ["orglink_integration_access", "Nope"]
    )
    assert found == (["Sys Admin"], ["Nope"])


def test_certificate_problems() -> None:
    valid = {"content": certificate_pem(NOW + datetime.timedelta(days=300))}
    expired = {"content": certificate_pem(NOW - datetime.timedelta(days=1))}
    garbage = {"content": base64.b64encode(b"not a certificate").decode()}
    assert certificate_problem(valid, "Good", NOW) is None
    none_code, none_message = certificate_problem(None, "Gone", NOW) or ("", "")
    assert none_code == "NOT_FOUND" and "'Gone'" in none_message and "existing" in none_message
    assert (certificate_problem(expired, "Old", NOW) or ("",))[0] == "CERTIFICATE_EXPIRED"
    assert "X.509" in (certificate_problem(garbage, "Junk", NOW) or ("", ""))[1]


def test_the_creation_probe_is_one_minimal_app_under_a_free_name() -> None:
    assert probe_name("CarrierAPI_App_local", exists=False) == "CarrierAPI_App_local"
    taken = probe_name("A_Very_Long_Connected_App_Name_Of_Forty", exists=True)
    assert taken.startswith("A_Very_Long_Connected_App_probe_") and taken != probe_name("A", exists=True)
    with zipfile.ZipFile(io.BytesIO(probe_package("My_App", "63.0"))) as archive:
        assert sorted(archive.namelist()) == ["connectedApps/My_App.connectedApp", "package.xml"]
        app = archive.read("connectedApps/My_App.connectedApp").decode()
        package = archive.read("package.xml").decode()
    assert '<ConnectedApp xmlns="http://soap.sforce.com/2006/04/metadata">' in app
    assert "<members>My_App</members><name>ConnectedApp</name>" in package and "<version>63.0" in package


def test_moving_the_integration_in_the_list_is_no_change() -> None:
    provider = PreflightProvider()
    olds = {"integration": "A_dev", "config_key": "orglink:integrations[0]", "org_a": "orgA", "org_b": "orgB",
            "profiles": ["System Administrator"]}  # fmt: skip
    moved = {**olds, "config_key": "orglink:integrations[1]"}
    assert provider.diff("id", olds, moved).changes is False
    assert provider.diff("id", olds, {**moved, "profiles": ["Standard User"]}).changes is True


# -- against the emulator ------------------------------------------------------------------------


@pytest.fixture
def orgs(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with providers_on_emulator(emulator, monkeypatch, retry_budget_s="5"):
        yield emulator


def configure(orgs: dict[str, Any]) -> None:
    request = ConfigureRequest(Config({salesforce.CONFIG_KEY: json.dumps(orgs)}, "orglink"))
    PreflightProvider().configure(request)


def inputs(**overrides: Any) -> dict[str, Any]:
    news = {"integration": "Preflight_Test", "config_key": KEY, "org_a": "orgA", "org_b": "orgB",
            "profiles": ["System Administrator"], "permission_sets": ["Orglink_Integration_Access"],
            "run_as_user": "integration@orgb.orglink.test", **overrides}  # fmt: skip
    result = PreflightProvider().check({}, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return dict(result.inputs)


def mark(admin: Any) -> None:
    for alias in ("orgA", "orgB"):
        admin.mark(alias)


def writes(admin: Any, alias: str) -> dict[str, int]:
    """Writes to the org's content (a login's new session counts as a write too, but changes none)."""
    return {kind: n for kind, n in write_counts(admin, alias).items() if not kind.startswith(LOGINS)}


def test_a_sound_integration_passes_with_few_reads_and_no_write(orgs: Any) -> None:
    mark(orgs.admin)
    result = PreflightProvider().create(inputs())
    assert result.outs is not None and result.outs["checked_at"]
    assert result.id == "orgA->orgB/Preflight_Test"
    for alias in ("orgA", "orgB"):
        assert writes(orgs.admin, alias) == {}
    # Org B: the permission sets in one query and the run-as user in one; Org A: only the login.
    assert orgs.admin.counters("orgB").get("rest.read", 0) <= 2
    assert orgs.admin.counters("orgA").get("rest.read", 0) == 0


def test_every_org_only_mistake_is_named_in_one_error(orgs: Any) -> None:
    expired = as_stored(certificate_pem(datetime.datetime(2020, 2, 1, tzinfo=datetime.UTC)))
    orgs.admin.put_component("orgA", "Certificate", "Preflight_Expired", {
        "masterLabel": "x", "caSigned": False, "keySize": 2048, "content": expired})  # fmt: skip
    mark(orgs.admin)
    try:
        with pytest.raises(salesforce.SalesforceError) as caught:
            PreflightProvider().create(inputs(
                profiles=["Sys Admin"], permission_sets=["No_Such_Set"],
                run_as_user="inactive@orgb.orglink.test", existing_certificate="Preflight_Expired",
            ))  # fmt: skip
    finally:
        orgs.admin.delete_component("orgA", "Certificate", "Preflight_Expired")
    text = str(caught.value)
    for expected in (f"{KEY}.profiles: there is no profile 'Sys Admin'",
                     f"{KEY}.permission_sets: there is no permission set with API name 'No_Such_Set'",
                     f"{KEY}.run_as_user: user 'inactive@orgb.orglink.test' is inactive",
                     f"{KEY}.certificate.existing: certificate 'Preflight_Expired' expired on 2020-02-01",
                     "nothing was created or changed in either org"):  # fmt: skip
        assert expected in text
    for alias in ("orgA", "orgB"):
        assert writes(orgs.admin, alias) == {}


def test_wrong_org_b_credentials_name_the_connection_not_the_password(orgs: Any) -> None:
    org_b = orgs.org("orgB")
    orgs.admin.set_setting("orgB", "soap-login-enabled", True)  # an established org: SOAP login() on
    configure({
        "orgA": {"auth": "emulator", "state_dir": str(orgs.state_dir)},
        "orgB": {"auth": "password", "login_url": org_b["login_url"], "ca_bundle": orgs.ca_bundle,
                 "username": org_b["admin_username"], "password": "Wrong-Password-123"},
    })  # fmt: skip
    with pytest.raises(salesforce.SalesforceError) as caught:
        PreflightProvider().create(inputs())
    orgs.admin.set_setting("orgB", "soap-login-enabled", False)
    text = str(caught.value)
    assert "orglink:orgs.orgB" in text and "INVALID_LOGIN" in text
    assert "Wrong-Password-123" not in text


def test_read_and_delete_ask_nobody(orgs: Any) -> None:
    state = inputs()
    mark(orgs.admin)
    assert PreflightProvider().read("id", state).outs == state
    PreflightProvider().delete("id", state)
    for alias in ("orgA", "orgB"):
        assert {k: n for k, n in orgs.admin.counters(alias).items() if n} == {}


# -- the connected app checks (app_type connected_app) -------------------------------------------

OTHER_APP, TAKEN_KEY = "Preflight_Unrelated_App", "PreflightTakenKey0001"


@pytest.fixture
def unrelated_app(orgs: Any) -> Iterator[Any]:
    """A connected app a person made in Setup: its key is neither generated by us nor ours."""
    orgs.admin.put_component("orgB", "ConnectedApp", OTHER_APP, {
        "label": "Unrelated", "contactEmail": "x@example.com",
        "oauthConfig": {"callbackUrl": "http://localhost", "consumerKey": TAKEN_KEY,
                        "consumerSecret": "UnrelatedSecret0001", "scopes": ["Api"]}})  # fmt: skip
    yield orgs
    orgs.admin.delete_component("orgB", "ConnectedApp", OTHER_APP)


def app_inputs(**overrides: Any) -> dict[str, Any]:
    app = {"app_api_name": "Preflight_App", "app_adopt": False, "app_owner": "proj/stack/ConnectedApp/x"}
    return inputs(**{**app, **overrides})


def test_every_app_mistake_is_found_without_a_write(unrelated_app: Any) -> None:
    cases = {
        "adopt of a missing app": (
            app_inputs(app_adopt=True),
            f"{KEY}.app.adopt: adopt: there is no connected app 'Preflight_App'",
        ),
        "name of an unrelated app": (
            app_inputs(app_api_name=OTHER_APP),
            f"{KEY}.app: a connected app '{OTHER_APP}' that orglink",
        ),
        "key of another app": (
            app_inputs(app_consumer_key=TAKEN_KEY),
            f"{KEY}.app.consumer_key: the consumer_key is already the key of connected app '{OTHER_APP}'",
        ),
    }
    mark(unrelated_app.admin)
    for name, (news, expected) in cases.items():
        with pytest.raises(salesforce.SalesforceError) as caught:
            PreflightProvider().create(news)
        assert expected in str(caught.value), name
    for alias in ("orgA", "orgB"):
        assert writes(unrelated_app.admin, alias) == {}


BAN = "New connected apps can't be created in this org."


@pytest.fixture
def creation_allowed(unrelated_app: Any) -> Iterator[Any]:
    """Org B where Support enabled connected app creation (the default is Spring '26's ban)."""
    with connected_app_creation(unrelated_app.admin):
        yield unrelated_app


def test_a_free_name_passes_with_a_read_and_a_validate_only_deploy(creation_allowed: Any) -> None:
    mark(creation_allowed.admin)
    PreflightProvider().create(app_inputs())
    # readMetadata of the name, then deploy (checkOnly) and checkDeployStatus: all reads.
    assert {
        k: n for k, n in creation_allowed.admin.counters("orgB").items() if n and k.startswith("metadata")
    } == {"metadata.read": 3}
    assert creation_allowed.admin.get_component("orgB", "ConnectedApp", "Preflight_App") is None


def metadata_reads(admin: Any) -> int:
    return int(admin.counters("orgB").get("metadata.read", 0))


def test_integrations_of_one_operation_share_one_creation_probe(creation_allowed: Any) -> None:
    admin = creation_allowed.admin
    mark(admin)
    PreflightProvider().create(app_inputs(app_api_name="Preflight_App_1"))
    first = metadata_reads(admin)
    PreflightProvider().create(app_inputs(app_api_name="Preflight_App_2"))
    assert metadata_reads(admin) - first == first - 2  # its own readMetadata, no second deploy
    admin.set_setting("orgB", CREATION_SETTING, False)  # the verdict holds for the operation
    PreflightProvider().create(app_inputs(app_api_name="Preflight_App_3"))


def test_the_creation_ban_fails_every_integration_of_the_operation(unrelated_app: Any) -> None:
    for name in ("Preflight_App_1", "Preflight_App_2"):
        with pytest.raises(salesforce.SalesforceError) as caught:
            PreflightProvider().create(app_inputs(app_api_name=name))
        assert caught.value.status_code == "INSUFFICIENT_ACCESS" and BAN in str(caught.value)
        assert f"api_name '{name}'" in str(caught.value)


def test_the_creation_ban_fails_before_any_write_naming_the_fixes(unrelated_app: Any) -> None:
    assert unrelated_app.admin.settings("orgB")[CREATION_SETTING] is False
    before = {alias: unrelated_app.admin.snapshot(alias) for alias in ("orgA", "orgB")}
    mark(unrelated_app.admin)
    with pytest.raises(salesforce.SalesforceError) as caught:
        PreflightProvider().create(app_inputs())
    err = caught.value
    assert (err.org, err.field, err.status_code) == ("orgB", "app_type", "INSUFFICIENT_ACCESS")
    text = str(err)
    for expected in (f"{KEY}.app_type: Org B 'orgB' does not allow creating connected apps", BAN,
                     "app_type: external_client_app", "adopt: true", "ask Salesforce Support",
                     "nothing was created or changed in either org"):  # fmt: skip
        assert expected in text, expected
    for alias in ("orgA", "orgB"):
        assert writes(unrelated_app.admin, alias) == {}
        assert unrelated_app.admin.snapshot(alias) == before[alias]


def test_our_leftover_app_is_made_again_so_the_ban_applies_to_it_too(unrelated_app: Any) -> None:
    # The app holding the explicit key is our own interrupted create: it is deleted and created
    # again, which the ban forbids; the probe takes a free name (the app's own would validate an update).
    with pytest.raises(salesforce.SalesforceError, match="app_type") as caught:
        PreflightProvider().create(app_inputs(app_api_name=OTHER_APP, app_consumer_key=TAKEN_KEY))
    assert f"connected app '{OTHER_APP[:26]}" in str(caught.value) and "_probe_" in str(caught.value)


def test_adopting_an_existing_app_passes_under_the_ban_without_a_deploy(unrelated_app: Any) -> None:
    mark(unrelated_app.admin)
    PreflightProvider().create(app_inputs(app_api_name=OTHER_APP, app_adopt=True))
    assert unrelated_app.admin.counters("orgB").get("metadata.read", 0) == 1  # the readMetadata only


def test_our_own_app_passes_where_creation_is_allowed(creation_allowed: Any) -> None:
    PreflightProvider().create(app_inputs(app_api_name=OTHER_APP, app_consumer_key=TAKEN_KEY))
    assert creation_allowed.admin.get_component("orgB", "ConnectedApp", OTHER_APP) is not None


def test_an_update_checks_only_what_changed(unrelated_app: Any) -> None:
    # Once made, the app holds the name: a later change (here profiles) does not ask about it.
    olds = app_inputs(app_api_name=OTHER_APP, app_adopt=True)
    news = {**olds, "profiles": ["Standard User"]}
    mark(unrelated_app.admin)
    PreflightProvider().update("id", olds, news)
    assert unrelated_app.admin.counters("orgB").get("metadata.read", 0) == 0
    with pytest.raises(salesforce.SalesforceError, match="consumer_key"):
        PreflightProvider().update("id", olds, {**app_inputs(), "app_consumer_key": TAKEN_KEY})


# -- the External Client App check (app_type external_client_app) --------------------------------

ECA_NAME, ECA_OWNER = "Preflight_Eca", "proj/stack/ExternalClientApp/Preflight_Eca-eca-app"


def eca_inputs(may_enable_secret_access: bool = True) -> dict[str, Any]:
    return inputs(
        eca_api_name=ECA_NAME, eca_owner=ECA_OWNER, eca_may_enable_secret_access=may_enable_secret_access
    )


@pytest.mark.parametrize(
    ("description", "passes"),
    [
        (None, True),  # no app of the name
        (f"Carrier calls [orglink:{provenance_tag(ECA_OWNER, ECA_NAME)}]", True),  # our leftover
        ("Made by hand in Setup", False),
        (f"[orglink:{provenance_tag('proj/other/ExternalClientApp/x', ECA_NAME)}]", False),
    ],
    ids=["free", "our-leftover", "unmarked", "another-stack"],
)
def test_an_external_client_app_name_must_be_free_or_our_own(
    orgs: Any, description: str | None, passes: bool
) -> None:
    if description is not None:
        orgs.admin.put_component("orgB", "ExternalClientApplication", ECA_NAME, {
            "label": "Someone's", "contactEmail": "x@example.com", "description": description,
            "distributionState": "Local", "isProtected": False})  # fmt: skip
    try:
        mark(orgs.admin)
        if passes:
            PreflightProvider().create(eca_inputs())
        else:
            with pytest.raises(salesforce.SalesforceError) as caught:
                PreflightProvider().create(eca_inputs())
            err = caught.value
            assert (err.org, err.status_code) == ("orgB", "DUPLICATE_VALUE")
            assert f"{KEY}.app: an External Client App '{ECA_NAME}' that orglink did not make" in str(err)
            assert "choose another api_name or name_suffix" in str(err)
        for alias in ("orgA", "orgB"):
            assert writes(orgs.admin, alias) == {}
    finally:
        if description is not None:
            orgs.admin.delete_component("orgB", "ExternalClientApplication", ECA_NAME)


SECRET_ACCESS = "enable-client-secret-in-rest-api"


@pytest.mark.parametrize(("org_setting", "may_enable", "passes"), [
    (False, True, True),  # the app turns the setting on
    (True, False, True),  # already on
    (False, False, False),
])  # fmt: skip
def test_an_external_client_app_needs_secret_access_on_or_its_own_to_turn_on(
    orgs: Any, org_setting: bool, may_enable: bool, passes: bool
) -> None:
    before = orgs.admin.settings("orgB").get(SECRET_ACCESS)
    orgs.admin.set_setting("orgB", SECRET_ACCESS, org_setting)
    try:
        mark(orgs.admin)
        if passes:
            PreflightProvider().create(eca_inputs(may_enable_secret_access=may_enable))
        else:
            with pytest.raises(salesforce.SalesforceError) as caught:
                PreflightProvider().create(eca_inputs(may_enable_secret_access=may_enable))
            text = str(caught.value)
            assert caught.value.status_code == "INSUFFICIENT_ACCESS"
            assert (
                f"{KEY}.app.enable_secret_in_rest_api: in Org B 'orgB' reading an External Client App's"
                in text
            )
            assert "`enable_secret_in_rest_api: true`" in text
        for alias in ("orgA", "orgB"):
            assert writes(orgs.admin, alias) == {}
    finally:
        orgs.admin.set_setting("orgB", SECRET_ACCESS, before)


def test_callout_users_must_be_active_users_of_org_a_in_one_query(orgs: Any) -> None:
    mark(orgs.admin)
    PreflightProvider().create(
        inputs(callout_users=["admin@orga.orglink.test", "standard@orga.orglink.test"])
    )
    assert orgs.admin.counters("orgA").get("rest.read", 0) == 1
    assert writes(orgs.admin, "orgA") == {}
    with pytest.raises(salesforce.SalesforceError) as caught:
        PreflightProvider().create(inputs(callout_users=[
            "admin@orga.orglink.test", "nobody@orga.orglink.test", "inactive@orga.orglink.test",
            "admin@orgb.orglink.test"]))  # fmt: skip
    text = str(caught.value)
    assert f"{KEY}.callout_users: there is no user 'nobody@orga.orglink.test' in Org A 'orgA'" in text
    assert f"{KEY}.callout_users: user 'inactive@orga.orglink.test' in Org A 'orgA' is inactive" in text
    assert "there is no user 'admin@orgb.orglink.test' in Org A" in text  # a user of the other org
    assert "'admin@orga.orglink.test'" not in text
