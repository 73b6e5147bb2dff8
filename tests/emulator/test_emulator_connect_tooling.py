"""Connect REST (app OAuth credentials, named credential principals) and Tooling executeAnonymous callouts."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceError

from tests.emulator_fixtures import API_VERSION


def _principal_body(ext: str, client_id: str, secret: str) -> dict:
    return {
        "externalCredential": ext,
        "principalName": "OrgB_Principal",
        "principalType": "NamedPrincipal",
        "authenticationProtocol": "OAuth",
        "authenticationProtocolVariant": "ClientCredentialsClientSecret",
        "credentials": {
            "clientId": {"value": client_id, "encrypted": False},
            "clientSecret": {"value": secret, "encrypted": True},
        },
    }


def _external_credential(
    emulator, org: str, token_url: str, variant: str = "ClientCredentialsClientSecret"
) -> str:
    name = "Ext_" + secrets.token_hex(4)
    emulator.admin.put_component(
        org,
        "ExternalCredential",
        name,
        {
            "label": name,
            "authenticationProtocol": "Oauth",
            "externalCredentialParameters": [
                {
                    "parameterName": "Oauth",
                    "parameterType": "AuthProtocolVariant",
                    "parameterValue": variant,
                    "sequenceNumber": 1,
                },
                {
                    "parameterName": "AuthProviderUrl",
                    "parameterType": "AuthProviderUrl",
                    "parameterValue": token_url,
                    "sequenceNumber": 1,
                },
                {"parameterName": "OrgB_Principal", "parameterType": "NamedPrincipal", "sequenceNumber": 1},
            ],
        },
    )
    return name


def _named_credential(emulator, org: str, url: str, ext: str) -> str:
    name = "NC_" + secrets.token_hex(4)
    emulator.admin.put_component(
        org,
        "NamedCredential",
        name,
        {
            "label": name,
            "namedCredentialType": "SecuredEndpoint",
            "calloutStatus": "Enabled",
            "generateAuthorizationHeader": True,
            "namedCredentialParameters": [
                {"parameterName": "Url", "parameterType": "Url", "parameterValue": url},
                {
                    "parameterName": "ExternalCredential",
                    "parameterType": "Authentication",
                    "externalCredential": ext,
                },
            ],
        },
    )
    return name


# -- app OAuth credentials ------------------------------------------------------------------------
def test_app_credentials_key_and_secret_behind_the_org_setting(emulator, sf_login, connected_app) -> None:
    app = connected_app("orgA")
    sf = sf_login("orgA")
    app_id = sf.query(f"SELECT Id FROM ConnectedApplication WHERE Name = '{app.name}'")["records"][0]["Id"]
    consumers = sf.restful(f"apps/oauth/credentials/{app_id}")["consumers"]
    consumer = consumers[0]["id"]
    key_only = sf.restful(f"apps/oauth/credentials/{app_id}/{consumer}", params={"part": "key"})
    assert key_only["key"] == app.consumer_key and key_only["secret"] is None
    with pytest.raises(SalesforceError) as err:
        sf.restful(f"apps/oauth/credentials/{app_id}/{consumer}", params={"part": "keyandsecret"})
    assert err.value.status == 403
    emulator.admin.set_setting("orgA", "enable-client-secret-in-rest-api", True)
    try:
        both = sf.restful(f"apps/oauth/credentials/{app_id}/{consumer}", params={"part": "keyandsecret"})
    finally:
        emulator.admin.set_setting("orgA", "enable-client-secret-in-rest-api", False)
    assert set(both) == {"id", "key", "name", "secret", "url"}
    assert both["key"] == app.consumer_key and both["secret"] == app.consumer_secret


# -- named credential principal credentials -------------------------------------------------------
def _credentials_endpoint(emulator, session_id: str) -> tuple[str, dict[str, str]]:
    """Org A's named-credentials credential resource, and the headers of a JSON call to it."""
    url = (
        emulator.orgs["orgA"]["instance_url"] + f"/services/data/v{API_VERSION}/named-credentials/credential"
    )
    return url, {"Authorization": f"Bearer {session_id}", "Content-Type": "application/json"}


