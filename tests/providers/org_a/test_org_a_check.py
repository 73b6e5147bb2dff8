"""check() and diff() of the Org A resources and the Verification: no org, no network.

check() must catch mistakes at preview with a message naming the input, fill defaults, and let
preview's unknown values through; diff() of the secret-holding resources must compare through the
stored hash (never needing the old plaintext).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pulumi.output import Unknown

from providers import salesforce
from providers.integration.verification import VerificationProvider, apex_callout, callout_outcome
from providers.org_a.certificate import CertificateProvider
from providers.org_a.external_credential import ExternalCredentialProvider, build_component, read_component
from providers.org_a.named_credential import NamedCredentialProvider
from providers.org_a.named_credential import build_component as build_named
from providers.org_a.named_credential import read_component as read_named
from providers.org_a.principal_access import PrincipalAccessProvider
from providers.org_a.principal_credential import PrincipalCredentialProvider, credentials_hash

TOKEN_URL = "https://orgb.example.my.salesforce.com/services/oauth2/token"


@pytest.fixture(autouse=True)
def configured_orgs() -> Any:
    salesforce.reset()
    salesforce.configure_orgs(
        {"orgA": {"auth": "emulator", "state_dir": "/nowhere"}, "orgB": {"auth": "sfdx"}}
    )
    yield
    salesforce.reset()


def failures(provider: Any, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, str]:
    result = provider.check(olds or {}, news)
    return {f.property: f.reason for f in result.failures}


def inputs(provider: Any, news: dict[str, Any]) -> dict[str, Any]:
    result = provider.check({}, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return dict(result.inputs)


# -- Certificate ---------------------------------------------------------------------------------------


def test_certificate_defaults_label_and_key_size() -> None:
    checked = inputs(CertificateProvider(), {"org": "orgA", "api_name": "CarrierAPI_App_dev"})
    assert checked == {
        "org": "orgA",
        "api_name": "CarrierAPI_App_dev",
        "label": "CarrierAPI App dev",
        "key_size": 2048,
    }


@pytest.mark.parametrize(
    ("news", "field", "words"),
    [
        ({"org": "orgA"}, "api_name", "exactly one of api_name"),
        ({"org": "orgA", "api_name": "A", "existing": "B"}, "api_name", "exactly one of api_name"),
        ({"org": "orgA", "api_name": "Bad-Name"}, "api_name", "not a valid API name"),
        ({"org": "orgA", "api_name": "Cert", "key_size": 1024}, "key_size", "2048 or 4096"),
        ({"org": "orgC", "api_name": "Cert"}, "org", "not in the stack config"),
        ({"org": "orgA", "api_name": "Cert", "fingerprint_sha256": "AB"}, "fingerprint_sha256", "output"),
    ],
)
def test_certificate_check_names_the_mistake(news: dict[str, Any], field: str, words: str) -> None:
    found = failures(CertificateProvider(), news)
    assert field in found and words in found[field], found


def test_certificate_with_existing_ignores_label_and_key_size_in_diff() -> None:
    olds = {"org": "orgA", "existing": "Corp_Cert", "name": "Corp_Cert"}
    news = inputs(CertificateProvider(), {"org": "orgA", "existing": "Corp_Cert"})
    assert not CertificateProvider().diff("id", olds, news).changes


def test_certificate_key_size_change_replaces_deleting_first() -> None:
    olds = {"org": "orgA", "api_name": "Cert", "label": "Cert", "key_size": 2048}
    news = inputs(CertificateProvider(), {"org": "orgA", "api_name": "Cert", "key_size": 4096})
    diff = CertificateProvider().diff("id", olds, news)
    assert diff.replaces == ["key_size"] and diff.delete_before_replace


def test_certificate_key_size_arriving_as_float_is_accepted() -> None:
    # The engine carries numbers as floats.
    assert (
        inputs(CertificateProvider(), {"org": "orgA", "api_name": "Cert", "key_size": 4096.0})["key_size"]
        == 4096
    )


# -- ExternalCredential --------------------------------------------------------------------------------


def test_external_credential_client_credentials_component_round_trips() -> None:
    checked = inputs(
        ExternalCredentialProvider(), {"org": "orgA", "api_name": "Carrier", "token_url": TOKEN_URL}
    )
    component = build_component(checked)
    types = [p["parameterType"] for p in component["externalCredentialParameters"]]
    assert types == ["AuthProtocolVariant", "AuthProviderUrl", "NamedPrincipal"]
    assert component["authenticationProtocol"] == "Oauth"
    read = read_component(component)
    assert read["variant"] == "ClientCredentialsClientSecret" and read["token_url"] == TOKEN_URL
    assert read["principal_name"] == "NamedPrincipal"


def test_external_credential_jwt_bearer_needs_certificate_and_claims() -> None:
    news = {"org": "orgA", "api_name": "Carrier", "token_url": TOKEN_URL, "variant": "JwtBearer"}
    found = failures(ExternalCredentialProvider(), news)
    assert set(found) == {"signing_certificate", "jwt_issuer", "jwt_subject", "jwt_audience"}
    full = {
        **news,
        "signing_certificate": "Cert",
        "jwt_issuer": "KEY",
        "jwt_subject": "u@b.c",
        "jwt_audience": "https://orgb.example.my.salesforce.com",
    }
    component = build_component(inputs(ExternalCredentialProvider(), full))
    assert {p["parameterName"] for p in component["externalCredentialParameters"]} >= {"iss", "sub", "aud"}
    assert read_component(component)["signing_certificate"] == "Cert"


@pytest.mark.parametrize(
    ("news", "field", "words"),
    [
        ({"api_name": "X", "token_url": TOKEN_URL}, "org", "required"),
        ({"org": "orgA", "api_name": "X"}, "token_url", "required"),
        (
            {"org": "orgA", "api_name": "X", "token_url": "http://orgb/services/oauth2/token"},
            "token_url",
            "https",
        ),
        (
            {
                "org": "orgA",
                "api_name": "X",
                "token_url": TOKEN_URL,
                "variant": "clientcredentialsclientsecret",
            },
            "variant",
            "case-sensitive",
        ),
        (
            {"org": "orgA", "api_name": "X", "token_url": TOKEN_URL, "jwt_issuer": "K"},
            "jwt_issuer",
            "JwtBearer",
        ),
    ],
)
def test_external_credential_check_names_the_mistake(news: dict[str, Any], field: str, words: str) -> None:
    found = failures(ExternalCredentialProvider(), news)
    assert field in found and words in found[field], found


def test_external_credential_token_url_change_is_an_update() -> None:
    provider = ExternalCredentialProvider()
    old = inputs(provider, {"org": "orgA", "api_name": "X", "token_url": TOKEN_URL})
    new = inputs(provider, {"org": "orgA", "api_name": "X", "token_url": TOKEN_URL.replace("orgb", "other")})
    diff = provider.diff("id", old, new)
    assert diff.changes and not diff.replaces


# -- NamedCredential -----------------------------------------------------------------------------------


def test_named_credential_is_a_secured_endpoint_linked_to_the_external_credential() -> None:
    checked = inputs(
        NamedCredentialProvider(),
        {
            "org": "orgA",
            "api_name": "Carrier",
            "url": "https://orgb.example.my.salesforce.com",
            "external_credential": "Carrier",
        },
    )
    component = build_named(checked)
    assert component["namedCredentialType"] == "SecuredEndpoint"
    assert component["calloutStatus"] == "Enabled" and component["generateAuthorizationHeader"] is True
    read = read_named(component)
    assert read["url"] == checked["url"] and read["external_credential"] == "Carrier"
    assert read["callout_enabled"] is True


@pytest.mark.parametrize(
    ("news", "field"),
    [
        ({"org": "orgA", "api_name": "N", "external_credential": "E"}, "url"),
        ({"org": "orgA", "api_name": "N", "url": "https://x.example.com"}, "external_credential"),
        ({"org": "orgA", "api_name": "N", "url": "ftp:/x", "external_credential": "E"}, "url"),
        (
            {"org": "orgA", "api_name": "N__x", "url": "https://x.example.com", "external_credential": "E"},
            "api_name",
        ),
    ],
)
def test_named_credential_check_names_the_mistake(news: dict[str, Any], field: str) -> None:
    assert field in failures(NamedCredentialProvider(), news)


# -- PrincipalCredential -------------------------------------------------------------------------------

PRINCIPAL = {
    "org": "orgA",
    "external_credential": "Carrier",
    "principal_name": "OrgB",
    "client_id": "KEY12345678",
    "client_secret": "SECRET12345678",
}


def stored_outputs(secret: str = "SECRET12345678") -> dict[str, Any]:
    return {
        **{k: v for k, v in PRINCIPAL.items() if k != "client_secret"},
        "variant": "ClientCredentialsClientSecret",
        "credentials_salt": "salt",
        "credentials_hash": credentials_hash("salt", "KEY12345678", secret),
    }


def test_principal_credential_requires_the_secret() -> None:
    news = {k: v for k, v in PRINCIPAL.items() if k != "client_secret"}
    assert "client_secret" in failures(PrincipalCredentialProvider(), news)


def test_principal_credential_unchanged_secret_is_no_change() -> None:
    news = inputs(PrincipalCredentialProvider(), PRINCIPAL)
    assert not PrincipalCredentialProvider().diff("id", stored_outputs(), news).changes


def test_principal_credential_new_secret_is_an_in_place_update() -> None:
    news = inputs(PrincipalCredentialProvider(), {**PRINCIPAL, "client_secret": "ROTATED12345678"})
    diff = PrincipalCredentialProvider().diff("id", stored_outputs(), news)
    assert diff.changes and not diff.replaces


def test_principal_credential_unknown_secret_at_preview_is_a_change() -> None:
    news = {**inputs(PrincipalCredentialProvider(), PRINCIPAL), "client_secret": Unknown()}
    assert PrincipalCredentialProvider().diff("id", stored_outputs(), news).changes


def test_principal_credential_secret_wrapped_by_the_engine_is_unwrapped() -> None:
    wrapped = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": "SECRET12345678",
    }
    news = inputs(PrincipalCredentialProvider(), {**PRINCIPAL, "client_secret": wrapped})
    assert not PrincipalCredentialProvider().diff("id", stored_outputs(), news).changes


def test_principal_credential_moving_to_another_principal_replaces() -> None:
    news = inputs(PrincipalCredentialProvider(), {**PRINCIPAL, "principal_name": "Other"})
    diff = PrincipalCredentialProvider().diff("id", stored_outputs(), news)
    assert diff.replaces == ["principal_name"] and diff.delete_before_replace


def test_credentials_hash_is_keyed_by_the_salt_and_covers_key_and_secret() -> None:
    digest = credentials_hash("salt", "KEY12345678", "SECRET12345678")
    # HMAC-SHA256 under the salt of "<key>\0<secret>": pinned, so a weaker hash fails here.
    assert digest == "50e985d6bde1618700468c0f63ce0a88db9af7521bb342ab4d9a0f04eca37fe0"
    # Not the bare hash of the secret, which anyone could look up in a table of hashes.
    assert digest != hashlib.sha256(b"SECRET12345678").hexdigest()
    assert credentials_hash("other", "KEY12345678", "SECRET12345678") != digest
    assert credentials_hash("salt", "KEY12345678", "SECRET12345679") != digest
    assert credentials_hash("salt", "KEY12345679", "SECRET12345678") != digest


# -- PrincipalAccess -----------------------------------------------------------------------------------


def test_principal_access_needs_an_external_credential_principal_reference() -> None:
    found = failures(
        PrincipalAccessProvider(), {"org": "orgA", "permission_set": "PS", "principal": "Carrier"}
    )
    assert "principal" in found and "<ExternalCredential>-<Principal>" in found["principal"]
    assert inputs(
        PrincipalAccessProvider(), {"org": "orgA", "permission_set": "PS", "principal": "Carrier-OrgB"}
    )


# -- Verification --------------------------------------------------------------------------------------

VERIFY = {
    "org_a": "orgA",
    "org_b": "orgB",
    "token_url": TOKEN_URL,
    "consumer_key": "KEY12345678",
    "consumer_secret": "SECRET12345678",
    "named_credential": "Carrier",
}


def test_verification_defaults_and_alias_checks() -> None:
    checked = inputs(VerificationProvider(), VERIFY)
    assert checked["flow"] == "client_credentials" and checked["required"] is True
    found = failures(VerificationProvider(), {**VERIFY, "org_b": "orgZ"})
    assert "org_b" in found and "orgZ" in found["org_b"]


def test_verification_runs_again_only_when_inputs_change_or_it_failed() -> None:
    provider = VerificationProvider()
    news = inputs(provider, VERIFY)
    olds = {
        **{k: v for k, v in news.items() if k != "consumer_secret"},
        "ok": True,
        "credentials_salt": "s",
        "credentials_hash": credentials_hash("s", "KEY12345678", "SECRET12345678"),
    }
    assert not provider.diff("id", olds, news).changes
    assert provider.diff("id", {**olds, "ok": False}, news).changes
    assert provider.diff("id", olds, {**news, "consumer_secret": "ROTATED12345678"}).changes
    assert provider.diff("id", olds, {**news, "triggers": ["new-app-id"]}).changes


def test_apex_calls_through_the_named_credential_and_throws_on_failure() -> None:
    apex = apex_callout("Carrier", "63.0")
    assert "callout:Carrier/services/data/v63.0/limits" in apex and "throw new CalloutException" in apex


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"compiled": True, "success": True, "calloutResponse": {"statusCode": 200}}, None),
        ({"compiled": True, "success": True}, None),  # a real org: success means the Apex did not throw
        ({"compiled": False, "compileProblem": "no Apex here"}, "did not compile"),
        (
            {"compiled": True, "success": False, "exceptionMessage": "System.CalloutException: x"},
            "CalloutException",
        ),
        (
            {
                "compiled": True,
                "success": True,
                "calloutResponse": {"statusCode": 401, "status": "Unauthorized"},
            },
            "HTTP 401",
        ),
    ],
)
def test_callout_outcome(result: dict[str, Any], problem: str | None) -> None:
    outcome = callout_outcome(result)
    assert (outcome is None) if problem is None else (outcome is not None and problem in outcome)
