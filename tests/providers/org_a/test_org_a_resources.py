"""The Org A resources and the Verification against the emulator over HTTPS, calling the providers
as the engine would (check, diff, create, read, update, delete). Nothing is mocked; every test
asserts on the org's real content through the admin side.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from providers import salesforce
from providers.framework.provider import OrglinkProvider
from providers.integration.verification import VerificationProvider
from providers.org_a.certificate import CertificateProvider, parse_content
from providers.org_a.external_credential import ExternalCredentialProvider
from providers.org_a.named_credential import NamedCredentialProvider
from providers.org_a.permission_set_assignment import PermissionSetAssignmentProvider
from providers.org_a.principal_access import PrincipalAccessProvider
from providers.org_a.principal_credential import PrincipalCredentialProvider
from tests.emulator_fixtures import jwt_login
from tests.support import providers_on_emulator

ORG = "orgA"


@pytest.fixture
def env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Both orgs configured in emulator mode (the CA comes from orgs.json, not the environment)."""
    with providers_on_emulator(emulator, monkeypatch):
        yield emulator


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def checked(
    provider: OrglinkProvider, news: dict[str, Any], olds: dict[str, Any] | None = None
) -> dict[str, Any]:
    result = provider.check(olds or {}, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return dict(result.inputs)


def create(provider: OrglinkProvider, news: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = provider.create(checked(provider, news))
    assert result.outs is not None and result.id
    return result.id, dict(result.outs)


def diff_changes(provider: OrglinkProvider, outs: dict[str, Any], news: dict[str, Any]) -> bool:
    return bool(provider.diff("id", outs, checked(provider, news, outs)).changes)


def update(provider: OrglinkProvider, outs: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    inputs = checked(provider, news, outs)
    diff = provider.diff("id", outs, inputs)
    assert diff.changes and not diff.replaces, diff
    result = provider.update("id", outs, inputs)
    assert result.outs is not None
    return dict(result.outs)


def refresh(provider: OrglinkProvider, id_: str, outs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """`pulumi refresh` of one resource: its id ("" when gone) and outputs."""
    result = provider.read(id_, outs)
    return result.id or "", dict(result.outs or {})


def component(env: Any, mtype: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = env.admin.get_component(ORG, mtype, name)
    return found


def token_url(env: Any) -> str:
    return f"{env.org('orgB')['instance_url']}/services/oauth2/token"


# -- Certificate ---------------------------------------------------------------------------------------


def test_certificate_lifecycle(env: Any) -> None:
    provider = CertificateProvider()
    news = {"org": ORG, "api_name": unique("Cert")}
    id_, outs = create(provider, news)
    stored = component(env, "Certificate", news["api_name"])
    assert stored is not None and stored["keySize"] == 2048
    assert outs["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert len(outs["fingerprint_sha256"].split(":")) == 32 and outs["expires"].endswith("Z")
    assert "PRIVATE" not in json.dumps(outs)

    assert not diff_changes(provider, outs, news)  # no-op
    relabelled = update(provider, outs, {**news, "label": "Signing for Org B"})
    assert component(env, "Certificate", news["api_name"])["masterLabel"] == "Signing for Org B"  # type: ignore[index]
    assert relabelled["fingerprint_sha256"] == outs["fingerprint_sha256"]  # the key pair stays

    refreshed_id, refreshed = refresh(provider, id_, relabelled)
    assert refreshed_id == id_ and refreshed["fingerprint_sha256"] == outs["fingerprint_sha256"]

    provider.delete(id_, relabelled)
    assert component(env, "Certificate", news["api_name"]) is None
    assert provider.read(id_, relabelled).id == ""  # gone: refresh drops it


def test_certificate_existing_is_used_and_never_deleted(env: Any) -> None:
    provider = CertificateProvider()
    made_id, made = create(provider, {"org": ORG, "api_name": unique("Corp_Cert")})
    id_, outs = create(provider, {"org": ORG, "existing": made["name"]})
    assert outs["fingerprint_sha256"] == made["fingerprint_sha256"] and outs["existing"] == made["name"]
    provider.delete(id_, outs)
    assert component(env, "Certificate", made["name"]) is not None
    provider.delete(made_id, made)


def test_certificate_existing_that_is_missing_fails_clearly(env: Any) -> None:
    with pytest.raises(salesforce.SalesforceError) as caught:
        create(CertificateProvider(), {"org": ORG, "existing": "No_Such_Cert"})
    assert caught.value.status_code == "NOT_FOUND" and "No_Such_Cert" in str(caught.value)


def test_certificate_name_taken_fails_and_suggests_existing(env: Any) -> None:
    provider = CertificateProvider()
    id_, outs = create(provider, {"org": ORG, "api_name": unique("Taken")})
    # Another certificate of that name (another label: not what this resource creates) is not ours.
    with pytest.raises(salesforce.SalesforceError) as caught:
        create(provider, {"org": ORG, "api_name": outs["name"], "label": "Somebody else's"})
    assert caught.value.status_code == "DUPLICATE_VALUE" and "existing:" in caught.value.message
    provider.delete(id_, outs)


def test_certificate_left_by_an_interrupted_create_is_taken_over(env: Any) -> None:
    # A create whose answer never reached Pulumi (a killed `pulumi up`) leaves the certificate;
    # the next create of the same resource finds exactly what it makes and takes it over.
    provider = CertificateProvider()
    news = {"org": ORG, "api_name": unique("Leftover")}
    _first_id, first = create(provider, news)
    id_, again = create(provider, news)
    assert again["fingerprint_sha256"] == first["fingerprint_sha256"]
    provider.delete(id_, again)
    assert component(env, "Certificate", news["api_name"]) is None


def test_certificate_content_formats() -> None:
    assert parse_content(b"") is None and parse_content(b"not a certificate") is None


# -- ExternalCredential --------------------------------------------------------------------------------


def test_external_credential_lifecycle(env: Any) -> None:
    provider = ExternalCredentialProvider()
    news = {"org": ORG, "api_name": unique("Ext"), "token_url": token_url(env), "principal_name": "OrgB"}
    id_, outs = create(provider, news)
    stored = component(env, "ExternalCredential", news["api_name"])
    assert stored is not None and stored["authenticationProtocol"] == "Oauth"
    params = {p["parameterType"]: p for p in stored["externalCredentialParameters"]}
    assert params["AuthProtocolVariant"]["parameterValue"] == "ClientCredentialsClientSecret"
    assert params["AuthProviderUrl"]["parameterValue"] == news["token_url"]
    assert params["NamedPrincipal"]["parameterName"] == "OrgB"
    assert outs["principal"] == f"{news['api_name']}-OrgB"

    assert not diff_changes(provider, outs, news)
    basic = update(provider, outs, {**news, "variant": "ClientCredentialsClientSecretBasic"})
    assert basic["variant"] == "ClientCredentialsClientSecretBasic"

    # Drift: somebody points the credential elsewhere in Setup; refresh shows it, up restores it.
    drifted = dict(stored)
    drifted["externalCredentialParameters"] = [
        {**p, "parameterValue": "https://elsewhere.example.com/services/oauth2/token"}
        if p["parameterType"] == "AuthProviderUrl"
        else p
        for p in stored["externalCredentialParameters"]
    ]
    env.admin.put_component(ORG, "ExternalCredential", news["api_name"], drifted)
    _, refreshed = refresh(provider, id_, basic)
    assert refreshed["token_url"].startswith("https://elsewhere")
    restored = update(provider, refreshed, {**news, "variant": "ClientCredentialsClientSecretBasic"})
    assert restored["token_url"] == news["token_url"]

    provider.delete(id_, restored)
    assert component(env, "ExternalCredential", news["api_name"]) is None


def test_external_credential_jwt_bearer_variant_signs_with_org_a_certificate(env: Any) -> None:
    certificate = CertificateProvider()
    cert_id, cert_outs = create(certificate, {"org": ORG, "api_name": unique("Jwt_Cert")})
    provider = ExternalCredentialProvider()
    audience = env.org("orgB")["instance_url"]
    news = {
        "org": ORG,
        "api_name": unique("Jwt_Ext"),
        "token_url": token_url(env),
        "principal_name": "OrgB",
        "variant": "JwtBearer",
        "signing_certificate": cert_outs["api_name"],
        "jwt_issuer": "KEYOFORGBAPP123",
        "jwt_subject": "integration@orgb.orglink.test",
        "jwt_audience": audience,
    }
    id_, outs = create(provider, news)

    stored = component(env, "ExternalCredential", news["api_name"])
    assert stored is not None
    params = {(p["parameterType"], p.get("parameterName")): p for p in stored["externalCredentialParameters"]}
    variants = [p for (ptype, _), p in params.items() if ptype == "AuthProtocolVariant"]
    assert [p["parameterValue"] for p in variants] == ["JwtBearer"]
    claims = {name: p["parameterValue"] for (ptype, name), p in params.items() if ptype == "JwtBodyClaim"}
    assert claims == {"iss": "KEYOFORGBAPP123", "sub": "integration@orgb.orglink.test", "aud": audience}
    signing = [p for (ptype, _), p in params.items() if ptype == "SigningCertificate"]
    assert [p.get("certificate") or p.get("parameterValue") for p in signing] == [cert_outs["api_name"]]
    assert outs["variant"] == "JwtBearer" and not diff_changes(provider, outs, news)

    provider.delete(id_, outs)
    certificate.delete(cert_id, cert_outs)
    assert component(env, "ExternalCredential", news["api_name"]) is None


def test_external_credential_identical_leftover_is_taken_over_other_is_refused(env: Any) -> None:
    provider = ExternalCredentialProvider()
    news = {"org": ORG, "api_name": unique("Ext"), "token_url": token_url(env)}
    id_, outs = create(provider, news)
    again_id, again = create(provider, news)  # e.g. after an interrupted `up`
    assert again["api_name"] == outs["api_name"]
    with pytest.raises(salesforce.SalesforceError) as caught:
        create(provider, {**news, "token_url": "https://other.example.com/services/oauth2/token"})
    assert caught.value.status_code == "DUPLICATE_VALUE"
    provider.delete(id_, outs)


# -- PrincipalCredential -------------------------------------------------------------------------------


@pytest.fixture
def external(env: Any) -> Iterator[dict[str, Any]]:
    provider = ExternalCredentialProvider()
    id_, outs = create(
        provider,
        {"org": ORG, "api_name": unique("Ext"), "token_url": token_url(env), "principal_name": "OrgB"},
    )
    yield outs
    provider.delete(id_, outs)


def stored_credential(env: Any, external_name: str) -> dict[str, Any] | None:
    for credential in env.admin.snapshot(ORG)["credentials"]:
        if credential["externalCredential"] == external_name:
            return dict(credential)
    return None


def test_principal_credential_lifecycle_never_exposes_the_secret(env: Any, external: dict[str, Any]) -> None:
    provider = PrincipalCredentialProvider()
    secret = "S" + secrets.token_hex(20)
    news = {
        "org": ORG,
        "external_credential": external["api_name"],
        "principal_name": "OrgB",
        "client_id": "KEY" + secrets.token_hex(8),
        "client_secret": secret,
    }
    id_, outs = create(provider, news)
    assert secret not in json.dumps(outs)
    assert outs["authentication_status"] == "Configured"
    first = stored_credential(env, external["api_name"])
    assert first is not None and first["principalName"] == "OrgB"

    assert not diff_changes(provider, outs, news)  # same secret: no call
    rotated_secret = "R" + secrets.token_hex(20)
    rotated = update(provider, outs, {**news, "client_secret": rotated_secret})
    assert rotated_secret not in json.dumps(rotated)
    second = stored_credential(env, external["api_name"])
    assert (
        second is not None and second["credentials"]["clientSecret"] != first["credentials"]["clientSecret"]
    )
    assert not diff_changes(provider, rotated, {**news, "client_secret": rotated_secret})

    refreshed_id, refreshed = refresh(provider, id_, rotated)
    assert refreshed_id == id_ and refreshed["credentials_hash"] == rotated["credentials_hash"]
    assert "client_secret" not in refreshed

    provider.delete(id_, rotated)
    assert stored_credential(env, external["api_name"]) is None
    assert provider.read(id_, rotated).id == ""
    provider.delete(id_, rotated)  # already gone: no error


# How Org A may answer "nothing stored" and a second POST (real orgs' answers are unknown).
ANSWERS = [
    ("not-configured", "other"),  # the emulator's defaults
    ("not-found", "duplicate-value"),
    ("not-configured", "duplicate-value"),
    ("not-found", "other"),
]


def digest(value: str) -> dict[str, str]:
    """How the emulator's snapshot shows a stored credential value."""
    return {"sha256": hashlib.sha256(value.encode()).hexdigest()[:16]}


def remove_in_setup(env: Any, external_credential: str, principal: str) -> None:
    """Someone clears the principal's credentials (Connect REST DELETE, as the admin)."""
    org = env.org(ORG)
    token = jwt_login(org, env.ca_bundle)["access_token"]
    query = {"externalCredential": external_credential, "principalName": principal}
    gone = requests.delete(
        f"{org['instance_url']}/services/data/v63.0/named-credentials/credential",
        params={**query, "principalType": "NamedPrincipal"},
        headers={"Authorization": f"Bearer {token}"},
        verify=env.ca_bundle,
        timeout=30,
    )
    assert gone.status_code == 204, gone.text


@pytest.fixture(params=ANSWERS, ids=["-".join(a) for a in ANSWERS])
def principal_answers(env: Any, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    names = ("principal-credential-missing", "principal-credential-duplicate")
    before = env.admin.settings(ORG)
    for name, value in zip(names, request.param, strict=True):
        env.admin.set_setting(ORG, name, value)
    yield request.param
    for name in names:
        env.admin.set_setting(ORG, name, before[name])


def test_principal_credential_works_however_the_org_answers(
    env: Any, external: dict[str, Any], principal_answers: tuple[str, str]
) -> None:
    provider = PrincipalCredentialProvider()
    news = {
        "org": ORG,
        "external_credential": external["api_name"],
        "principal_name": "OrgB",
        "client_id": "KEY" + secrets.token_hex(8),
        "client_secret": "S" + secrets.token_hex(20),
    }
    id_, outs = create(provider, news)  # nothing stored: POST
    assert outs["authentication_status"] == "Configured"
    # A create that finds credentials stored (an `up` interrupted after its POST): the org refuses
    # the POST, orglink sees the principal holds credentials and PUTs instead.
    again_secret = "A" + secrets.token_hex(20)
    _, again = create(provider, {**news, "client_secret": again_secret})
    first = stored_credential(env, external["api_name"])
    assert first is not None and first["credentials"]["clientSecret"] == digest(again_secret)

    remove_in_setup(env, external["api_name"], "OrgB")
    gone_id, _ = refresh(provider, id_, again)
    assert gone_id == ""  # a 404 and a 200 NotConfigured both read as "nothing stored"
    # An update that finds nothing stored: the PUT is refused, orglink POSTs.
    rotated_secret = "R" + secrets.token_hex(20)
    rotated = update(provider, again, {**news, "client_secret": rotated_secret})
    second = stored_credential(env, external["api_name"])
    assert second is not None and second["credentials"]["clientSecret"] == digest(rotated_secret)
    assert refresh(provider, id_, rotated)[0] == id_

    provider.delete(id_, rotated)
    assert stored_credential(env, external["api_name"]) is None
    provider.delete(id_, rotated)  # nothing stored any more: no error


def test_principal_credential_other_refusals_are_not_taken_for_a_duplicate(env: Any) -> None:
    provider = PrincipalCredentialProvider()
    news = {
        "org": ORG,
        "external_credential": unique("No_Such_Ext"),
        "principal_name": "OrgB",
        "client_id": "KEY" + secrets.token_hex(8),
        "client_secret": "S" + secrets.token_hex(20),
    }
    with pytest.raises(salesforce.SalesforceError) as caught:
        create(provider, news)
    assert caught.value.status_code == "NOT_FOUND" and news["external_credential"] in caught.value.message
    assert news["client_secret"] not in str(caught.value)


# -- NamedCredential -----------------------------------------------------------------------------------


def test_named_credential_lifecycle(env: Any, external: dict[str, Any]) -> None:
    provider = NamedCredentialProvider()
    news = {
        "org": ORG,
        "api_name": unique("Named"),
        "url": env.org("orgB")["instance_url"],
        "external_credential": external["api_name"],
    }
    id_, outs = create(provider, news)
    stored = component(env, "NamedCredential", news["api_name"])
    assert stored is not None and stored["namedCredentialType"] == "SecuredEndpoint"
    assert outs["url"] == news["url"] and outs["external_credential"] == external["api_name"]

    assert not diff_changes(provider, outs, news)
    disabled = update(provider, outs, {**news, "callout_enabled": False})
    assert component(env, "NamedCredential", news["api_name"])["calloutStatus"] == "Disabled"  # type: ignore[index]
    assert refresh(provider, id_, disabled)[1]["callout_enabled"] is False

    provider.delete(id_, disabled)
    assert component(env, "NamedCredential", news["api_name"]) is None


def test_named_credential_with_unknown_external_credential_fails_clearly(env: Any) -> None:
    news = {
        "org": ORG,
        "api_name": unique("Named"),
        "url": "https://x.example.com",
        "external_credential": "Nope",
    }
    with pytest.raises(salesforce.SalesforceError) as caught:
        create(NamedCredentialProvider(), news)
    assert caught.value.status_code == "INVALID_CROSS_REFERENCE_KEY" or "Nope" in caught.value.message


# -- PrincipalAccess -----------------------------------------------------------------------------------


def access_entries(env: Any, permission_set: str) -> list[str]:
    found = component(env, "PermissionSet", permission_set) or {}
    return [e["externalCredentialPrincipal"] for e in found.get("externalCredentialPrincipalAccesses") or []]


def test_principal_access_creates_and_deletes_its_own_permission_set(
    env: Any, external: dict[str, Any]
) -> None:
    provider = PrincipalAccessProvider()
    news = {"org": ORG, "permission_set": unique("Access"), "principal": external["principal"]}
    before = env.admin.snapshot(ORG)
    id_, outs = create(provider, news)
    assert outs["created_permission_set"] is True
    assert access_entries(env, news["permission_set"]) == [external["principal"]]
    assert not diff_changes(provider, outs, news)
    relabelled = update(provider, outs, {**news, "label": "Carrier access"})
    assert component(env, "PermissionSet", news["permission_set"])["label"] == "Carrier access"  # type: ignore[index]
    assert provider.read(id_, relabelled).id == id_
    provider.delete(id_, relabelled)
    assert component(env, "PermissionSet", news["permission_set"]) is None
    after = env.admin.snapshot(ORG)
    assert after["records"]["PermissionSet"] == before["records"]["PermissionSet"]


def test_principal_access_in_an_existing_permission_set_touches_only_its_entry(
    env: Any, external: dict[str, Any]
) -> None:
    name = unique("Shared")
    env.admin.put_component(ORG, "PermissionSet", name, {"label": "Shared", "description": "someone else's"})
    provider = PrincipalAccessProvider()
    id_, outs = create(provider, {"org": ORG, "permission_set": name, "principal": external["principal"]})
    assert outs["created_permission_set"] is False
    assert access_entries(env, name) == [external["principal"]]
    provider.delete(id_, outs)
    kept = component(env, "PermissionSet", name)
    assert (
        kept is not None and kept.get("description") == "someone else's" and access_entries(env, name) == []
    )
    # Removed outside Pulumi: refresh drops the resource.
    assert provider.read(id_, outs).id == ""
    env.admin.delete_component(ORG, "PermissionSet", name)


# -- PermissionSetAssignment ---------------------------------------------------------------------------


def assignments(env: Any, username: str, permission_set: str) -> list[str]:
    rows = env.admin.query(
        ORG,
        "SELECT Id FROM PermissionSetAssignment WHERE Assignee.Username = "
        f"'{username}' AND PermissionSet.Name = '{permission_set}'",
    )["records"]
    return [row["Id"] for row in rows]


@pytest.fixture
def own_access(env: Any, external: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A permission set of this test's own, with the principal's access (as the integration makes)."""
    provider = PrincipalAccessProvider()
    id_, outs = create(
        provider, {"org": ORG, "permission_set": unique("Access"), "principal": external["principal"]}
    )
    yield outs
    provider.delete(id_, outs)


def test_assignment_lifecycle_and_drift(env: Any, own_access: dict[str, Any]) -> None:
    provider = PermissionSetAssignmentProvider()
    user, permission_set = "standard@orga.orglink.test", own_access["permission_set"]
    news = {"org": ORG, "permission_set": permission_set, "username": "Standard@OrgA.orglink.test",
            "owned_permission_set": True}  # fmt: skip
    before = env.admin.snapshot(ORG)["records"]["PermissionSetAssignment"]
    id_, outs = create(provider, news)
    assert assignments(env, user, permission_set) == [id_] and outs["pre_existing"] is False
    assert outs["username"] == user  # usernames compare in lower case, as Salesforce stores them
    assert not diff_changes(provider, outs, news)
    assert refresh(provider, id_, outs)[0] == id_
    # Unassigned in Setup: refresh sees it gone, and the next create assigns it again.
    assert env.admin.delete_record(ORG, "PermissionSetAssignment", id_) is True
    assert refresh(provider, id_, outs)[0] == ""
    again_id, again = create(provider, news)
    assert assignments(env, user, permission_set) == [again_id]
    provider.delete(again_id, again)
    assert assignments(env, user, permission_set) == []
    assert env.admin.snapshot(ORG)["records"]["PermissionSetAssignment"] == before


def test_assignment_found_in_an_owned_permission_set_is_taken_over(
    env: Any, own_access: dict[str, Any]
) -> None:
    """An assignment in the stack's own permission set (an interrupted up's, or made by hand) goes on
    destroy: the permission set goes too."""
    provider = PermissionSetAssignmentProvider()
    user, permission_set = "standard@orga.orglink.test", own_access["permission_set"]
    client = salesforce.org(ORG)
    user_id = client.query(f"SELECT Id FROM User WHERE Username = '{user}'")[0]["Id"]
    ps_id = client.query(f"SELECT Id FROM PermissionSet WHERE Name = '{permission_set}'")[0]["Id"]
    made = client.create_record("PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": ps_id})
    news = {"org": ORG, "permission_set": permission_set, "username": user, "owned_permission_set": True}
    id_, outs = create(provider, news)
    assert id_ == made and outs["pre_existing"] is False
    provider.delete(id_, outs)
    assert assignments(env, user, permission_set) == []


def test_assignment_that_existed_before_is_adopted_and_left(env: Any) -> None:
    provider = PermissionSetAssignmentProvider()
    user, permission_set = "standard@orga.orglink.test", "Orglink_Integration_Access"
    client = salesforce.org(ORG)
    user_id = client.query(f"SELECT Id FROM User WHERE Username = '{user}'")[0]["Id"]
    ps_id = client.query(f"SELECT Id FROM PermissionSet WHERE Name = '{permission_set}'")[0]["Id"]
    made = client.create_record("PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": ps_id})
    try:
        id_, outs = create(provider, {"org": ORG, "permission_set": permission_set, "username": user})
        assert id_ == made and outs["pre_existing"] is True
        provider.delete(id_, outs)
        assert assignments(env, user, permission_set) == [made]
    finally:
        client.delete_record("PermissionSetAssignment", made)


@pytest.mark.parametrize(
    ("username", "code"),
    [("nobody@orga.orglink.test", "NOT_FOUND"), ("inactive@orga.orglink.test", "INACTIVE_USER")],
)
def test_assignment_to_an_unknown_or_inactive_user_fails_clearly(env: Any, username: str, code: str) -> None:
    news = {"org": ORG, "permission_set": "Orglink_Integration_Access", "username": username}
    with pytest.raises(salesforce.SalesforceError) as caught:
        create(PermissionSetAssignmentProvider(), news)
    assert caught.value.status_code == code and caught.value.field == "username"
    assert username in caught.value.message


# -- Verification (with a real connected app in orgB) -----------------------------------------------------


@pytest.fixture
def wired(env: Any, external: dict[str, Any], connected_app: Any) -> Iterator[dict[str, Any]]:
    """orgB app with client credentials; orgA principal credentials and named credential pointing at it."""
    app = connected_app(
        "orgB",
        extra={"oauthPolicy": {"ipRelaxation": "BYPASS", "refreshTokenPolicy": "infinite"}},
        isClientCredentialEnabled=True,
        oauthClientCredentialUser=env.org("orgB")["admin_username"],
    )
    principal = PrincipalCredentialProvider()
    p_id, p_outs = create(
        principal,
        {"org": ORG, "external_credential": external["api_name"], "principal_name": "OrgB",
         "client_id": app.consumer_key, "client_secret": app.consumer_secret},
    )  # fmt: skip
    named = NamedCredentialProvider()
    n_id, n_outs = create(
        named,
        {"org": ORG, "api_name": unique("Named"), "url": env.org("orgB")["instance_url"],
         "external_credential": external["api_name"]},
    )  # fmt: skip
    # The verification's Apex runs as orglink's connection user (the admin): it needs the access.
    access = PrincipalAccessProvider()
    a_id, a_outs = create(
        access, {"org": ORG, "permission_set": unique("Access"), "principal": external["principal"]}
    )
    assign = PermissionSetAssignmentProvider()
    admin = env.org(ORG)["admin_username"]
    s_id, s_outs = create(
        assign,
        {
            "org": ORG,
            "permission_set": a_outs["permission_set"],
            "username": admin,
            "owned_permission_set": True,
        },
    )
    yield {"app": app, "named_credential": n_outs["api_name"], "assignment_id": s_id}
    assign.delete(s_id, s_outs)
    access.delete(a_id, a_outs)
    named.delete(n_id, n_outs)
    principal.delete(p_id, p_outs)
    env.admin.delete_component("orgB", "ConnectedApp", app.name)


def verification_inputs(env: Any, wired: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "org_a": "orgA",
        "org_b": "orgB",
        "token_url": token_url(env),
        "consumer_key": wired["app"].consumer_key,
        "consumer_secret": wired["app"].consumer_secret,
        "named_credential": wired["named_credential"],
        "timeout_s": 0,
        **overrides,
    }


def test_verification_proves_token_and_callout(env: Any, wired: dict[str, Any]) -> None:
    provider = VerificationProvider()
    news = verification_inputs(env, wired)
    id_, outs = create(provider, news)
    assert outs["ok"] is True and outs["flow"] == "client_credentials"
    assert "issued a client-credentials token" in outs["detail"] and "callout:" in outs["detail"]
    assert wired["app"].consumer_secret not in json.dumps(outs)
    # A no-op up makes no call: diff reports nothing, so create/update do not run.
    env.admin.mark("orgA")
    env.admin.mark("orgB")
    assert not diff_changes(provider, outs, news)
    assert refresh(provider, id_, outs)[1]["ok"] is True
    assert all(n == 0 for n in env.admin.counters("orgA").values())
    assert all(n == 0 for n in env.admin.counters("orgB").values())


def test_verification_failure_fails_the_up_or_is_reported(env: Any, wired: dict[str, Any]) -> None:
    provider = VerificationProvider()
    wrong = verification_inputs(env, wired, consumer_secret="WRONG" + secrets.token_hex(8))
    with pytest.raises(salesforce.SalesforceError) as caught:
        create(provider, wrong)
    assert caught.value.status_code == "VERIFICATION_FAILED" and "invalid_client" in caught.value.message
    assert wrong["consumer_secret"] not in str(caught.value)
    _id, outs = create(provider, {**wrong, "required": False})
    assert outs["ok"] is False and "refused a client-credentials token" in outs["detail"]
    assert diff_changes(provider, outs, {**wrong, "required": False})  # a failed verification runs again


def test_verification_reports_a_broken_callout(env: Any, wired: dict[str, Any]) -> None:
    news = verification_inputs(env, wired, named_credential=unique("Missing"), required=False)
    _id, outs = create(VerificationProvider(), news)
    assert outs["ok"] is False and "could not call Org B" in outs["detail"]


def test_verification_callout_needs_the_running_users_access(env: Any, wired: dict[str, Any]) -> None:
    """Without the assignment, Org A's callout is refused with Salesforce's words and orglink says
    what to do about it."""
    env.admin.delete_record(ORG, "PermissionSetAssignment", wired["assignment_id"])
    news = verification_inputs(env, wired, checks="callout", required=False)
    _id, outs = create(VerificationProvider(), news)
    assert outs["ok"] is False
    assert "We couldn't access the credential(s)" in outs["detail"] and "callout_users" in outs["detail"]
