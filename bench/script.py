"""The script an admin would write instead of orglink: seed 000's runbook, serially, with simple-salesforce.

For each of K integrations, one call per object in the runbook's order (README, "The two runbooks,
step by step"): Org A makes the certificate and the script reads its public half; Org B gets the
connected app with everything the runbook sets (OAuth settings, the certificate, policies, the
run-as user, a consumer key and secret the script generates, as Setup lets an admin paste them) and
its profile access row; Org A gets the external credential, the named credential, the access
permission set, its assignment to the admin, and the principal's client id and secret; then the
proof that it works (an Org B client-credentials token and API call, an Org A callout). Nothing is
checked first and nothing runs in parallel: that is the baseline orglink is measured against.

`change` is the one-setting change of the bench (the first app's session timeout, 24 h -> 12 h):
one login and one update of the app, whose whole definition the script holds. `destroy` deletes
what `up` made, one call per object.

Log-ins use the JWT bearer flow through each emulator org's seeded CI app, one per org per run;
nothing is printed, and the consumer secrets stay in this process.
"""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass
from typing import Any

import requests
from simple_salesforce import Salesforce

from tests.emulator_fixtures import jwt_login

API_VERSION = "63.0"
PROFILE = "System Administrator"
CHANGED_SESSION_TIMEOUT = 720


@dataclass(frozen=True)
class Integration:
    """Names of one integration as the stack derives them (`<Name>_<stack>`)."""

    label: str
    api_name: str

    @property
    def access_set(self) -> str:
        return f"{self.api_name}_Access"


def integrations(k: int, stack: str = "bench") -> list[Integration]:
    return [
        Integration(f"Bench App {i:02d} ({stack})", f"Bench_App_{i:02d}_{stack}") for i in range(1, k + 1)
    ]


class Org:
    """One logged-in org (REST and Metadata API through simple-salesforce)."""

    def __init__(self, org: dict[str, Any]) -> None:
        self.info = org
        token = jwt_login(org, str(org["ca_bundle"]))
        self.sf = Salesforce(
            instance_url=token["instance_url"], session_id=token["access_token"], version=API_VERSION
        )

    @property
    def md(self) -> Any:
        return self.sf.mdapi

    def one_id(self, soql: str) -> str:
        records = self.sf.query(soql)["records"]
        if not records:
            raise RuntimeError(f"no record for {soql}")
        return str(records[0]["Id"])


def _sobject(org: Org, name: str) -> Any:
    return getattr(org.sf, name)