MISSING, DUPLICATE = "principal-credential-missing", "principal-credential-duplicate"
# (what "nothing stored" answers, what a second POST answers): every combination the org can play.
ANSWERS = [
    ("not-configured", "other"),  # the defaults
    ("not-found", "duplicate-value"),
    ("not-configured", "duplicate-value"),
    ("not-found", "other"),
]


@pytest.fixture(params=ANSWERS, ids=["-".join(a) for a in ANSWERS])
def principal_answers(emulator, request) -> Iterator[tuple[str, str]]:
    """Org A plays one way of answering for principal credentials; the defaults come back after."""
    missing, duplicate = request.param
    before = emulator.admin.settings("orgA")
    emulator.admin.set_setting("orgA", MISSING, missing)
    emulator.admin.set_setting("orgA", DUPLICATE, duplicate)
    yield missing, duplicate
    emulator.admin.set_setting("orgA", MISSING, before[MISSING])
    emulator.admin.set_setting("orgA", DUPLICATE, before[DUPLICATE])


def test_principal_credential_answers_default_to_the_less_convenient_ones(emulator) -> None:
    settings = emulator.admin.settings("orgA")
    assert (settings[MISSING], settings[DUPLICATE]) == ANSWERS[0]


def test_principal_credentials_crud_never_echo_secrets(emulator, sf_login, principal_answers) -> None:
    missing, duplicate = principal_answers
    ext = _external_credential(emulator, "orgA", "https://127.0.0.1:1/services/oauth2/token")
    sf = sf_login("orgA")
    base, headers = _credentials_endpoint(emulator, sf.session_id)
    params = {"externalCredential": ext, "principalName": "OrgB_Principal", "principalType": "NamedPrincipal"}

    def nothing_stored_answer() -> None:
        got = requests.get(base, params=params, headers=headers, verify=emulator.ca_bundle)
        if missing == "not-found":
            assert got.status_code == 404 and got.json()[0]["errorCode"] == "NOT_FOUND"
        else:
            assert got.status_code == 200 and got.json()["authenticationStatus"] == "NotConfigured"
            assert got.json()["credentials"] == {}

    nothing_stored_answer()
    body = _principal_body(ext, "client-id-1", "top-secret-value")
    created = requests.post(base, data=json.dumps(body), headers=headers, verify=emulator.ca_bundle)
    assert created.status_code == 201, created.text
    assert "top-secret-value" not in created.text
    assert created.json()["authenticationStatus"] == "Configured"
    assert created.json()["credentials"]["clientId"]["value"] == "client-id-1"
    dup = requests.post(base, data=json.dumps(body), headers=headers, verify=emulator.ca_bundle)
    expected_code = "DUPLICATE_VALUE" if duplicate == "duplicate-value" else "INVALID_INPUT"
    assert dup.status_code == 400 and dup.json()[0]["errorCode"] == expected_code
    body["credentials"]["clientSecret"]["value"] = "another-secret"
    replaced = requests.put(base, data=json.dumps(body), headers=headers, verify=emulator.ca_bundle)
    assert replaced.status_code == 200 and "another-secret" not in replaced.text
    got = requests.get(base, params=params, headers=headers, verify=emulator.ca_bundle)
    assert got.status_code == 200 and "secret-value" not in got.text and "another-secret" not in got.text
    assert got.json()["authenticationStatus"] == "Configured"
    assert requests.delete(base, params=params, headers=headers, verify=emulator.ca_bundle).status_code == 204
    nothing_stored_answer()
    # A principal the external credential does not have is not found, whatever the setting.
    other = {**params, "principalName": "No_Such_Principal"}
    assert requests.get(base, params=other, headers=headers, verify=emulator.ca_bundle).status_code == 404


