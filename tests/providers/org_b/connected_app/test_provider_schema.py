"""Pure tests of check(), diff(), the schema tables, configuration and pickling: no org needed.

No provider here is configured with a reachable org, so any Salesforce call would fail: these
tests also prove that check and diff never call Salesforce.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import typing
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown

from providers import salesforce
from providers.framework import values
from providers.org_b.connected_app.app import ConnectedApp, ConnectedAppArgs, ConnectedAppProvider
from providers.org_b.connected_app.policy import (
    ConnectedAppPolicy,
    ConnectedAppPolicyArgs,
    ConnectedAppPolicyProvider,
)
from providers.org_b.connected_app.profile_assignment import (
    ConnectedAppProfileAssignment,
    ConnectedAppProfileAssignmentArgs,
    ConnectedAppProfileAssignmentProvider,
)
from providers.org_b.connected_app.run_as_user import (
    ClientCredentialsRunAsUser,
    ClientCredentialsRunAsUserArgs,
    ClientCredentialsRunAsUserProvider,
)
from tests.support import self_signed_certificate

APP = {
    "org": "orgB",
    "api_name": "Carrier_API_App",
    "contact_email": "ops@example.com",
    "callback_urls": ["http://localhost:8081/callback"],
    "scopes": ["api", "refresh_token"],
}


def make_certificate(days: int = 365, not_before_days: int = -1) -> tuple[str, str]:
    """(PEM, base64 body) of a self-signed certificate valid for `days` from now."""
    cert = self_signed_certificate(
        valid_from=dt.timedelta(days=not_before_days), valid_until=dt.timedelta(days=days)
    )
    return cert.pem, base64.b64encode(cert.der).decode()


@pytest.fixture(autouse=True)
def no_orgs() -> typing.Iterator[None]:
    salesforce.reset()
    yield
    salesforce.reset()


def checked(
    provider: typing.Any, news: dict[str, typing.Any], olds: dict[str, typing.Any] | None = None
) -> dict:
    result = provider.check(olds or {}, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def failure_reasons(provider: typing.Any, news: dict[str, typing.Any]) -> dict[str, str]:
    return {f.property: f.reason for f in provider.check({}, news).failures}


# -- check ----------------------------------------------------------------------------------------


def test_check_fills_defaults_and_normalises() -> None:
    inputs = checked(ConnectedAppProvider(), APP)
    assert inputs["label"] == "Carrier API App"
    assert inputs["scopes"] == ["Api", "RefreshToken"]
    assert inputs["require_secret_for_web_server_flow"] is True
    assert inputs["pkce_required"] is True
    assert inputs["adopt"] is False
    assert "consumer_key" not in inputs and "consumer_secret" not in inputs


@pytest.mark.parametrize(
    "given",
    [
        ["Api", "RefreshToken"],
        ["api", "refresh_token"],
        ["Manage user data via APIs (api)", "Perform requests at any time (refresh token, offline_access)"],
        ["API", "refresh_token offline_access"],
        "api, refresh_token",
    ],
)
def test_scope_spellings_all_mean_the_same(given: typing.Any) -> None:
    assert checked(ConnectedAppProvider(), {**APP, "scopes": given})["scopes"] == ["Api", "RefreshToken"]


BAD_APP_INPUTS = [
    ("contact_email", "not-an-email", "e-mail address"),
    ("contact_email", "ops@localhost", "e-mail address"),
    ("callback_urls", ["localhost:8081/callback"], "absolute URL"),
    ("callback_urls", ["https://"], "absolute URL"),
    ("callback_urls", ["http://exa mple.com/cb"], "absolute URL"),
    ("callback_urls", [], "required"),
    ("scopes", ["api", "read_everything"], "not a known OAuth scope"),
    ("consumer_key", "my-consumer-key-1", "'-'"),
    ("consumer_key", "short", "8 to 256"),
    ("consumer_secret", "x" * 300, "8 to 256"),
    ("certificate", "not a certificate", "not an X.509 certificate"),
    (
        "certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        "not an X.509 certificate",
    ),
    ("api_name", "Carrier API App", "not a valid API name"),
    ("api_name", "Carrier__App", "not a valid API name"),
    ("api_name", "1App", "not a valid API name"),
    ("pkce_required", "yes", "true or false"),
    ("adopt", 1, "true or false"),
    ("org", "", "required"),
    ("label", ["a"], "text"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_APP_INPUTS)
def test_bad_app_input_is_named_with_its_fix(field: str, value: typing.Any, expected: str) -> None:
    reasons = failure_reasons(ConnectedAppProvider(), {**APP, field: value})
    assert field in reasons, reasons
    assert expected in reasons[field]
    assert reasons[field].startswith(field)


def test_expired_certificate_is_rejected_with_its_date() -> None:
    pem, _ = make_certificate(days=-1, not_before_days=-30)
    reason = failure_reasons(ConnectedAppProvider(), {**APP, "certificate": pem})["certificate"]
    assert "expired on" in reason and "create or upload a current certificate" in reason


def test_certificate_pem_and_bare_body_are_the_same() -> None:
    pem, body = make_certificate()
    from_pem = checked(ConnectedAppProvider(), {**APP, "certificate": pem})["certificate"]
    from_body = checked(ConnectedAppProvider(), {**APP, "certificate": body})["certificate"]
    assert from_pem == from_body
    assert from_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert values.certificate_body(from_pem) == body


def test_unknown_and_misspelled_inputs_are_named() -> None:
    reasons = failure_reasons(ConnectedAppProvider(), {**APP, "callback_url": "http://localhost"})
    assert "not an input of ConnectedApp" in reasons["callback_url"]
    assert "callback_urls" in reasons["callback_url"]
    reasons = failure_reasons(ConnectedAppProvider(), {**APP, "app_id": "0H4xx"})
    assert "output" in reasons["app_id"]


def test_missing_required_inputs() -> None:
    reasons = failure_reasons(ConnectedAppProvider(), {"org": "orgB"})
    assert set(reasons) >= {"api_name", "contact_email", "callback_urls", "scopes"}


def test_delete_on_destroy_needs_adopt() -> None:
    reasons = failure_reasons(ConnectedAppProvider(), {**APP, "delete_on_destroy": True})
    assert "only applies with adopt" in reasons["delete_on_destroy"]


def test_adopted_app_cannot_change_consumer_key() -> None:
    olds = {**APP, "adopt": True, "consumer_key": "AAAAAAAA1"}
    result = ConnectedAppProvider().check(olds, {**APP, "adopt": True, "consumer_key": "BBBBBBBB2"})
    assert [f.property for f in result.failures] == ["consumer_key"]


POLICY = {"org": "orgB", "app": "Carrier_API_App"}
BAD_POLICY_INPUTS = [
    ("ip_relaxation", "bypass", "did you mean 'BYPASS'"),
    ("ip_relaxation", "RELAX", "ENFORCE, BYPASS_2FACTOR, BYPASS, ENFORCE_RELAXREFRESH"),
    ("permitted_users", "AdminApproved", "AllSelfAuthorized, AdminApprovedPreAuthorized"),
    ("session_timeout", 45, "1440 = 24 hours"),
    ("session_timeout", "25h", "is not a session timeout"),
    ("refresh_token_policy", "until_revoked", "infinite, zero, specific_lifetime, specific_inactivity"),
    ("refresh_token_policy", "specific_lifetime", "needs a duration"),
    ("refresh_token_policy", "specific_lifetime:2:days", "did you mean 'DAYS'"),
    ("refresh_token_policy", "infinite:2:DAYS", "takes no duration"),
    ("refresh_token_policy", "specific_inactivity:0:DAYS", "at least 1"),
    ("session_level", "High", "STANDARD, HIGH_ASSURANCE"),
    ("policy_action", "block", "did you mean 'Block'"),
    ("single_logout_url", "http://example.com/logout", "https://"),
    ("app", "My App", "not a valid API name"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_POLICY_INPUTS)
def test_bad_policy_input(field: str, value: typing.Any, expected: str) -> None:
    reasons = failure_reasons(ConnectedAppPolicyProvider(), {**POLICY, field: value})
    assert expected in reasons[field], reasons


@pytest.mark.parametrize(
    ("given", "minutes"), [("24h", 1440), ("30m", 30), (1440, 1440), ("15", 15), ("2 hours", 120)]
)
def test_session_timeout_spellings(given: typing.Any, minutes: int) -> None:
    assert (
        checked(ConnectedAppPolicyProvider(), {**POLICY, "session_timeout": given})["session_timeout"]
        == minutes
    )


def test_refresh_token_policy_forms() -> None:
    provider = ConnectedAppPolicyProvider()
    as_object = {"policy": "specific_lifetime", "value": 12, "unit": "HOURS"}
    assert checked(provider, {**POLICY, "refresh_token_policy": as_object})["refresh_token_policy"] == (
        "specific_lifetime:12:HOURS"
    )
    assert checked(provider, {**POLICY})["refresh_token_policy"] == "infinite"


def test_run_as_user_needs_a_username() -> None:
    reasons = failure_reasons(
        ClientCredentialsRunAsUserProvider(), {**POLICY, "username": "integration user"}
    )
    assert "not a Salesforce username" in reasons["username"]
    inputs = checked(ClientCredentialsRunAsUserProvider(), {**POLICY, "username": "Integration@OrgB.Test"})
    assert inputs["username"] == "integration@orgb.test"


def test_assignment_needs_exactly_one_holder() -> None:
    provider = ConnectedAppProfileAssignmentProvider()
    assert "exactly one" in failure_reasons(provider, POLICY)["profile"]
    both = {**POLICY, "profile": "System Administrator", "permission_set": "Orglink_Integration_Access"}
    assert "exactly one" in failure_reasons(provider, both)["profile"]
    assert "permission_set" in failure_reasons(provider, {**POLICY, "permission_set": "Bad Name"})


def test_check_tolerates_unknown_values() -> None:
    news = {**APP, "certificate": Unknown(), "scopes": ["api", Unknown()], "org": Unknown()}
    inputs = checked(ConnectedAppProvider(), news)
    assert isinstance(inputs["certificate"], Unknown)
    assert isinstance(inputs["scopes"][1], Unknown)


def test_org_alias_missing_from_config_is_known_at_check() -> None:
    provider = ConnectedAppProvider()
    provider.configure(ConfigureRequest(Config({salesforce.CONFIG_KEY: json.dumps({"orgA": {}})}, "orglink")))
    reason = failure_reasons(provider, APP)["org"]
    assert "'orgB' is not in the stack config" in reason and "orgA" in reason


# -- diff -----------------------------------------------------------------------------------------


def outputs_for(news: dict[str, typing.Any], **live: typing.Any) -> dict[str, typing.Any]:
    """Outputs as create would have stored them: checked inputs plus what the org chose."""
    return {
        **checked(ConnectedAppProvider(), news),
        "consumer_key": "GeneratedKey123",
        "consumer_secret": "GeneratedSecret123",
        "app_id": "0H4000000000001AAA",
        **live,
    }


def test_no_change_is_no_change() -> None:
    provider = ConnectedAppProvider()
    news = checked(provider, APP)
    result = provider.diff("id", outputs_for(APP), news)
    assert result.changes is False and result.replaces == []


def test_normalisation_only_differences_are_no_change() -> None:
    pem, body = make_certificate()
    provider = ConnectedAppProvider()
    news = checked(provider, {**APP, "scopes": ["Profile", "Api", "OfflineAccess"], "certificate": pem})
    # What Salesforce reads back: Profile -> Basic, OfflineAccess -> RefreshToken, the bare body.
    olds = outputs_for(APP, scopes=["Api", "Basic", "RefreshToken"], certificate=body)
    assert provider.diff("id", olds, news).changes is False


def test_in_place_update_is_field_by_field() -> None:
    provider = ConnectedAppProvider()
    news = checked(provider, {**APP, "label": "Carrier", "refresh_token_rotation": True})
    found = provider.changes(outputs_for(APP), news)
    assert set(found.changed) == {"label", "refresh_token_rotation"} and found.replaces == ()


def test_consumer_key_change_replaces_and_deletes_first() -> None:
    provider = ConnectedAppProvider()
    news = checked(provider, {**APP, "consumer_key": "AnotherKey123"})
    result = provider.diff("id", outputs_for(APP), news)
    assert result.changes and result.replaces == ["consumer_key"] and result.delete_before_replace is True


def test_rename_is_an_update_not_a_replacement() -> None:
    provider = ConnectedAppProvider()
    news = checked(provider, {**APP, "api_name": "Carrier_App_2", "label": "Carrier API App"})
    result = provider.diff("id", outputs_for(APP), news)
    assert result.changes and result.replaces == []
    # Renamed and re-keyed at once: both apps can exist side by side, so no delete-first.
    news = checked(provider, {**APP, "api_name": "Carrier_App_2", "consumer_key": "AnotherKey123"})
    assert provider.diff("id", outputs_for(APP), news).delete_before_replace is False


def test_moving_to_another_org_replaces() -> None:
    provider = ConnectedAppProvider()
    assert provider.diff("id", outputs_for(APP), checked(provider, {**APP, "org": "orgC"})).replaces == [
        "org"
    ]


def test_unknown_values_show_as_changes_in_preview() -> None:
    provider = ConnectedAppProvider()
    news = checked(provider, {**APP, "certificate": Unknown()})
    assert provider.diff("id", outputs_for(APP), news).changes is True
    news = checked(provider, {**APP, "consumer_key": Unknown()})
    assert provider.diff("id", outputs_for(APP), news).replaces == ["consumer_key"]


def test_policy_diff_and_app_move() -> None:
    provider = ConnectedAppPolicyProvider()
    olds = {**checked(provider, {**POLICY, "session_timeout": 1440}), "previous_values": {}}
    assert provider.diff("id", olds, checked(provider, {**POLICY, "session_timeout": "24h"})).changes is False
    moved = provider.diff(
        "id", olds, checked(provider, {**POLICY, "session_timeout": 1440, "app_id": "0H4x"})
    )
    assert moved.changes is True and moved.replaces == []


# -- schema tables, type tokens, configuration and pickling ---------------------------------------


@pytest.mark.parametrize(
    ("args", "provider"),
    [
        (ConnectedAppArgs, ConnectedAppProvider),
        (ConnectedAppPolicyArgs, ConnectedAppPolicyProvider),
        (ConnectedAppProfileAssignmentArgs, ConnectedAppProfileAssignmentProvider),
        (ClientCredentialsRunAsUserArgs, ClientCredentialsRunAsUserProvider),
    ],
)
def test_typed_args_match_the_schema(args: typing.Any, provider: typing.Any) -> None:
    assert set(args.__required_keys__ | args.__optional_keys__) == {f.name for f in provider.schema.inputs}


def test_type_tokens() -> None:
    # The SDK prefixes the package `pulumi-python` and `dynamic/`: the engine runs every Python
    # dynamic provider through the `pulumi-python` plugin, so `orglink:` cannot be the package.
    assert ConnectedApp._resource_type_name == "dynamic/salesforce:ConnectedApp"
    assert ConnectedAppPolicy._resource_type_name == "dynamic/salesforce:ConnectedAppPolicy"
    assert (
        ConnectedAppProfileAssignment._resource_type_name
        == "dynamic/salesforce:ConnectedAppProfileAssignment"
    )
    assert ClientCredentialsRunAsUser._resource_type_name == "dynamic/salesforce:ClientCredentialsRunAsUser"


SECRET_CONFIG = {
    "orgB": {
        "auth": "password",
        "username": "admin@example.com",
        "password": "Sup3rSecretPassw0rd",
        "security_token": "TokenTokenToken9",
        "login_url": "https://login.salesforce.com",
    },
    "orgA": {
        "auth": "jwt",
        "consumer_key": "Key12345",
        "username": "a@b.co",
        "private_key": "PRIVATEKEYTEXT",
    },
}


def test_configured_provider_pickles_without_credentials() -> None:
    provider = ConnectedAppProvider()
    provider.configure(
        ConfigureRequest(Config({salesforce.CONFIG_KEY: json.dumps(SECRET_CONFIG)}, "orglink"))
    )
    pickled = base64.b64decode(serialize_provider(provider))
    for secret in ("Sup3rSecretPassw0rd", "TokenTokenToken9", "PRIVATEKEYTEXT"):
        assert secret.encode() not in pickled
    assert len(pickled) < 2000  # the class by reference, no state


def test_connection_text_never_shows_secrets() -> None:
    salesforce.configure_orgs(SECRET_CONFIG)
    shown = repr(salesforce.connection("orgB")) + repr(salesforce.connection("orgA"))
    assert "Sup3rSecretPassw0rd" not in shown and "PRIVATEKEYTEXT" not in shown and "orgB" in shown


def test_configuration_errors_name_the_setting() -> None:
    salesforce.configure_orgs({"orgB": {"auth": "password", "username": "a@b.co", "password": "pw12345678",
                                        "api_version": "62.0"}})  # fmt: skip
    with pytest.raises(salesforce.SalesforceError) as err:
        salesforce.connection("orgB")
    assert "api_version 62.0 is too old" in str(err.value) and "pw12345678" not in str(err.value)
    salesforce.configure_orgs({"orgB": {"auth": "magic"}})
    with pytest.raises(salesforce.SalesforceError, match="auth must be one of"):
        salesforce.connection("orgB")
    salesforce.configure_orgs({"orgB": {"auth": "jwt", "username": "a@b.co"}})
    with pytest.raises(salesforce.SalesforceError, match="needs 'consumer_key'"):
        salesforce.connection("orgB")
    salesforce.configure_orgs(
        {"orgB": {"auth": "access_token", "access_token": "t", "instance_url": "http://x"}}
    )
    with pytest.raises(salesforce.SalesforceError, match="https://"):
        salesforce.connection("orgB")
    with pytest.raises(salesforce.SalesforceError, match="not in `orglink:orgs`"):
        salesforce.connection("orgZ")
    with pytest.raises(salesforce.SalesforceError, match="not valid JSON") as bad_json:
        salesforce.configure_orgs('{"orgB": {"password": "pw12345678"')
    assert "pw12345678" not in str(bad_json.value)


def test_api_version_spellings() -> None:
    salesforce.configure_orgs({"o": {"auth": "sfdx", "username": "a@b.co", "api_version": 64}})
    assert salesforce.connection("o").api_version == "64.0"
    salesforce.configure_orgs({"o": {"auth": "sfdx", "username": "a@b.co"}})
    assert salesforce.connection("o").api_version == "63.0"


def test_generated_credentials_are_valid_and_distinct() -> None:
    keys = {values.generate_credential() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert values.consumer_credential("key")(key) == key


def test_consumer_keys_may_carry_underscores_secrets_may_not() -> None:
    key = ("OL_" + "a1B2" * 25)[:85]  # the 85-character shape with underscores tools create
    assert values.consumer_credential("key")(key) == key
    with pytest.raises(ValueError, match="'-'"):
        values.consumer_credential("key")("has-a-dash-1")
    with pytest.raises(ValueError, match="letters and digits only"):
        values.consumer_credential("secret")("under_score_secret")


ECA_PROBLEMS = [
    # (connection, field named, words of the fix)
    ({"auth": "password", "username": "a@b.co", "password": "x", "login_url": "https://acme.my.salesforce.com"},
     "auth", ("username-password", "jwt", "client_credentials")),
    ({"auth": "jwt", "username": "a@b.co", "consumer_key": "K" * 20, "private_key": "k"},
     "login_url", ("login.salesforce.com", "My Domain")),
    ({"auth": "jwt", "username": "a@b.co", "consumer_key": "K" * 20, "private_key": "k",
      "login_url": "https://test.salesforce.com"}, "login_url", ("test.salesforce.com", "My Domain")),
    ({"auth": "client_credentials", "consumer_key": "K" * 20, "consumer_secret": "S" * 20,
      "instance_url": "https://login.salesforce.com/"}, "instance_url", ("app_not_found", "My Domain")),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "field", "words"), ECA_PROBLEMS)
def test_an_eca_connection_on_a_generic_host_or_by_password_is_refused_naming_the_field(
    settings: dict[str, Any], field: str, words: tuple[str, ...]
) -> None:
    salesforce.configure_orgs({"o": {**settings, "app_type": "external_client_app"}})
    with pytest.raises(salesforce.SalesforceError) as err:
        salesforce.connection("o")
    assert err.value.field == f"orglink:orgs.o.{field}"
    assert all(word in err.value.message for word in words), err.value.message
    # The same connection through a connected app is what it was before.
    salesforce.configure_orgs({"o": settings})
    assert salesforce.connection("o").auth == settings["auth"]


def test_an_eca_connection_through_its_my_domain_is_accepted_and_app_type_is_checked() -> None:
    jwt = {"auth": "jwt", "username": "a@b.co", "consumer_key": "K" * 20, "private_key": "k",
           "login_url": "https://acme.my.salesforce.com", "app_type": "external_client_app"}  # fmt: skip
    salesforce.configure_orgs({"o": jwt})
    assert salesforce.connection("o").app_type == "external_client_app"
    salesforce.configure_orgs({"o": {**jwt, "app_type": "eca"}})
    with pytest.raises(salesforce.SalesforceError, match="connected_app, external_client_app") as err:
        salesforce.connection("o")
    assert err.value.field == "orglink:orgs.o.app_type"


def test_salesforce_error_names_everything() -> None:
    err = salesforce.SalesforceError("orgB", "ConnectedApp 'X'", "consumer_key", "DUPLICATE_VALUE", "taken")
    assert str(err) == "ConnectedApp 'X' in org 'orgB' (field 'consumer_key'): DUPLICATE_VALUE: taken"


def test_reference_docs_come_from_the_schemas() -> None:
    from providers import docs

    text = docs.render()
    for kind in (
        "ConnectedApp",
        "ConnectedAppPolicy",
        "ConnectedAppProfileAssignment",
        "ClientCredentialsRunAsUser",
    ):
        assert f"## {kind}\n" in text
        assert f"`pulumi-python:dynamic/salesforce:{kind}`" in text
    assert "| `session_timeout` | integer |" in text and "`oauthPolicy.ipRelaxation`" in text


def test_numbers_that_crossed_the_engine_are_written_as_integers() -> None:
    # The engine hands numbers back as doubles; the Metadata API's xsd:int refuses "1440.0".
    from providers.org_b.connected_app.policy import SCHEMA as POLICY_SCHEMA

    component = POLICY_SCHEMA.write({}, {"session_timeout": 1440.0})
    assert component["sessionPolicy"]["sessionTimeout"] == 1440
    assert isinstance(component["sessionPolicy"]["sessionTimeout"], int)