def _generated(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _certificate_body(content: str) -> str:
    """The certificate's base64 DER, as the app's `certificate` takes it, from readMetadata's content."""
    pem = base64.b64decode(content).decode()
    return "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))


def connected_app(md: Any, it: Integration, certificate: str, key: str | None, secret: str | None,
                  run_as: str, session_timeout: int = 1440) -> Any:  # fmt: skip
    """Runbook steps 4-18 in one component: the app, its OAuth settings, policies and run-as user.
    The key and secret go only into the create: an org refuses them on an existing app."""
    oauth = md.ConnectedAppOauthConfig(
        callbackUrl="http://localhost:8081/callback",
        certificate=certificate,
        consumerKey=key,
        consumerSecret=secret,
        isAdminApproved=True,
        isClientCredentialEnabled=True,
        isCodeCredentialEnabled=False,
        isCodeCredentialPostOnly=False,
        isConsumerSecretOptional=False,
        isIntrospectAllTokens=False,
        isNamedUserJwtEnabled=False,
        isPkceRequired=True,
        isRefreshTokenRotationEnabled=True,
        isSecretRequiredForRefreshToken=True,
        isSecretRequiredForTokenExchange=True,
        isTokenExchangeEnabled=True,
        oauthClientCredentialUser=run_as,
        scopes=["Api", "RefreshToken"],
    )
    policy = md.ConnectedAppOauthPolicy(
        ipRelaxation="BYPASS", isTokenExchangeFlowEnabled=True, refreshTokenPolicy="infinite"
    )
    return md.ConnectedApp(
        fullName=it.api_name,
        label=it.label,
        contactEmail=run_as,
        oauthConfig=oauth,
        oauthPolicy=policy,
        sessionPolicy=md.ConnectedAppSessionPolicy(sessionTimeout=session_timeout),
    )


def external_credential(md: Any, it: Integration, token_url: str) -> Any:
    parameter = md.ExternalCredentialParameter
    return md.ExternalCredential(
        fullName=it.api_name,
        label=it.label,
        authenticationProtocol="Oauth",
        externalCredentialParameters=[
            parameter(parameterGroup="DefaultGroup", parameterName="Oauth",
                      parameterType="AuthProtocolVariant", parameterValue="ClientCredentialsClientSecret"),
            parameter(parameterGroup="DefaultGroup", parameterName="AuthProviderUrl",
                      parameterType="AuthProviderUrl", parameterValue=token_url),
            parameter(parameterGroup="OrgB", parameterName="OrgB", parameterType="NamedPrincipal",
                      sequenceNumber=1),
        ],
    )  # fmt: skip


def named_credential(md: Any, it: Integration, url: str) -> Any:
    parameter = md.NamedCredentialParameter
    return md.NamedCredential(
        fullName=it.api_name,
        label=it.label,
        allowMergeFieldsInBody=False,
        allowMergeFieldsInHeader=False,
        calloutStatus="Enabled",
        generateAuthorizationHeader=True,
        namedCredentialType="SecuredEndpoint",
        namedCredentialParameters=[
            parameter(parameterName="Url", parameterType="Url", parameterValue=url),
            parameter(parameterName="ExternalCredential", parameterType="Authentication",
                      externalCredential=it.api_name),
        ],
    )  # fmt: skip


def access_permission_set(md: Any, it: Integration) -> Any:
    return md.PermissionSet(
        fullName=it.access_set,
        label=f"{it.label} access",
        externalCredentialPrincipalAccesses=[
            md.PermissionSetExternalCredentialPrincipalAccess(
                enabled=True, externalCredentialPrincipal=f"{it.api_name}-OrgB"
            )
        ],
    )


def apex_callout(named_credential_name: str) -> str:
    return (
        "HttpRequest req = new HttpRequest();\n"
        f"req.setEndpoint('callout:{named_credential_name}/services/data/v{API_VERSION}/limits');\n"
        "req.setMethod('GET');\n"
        "HttpResponse res = new Http().send(req);\n"
        "if (res.getStatusCode() < 200 || res.getStatusCode() > 299) {\n"
        "    throw new CalloutException('HTTP ' + res.getStatusCode());\n"
        "}\n"
    )


@dataclass
class Made:
    """What `up` made that `change` needs again (the script holds the app's whole definition)."""

    certificate: str
    key: str
    secret: str


def up(orgs: dict[str, dict[str, Any]], k: int) -> dict[str, Made]:
    a, b = Org(orgs["orgA"]), Org(orgs["orgB"])
    run_as = b.info["admin_username"]
    profile_set = b.one_id(
        f"SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true AND Profile.Name = '{PROFILE}'"
    )
    caller = a.one_id(f"SELECT Id FROM User WHERE Username = '{a.info['admin_username']}'")
    made: dict[str, Made] = {}
    for it in integrations(k):
        # Org A: the certificate (step 9's file), then its public half to upload into the app.
        # (simple-salesforce raises on any error a create, update or delete answers.)
        a.md.Certificate.create([a.md.Certificate(fullName=it.api_name, masterLabel=it.label, keySize=2048,
                                                  caSigned=False, privateKeyExportable=False)])  # fmt: skip
        cert = a.md.Certificate.read([it.api_name])
        content = cert.content
        if not isinstance(content, str):
            content = base64.b64encode(content).decode()
        certificate = _certificate_body(content)
        # Org B: the connected app (steps 4-18), then its profile access (step 18).
        key, secret = _generated(64, string.ascii_letters + string.digits + "_"), _generated(64)
        b.md.ConnectedApp.create([connected_app(b.md, it, certificate, key, secret, run_as)])
        app_id = b.one_id(f"SELECT Id FROM ConnectedApplication WHERE Name = '{it.label}'")
        _sobject(b, "SetupEntityAccess").create({"ParentId": profile_set, "SetupEntityId": app_id})
        # Org A: external and named credentials, access, and step 20's key and secret.
        a.md.ExternalCredential.create([external_credential(a.md, it, b.info["token_url"])])
        a.md.NamedCredential.create([named_credential(a.md, it, b.info["instance_url"])])
        a.md.PermissionSet.create([access_permission_set(a.md, it)])
        access_set = a.one_id(f"SELECT Id FROM PermissionSet WHERE Name = '{it.access_set}'")
        _sobject(a, "PermissionSetAssignment").create({"AssigneeId": caller, "PermissionSetId": access_set})
        a.sf.restful("named-credentials/credential", method="POST", json={
            "externalCredential": it.api_name, "principalName": "OrgB", "principalType": "NamedPrincipal",
            "authenticationProtocol": "OAuth",
            "authenticationProtocolVariant": "ClientCredentialsClientSecret",
            "credentials": {"clientId": {"value": key, "encrypted": False},
                            "clientSecret": {"value": secret, "encrypted": True}},
        })  # fmt: skip
        verify(a, b, it, key, secret)
        made[it.api_name] = Made(certificate, key, secret)
    return made


def verify(a: Org, b: Org, it: Integration, key: str, secret: str) -> None:
    """Org B issues the app a client-credentials token and answers with it; Org A calls out."""
    token = requests.post(b.info["token_url"], timeout=60, data={
        "grant_type": "client_credentials", "client_id": key, "client_secret": secret})  # fmt: skip
    token.raise_for_status()
    answer = requests.get(f"{b.info['instance_url']}/services/data/v{API_VERSION}/limits", timeout=60,
                          headers={"Authorization": f"Bearer {token.json()['access_token']}"})  # fmt: skip
    answer.raise_for_status()
    result = a.sf.restful("tooling/executeAnonymous/", params={"anonymousBody": apex_callout(it.api_name)})
    if not (isinstance(result, dict) and result.get("compiled") and result.get("success")):
        raise RuntimeError(f"callout through {it.api_name} failed: {result}")


def change(orgs: dict[str, dict[str, Any]], made: dict[str, Made]) -> None:
    b = Org(orgs["orgB"])
    it = integrations(1)[0]
    m = made[it.api_name]
    run_as = b.info["admin_username"]
    app = connected_app(b.md, it, m.certificate, None, None, run_as, CHANGED_SESSION_TIMEOUT)
    b.md.ConnectedApp.update([app])


def destroy(orgs: dict[str, dict[str, Any]], k: int) -> None:
    a, b = Org(orgs["orgA"]), Org(orgs["orgB"])
    for it in integrations(k):
        a.md.PermissionSet.delete([it.access_set])
        a.md.NamedCredential.delete([it.api_name])
        a.md.ExternalCredential.delete([it.api_name])
        a.md.Certificate.delete([it.api_name])
        b.md.ConnectedApp.delete([it.api_name])