# -- external credentials through the Metadata API ------------------------------------------------
def _oauth_credential(name: str, *parameters: dict) -> dict[str, Any]:
    return {
        "fullName": name,
        "label": name,
        "authenticationProtocol": "Oauth",
        "externalCredentialParameters": list(parameters),
    }


VARIANTS = ["ClientCredentialsClientSecretBasic", "ClientCredentialsClientSecret", None]


@pytest.mark.parametrize("variant", VARIANTS)
def test_oauth_external_credential_without_protocol_parameters_is_refused(
    emulator, sf_login, variant
) -> None:
    sf = sf_login("orgA")
    name = "Ext_" + secrets.token_hex(4)
    given = [{"parameterName": "OrgB", "parameterType": "NamedPrincipal", "sequenceNumber": 1}]
    if variant:
        given.append(
            {"parameterName": "Oauth", "parameterType": "AuthProtocolVariant", "parameterValue": variant}
        )
    with pytest.raises(Exception) as info:
        sf.mdapi.ExternalCredential.create(sf.mdapi.ExternalCredential(**_oauth_credential(name, *given)))
    protocol = f"Oauth {variant}" if variant else "Oauth"
    assert (
        f'The authentication protocol "{protocol}" requires the following external credential parameter '
        "types: AuthProtocolVariant, AuthProviderUrl."
    ) in str(info.value)
    assert emulator.admin.get_component("orgA", "ExternalCredential", name) is None  # nothing was made


def test_external_credential_reads_carry_parameter_groups(sf_login) -> None:
    sf = sf_login("orgA")
    name = "Ext_" + secrets.token_hex(4)
    sf.mdapi.ExternalCredential.create(
        sf.mdapi.ExternalCredential(
            **_oauth_credential(
                name,
                {"parameterName": "Oauth", "parameterType": "AuthProtocolVariant",
                 "parameterValue": "ClientCredentialsClientSecret"},
                {"parameterName": "AuthProviderUrl", "parameterType": "AuthProviderUrl",
                 "parameterValue": "https://127.0.0.1:1/services/oauth2/token"},
                {"parameterName": "OrgB", "parameterType": "NamedPrincipal", "sequenceNumber": 1},
            )
        )
    )  # fmt: skip
    read = sf.mdapi.ExternalCredential.read(name)
    groups = {p.parameterType: p.parameterGroup for p in read.externalCredentialParameters}
    assert groups == {
        "AuthProtocolVariant": "DefaultGroup",
        "AuthProviderUrl": "DefaultGroup",
        "NamedPrincipal": "OrgB",
    }
    sf.mdapi.ExternalCredential.delete([name])


def test_deleting_the_external_credential_takes_its_principal_credentials(emulator, sf_login) -> None:
    ext = _external_credential(emulator, "orgA", "https://127.0.0.1:1/services/oauth2/token")
    sf = sf_login("orgA")
    base, headers = _credentials_endpoint(emulator, sf.session_id)
    body = _principal_body(ext, "client-id-1", "top-secret-value")
    assert requests.post(base, data=json.dumps(body), headers=headers, verify=emulator.ca_bundle).ok
    sf.mdapi.ExternalCredential.delete([ext])  # raises unless Salesforce answered success
    assert emulator.admin.get_component("orgA", "ExternalCredential", ext) is None
    params = {"externalCredential": ext, "principalName": "OrgB_Principal", "principalType": "NamedPrincipal"}
    got = requests.get(base, params=params, headers=headers, verify=emulator.ca_bundle)
    assert got.status_code == 404 and got.json()[0]["errorCode"] == "NOT_FOUND"


def test_principal_credentials_need_an_existing_external_credential(emulator, sf_login) -> None:
    sf = sf_login("orgA")
    base = (
        emulator.orgs["orgA"]["instance_url"] + f"/services/data/v{API_VERSION}/named-credentials/credential"
    )
    resp = requests.post(
        base,
        data=json.dumps(_principal_body("Missing_Ext", "a", "b")),
        headers={"Authorization": f"Bearer {sf.session_id}"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 404 and resp.json()[0]["errorCode"] == "NOT_FOUND"


# -- Tooling executeAnonymous ---------------------------------------------------------------------
def _access_permission_set(sf, ext: str) -> tuple[str, str]:
    """A permission set giving access to the principal, created through the Metadata API as orglink
    does; (its API name, its PermissionSet record Id). Assigned to nobody."""
    name = "Callout_Access_" + secrets.token_hex(4)
    access = sf.mdapi.PermissionSetExternalCredentialPrincipalAccess(
        enabled=True, externalCredentialPrincipal=f"{ext}-OrgB_Principal"
    )
    sf.mdapi.PermissionSet.create(
        [sf.mdapi.PermissionSet(fullName=name, label=name, externalCredentialPrincipalAccesses=[access])]
    )
    record = sf.query(f"SELECT Id FROM PermissionSet WHERE Name = '{name}'")["records"][0]
    return name, record["Id"]


def _user_id(sf, username: str) -> str:
    return str(sf.query(f"SELECT Id FROM User WHERE Username = '{username}'")["records"][0]["Id"])


def _assign_access(emulator, sf, nc: str) -> str:
    """Assign the admin a permission set with access to the named credential's principal; the
    assignment's Id."""
    ext = emulator.admin.get_component("orgA", "NamedCredential", nc)["namedCredentialParameters"][1][
        "externalCredential"
    ]
    _name, ps_id = _access_permission_set(sf, ext)
    admin_id = _user_id(sf, emulator.orgs["orgA"]["admin_username"])
    return str(sf.PermissionSetAssignment.create({"AssigneeId": admin_id, "PermissionSetId": ps_id})["id"])


def _wire_callout(emulator, sf, connected_app, secret_override: str | None = None) -> str:
    """orgA named credential -> orgB client-credentials app; returns the named credential name.
    The caller still needs principal access (``_assign_access``)."""
    org_b = emulator.orgs["orgB"]
    app = connected_app(
        "orgB", isClientCredentialEnabled=True, oauthClientCredentialUser="integration@orgb.orglink.test"
    )
    ext = _external_credential(emulator, "orgA", org_b["token_url"])
    nc = _named_credential(emulator, "orgA", org_b["instance_url"], ext)
    base = (
        emulator.orgs["orgA"]["instance_url"] + f"/services/data/v{API_VERSION}/named-credentials/credential"
    )
    resp = requests.post(
        base,
        data=json.dumps(_principal_body(ext, app.consumer_key, secret_override or app.consumer_secret)),
        headers={"Authorization": f"Bearer {sf.session_id}"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 201
    return nc


def _apex(nc: str, path: str) -> str:
    return (
        f"HttpRequest req = new HttpRequest(); req.setEndpoint('callout:{nc}{path}'); req.setMethod('GET'); "
        "HttpResponse res = new Http().send(req); System.debug(res.getBody());"
    )


def test_execute_anonymous_callout_through_named_credential(emulator, sf_login, connected_app) -> None:
    sf = sf_login("orgA")
    nc = _wire_callout(emulator, sf, connected_app)
    _assign_access(emulator, sf, nc)
    result = sf.restful(
        "tooling/executeAnonymous/", params={"anonymousBody": _apex(nc, "/services/oauth2/userinfo")}
    )
    assert result["compiled"] is True and result["success"] is True, result
    assert result["calloutResponse"]["statusCode"] == 200
    assert (
        json.loads(result["calloutResponse"]["body"])["preferred_username"] == "integration@orgb.orglink.test"
    )
    assert "CALLOUT_RESPONSE" in result["debugLog"]


def test_execute_anonymous_token_failure_is_a_callout_exception(emulator, sf_login, connected_app) -> None:
    sf = sf_login("orgA")
    nc = _wire_callout(emulator, sf, connected_app, secret_override="wrong-secret-123")
    _assign_access(emulator, sf, nc)
    result = sf.restful("tooling/executeAnonymous/", params={"anonymousBody": _apex(nc, "/services/data/")})
    assert result["compiled"] is True and result["success"] is False
    assert result["exceptionMessage"].startswith("System.CalloutException: Unable to fetch the OAuth token")
    assert "invalid_client" in result["exceptionMessage"]
    assert "wrong-secret-123" not in json.dumps(result)


def test_callout_needs_the_principal_access_assigned(emulator, sf_login, connected_app) -> None:
    """Even a System Administrator calls out only with a permission set that holds the principal's
    access assigned: defined but unassigned does nothing, and removing the assignment takes it away."""
    sf = sf_login("orgA")
    nc = _wire_callout(emulator, sf, connected_app)
    ext = emulator.admin.get_component("orgA", "NamedCredential", nc)["namedCredentialParameters"][1][
        "externalCredential"
    ]
    refusal = (
        "System.CalloutException: We couldn't access the credential(s). You might not have the required "
        f'permissions, or the external credential "{ext}" might not exist.'
    )
    apex = {"anonymousBody": _apex(nc, "/services/data/")}
    emulator.admin.mark("orgB")
    before = sf.restful("tooling/executeAnonymous/", params=apex)
    assert before["compiled"] is True and before["success"] is False
    assert before["exceptionMessage"] == refusal
    _name, ps_id = _access_permission_set(sf, ext)
    unassigned = sf.restful("tooling/executeAnonymous/", params=apex)
    assert unassigned["exceptionMessage"] == refusal
    assert emulator.admin.counters("orgB").get("oauth.write", 0) == 0  # no token was asked for
    admin_id = _user_id(sf, emulator.orgs["orgA"]["admin_username"])
    assignment = sf.PermissionSetAssignment.create({"AssigneeId": admin_id, "PermissionSetId": ps_id})["id"]
    granted = sf.restful("tooling/executeAnonymous/", params=apex)
    assert granted["success"] is True and granted["calloutResponse"]["statusCode"] == 200, granted
    sf.PermissionSetAssignment.delete(assignment)
    assert sf.restful("tooling/executeAnonymous/", params=apex)["exceptionMessage"] == refusal


def test_callout_access_is_the_running_users(emulator, sf_login, connected_app) -> None:
    """Another user's assignment does not help: the check is of the session's own user."""
    sf = sf_login("orgA")
    nc = _wire_callout(emulator, sf, connected_app)
    ext = emulator.admin.get_component("orgA", "NamedCredential", nc)["namedCredentialParameters"][1][
        "externalCredential"
    ]
    _name, ps_id = _access_permission_set(sf, ext)
    other = _user_id(sf, "standard@orga.orglink.test")
    assignment = sf.PermissionSetAssignment.create({"AssigneeId": other, "PermissionSetId": ps_id})["id"]
    result = sf.restful("tooling/executeAnonymous/", params={"anonymousBody": _apex(nc, "/services/data/")})
    assert result["success"] is False and "We couldn't access the credential(s)" in result["exceptionMessage"]
    sf.PermissionSetAssignment.delete(assignment)


def test_execute_anonymous_other_apex_does_not_compile(sf_login) -> None:
    sf = sf_login("orgA")
    result = sf.restful("tooling/executeAnonymous/", params={"anonymousBody": "System.debug('hi');"})
    assert result["compiled"] is False and result["success"] is False
    assert "does not run Apex" in result["compileProblem"]
    assert set(result) >= {
        "line",
        "column",
        "compiled",
        "success",
        "compileProblem",
        "exceptionStackTrace",
        "exceptionMessage",
    }
