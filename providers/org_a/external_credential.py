"""ExternalCredential: how Org A authenticates to Org B (Metadata API type ``ExternalCredential``).

Protocol ``Oauth`` in one of two variants:
- client credentials (``ClientCredentialsClientSecret``, or ``...Basic`` for HTTP Basic): the
  parameters ``AuthProtocolVariant``, ``AuthProviderUrl`` (Org B's My Domain token URL) and one
  ``NamedPrincipal``, whose client id and secret are set by a ``PrincipalCredential``;
- JWT bearer (``JwtBearer``): also a ``SigningCertificate`` (Org A's certificate, whose public half
  Org B's app trusts) and the ``JwtBodyClaim`` parameters iss, sub and aud.

The exact XML of these parameters is not documented by Salesforce (found from deploy
errors); it is built in one place, ``build_component``, to keep it easy to change.
This resource owns the whole component.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CheckFailure

from providers.framework import values
from providers.framework.provider import OrglinkResource
from providers.framework.schema import Field, Schema, label_field, org_field
from providers.framework.whole_component import WholeComponentProvider

METADATA_TYPE = "ExternalCredential"
CLIENT_CREDENTIALS_VARIANTS = ("ClientCredentialsClientSecret", "ClientCredentialsClientSecretBasic")
JWT_BEARER = "JwtBearer"
VARIANTS = (*CLIENT_CREDENTIALS_VARIANTS, JWT_BEARER)
JWT_CLAIMS = (("jwt_issuer", "iss"), ("jwt_subject", "sub"), ("jwt_audience", "aud"))
DEFAULT_GROUP = "DefaultGroup"


class ExternalCredentialArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    api_name: pulumi.Input[str]
    label: pulumi.Input[str]
    variant: pulumi.Input[str]
    token_url: pulumi.Input[str]
    principal_name: pulumi.Input[str]
    signing_certificate: pulumi.Input[str]
    jwt_issuer: pulumi.Input[str]
    jwt_subject: pulumi.Input[str]
    jwt_audience: pulumi.Input[str]


SCHEMA = Schema(
    kind="ExternalCredential",
    component_type=METADATA_TYPE,
    description="An OAuth external credential with one named principal (Setup > Named Credentials > "
    "External Credentials).",
    notes=(
        "Client credentials: the principal's client id and secret are set by a PrincipalCredential.",
        "JWT bearer: set signing_certificate, jwt_issuer (the app's consumer key), jwt_subject (the "
        "Org B username) and jwt_audience (Org B's My Domain or login URL).",
        "Changing `api_name` creates the new credential before the old one goes.",
    ),
    fields=(
        org_field(),
        Field(
            "api_name",
            "string",
            "API name of the external credential, e.g. CarrierAPI_App_dev.",
            path="fullName",
            required=True,
            replaces=True,
            validate=values.api_name,
        ),
        label_field(),
        Field(
            "variant",
            "string",
            "OAuth flow: ClientCredentialsClientSecret (id and secret in the body), "
            "ClientCredentialsClientSecretBasic (HTTP Basic) or JwtBearer.",
            default="ClientCredentialsClientSecret",
            validate=values.one_of(VARIANTS),
            docs_values=", ".join(VARIANTS),
        ),
        Field(
            "token_url",
            "string",
            "Org B's token endpoint: https://<my-domain>/services/oauth2/token.",
            required=True,
            validate=values.https_url,
        ),
        Field(
            "principal_name",
            "string",
            "Name of the named principal (letters, digits, underscores).",
            default="NamedPrincipal",
            replaces=True,
            validate=values.api_name,
        ),
        Field(
            "signing_certificate",
            "string",
            "JwtBearer: unique name of the org's certificate that signs the assertion.",
            validate=values.api_name,
        ),
        Field(
            "jwt_issuer", "string", "JwtBearer: iss claim (Org B app's consumer key).", validate=values.text
        ),
        Field("jwt_subject", "string", "JwtBearer: sub claim (Org B username).", validate=values.text),
        Field(
            "jwt_audience", "string", "JwtBearer: aud claim (Org B's login URL).", validate=values.https_url
        ),
        Field(
            "principal",
            "string",
            "`<api_name>-<principal_name>`: how permission sets refer to the principal.",
            output_only=True,
        ),
    ),
)


def _parameter(name: str, ptype: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    param: dict[str, Any] = {"parameterName": name, "parameterType": ptype}
    if value is not None:
        param["parameterValue"] = value
    param.update(extra)
    return param


def build_component(inputs: dict[str, Any]) -> dict[str, Any]:
    """The whole ExternalCredential component for these (checked) inputs."""
    variant = inputs.get("variant") or CLIENT_CREDENTIALS_VARIANTS[0]
    principal = inputs.get("principal_name") or "NamedPrincipal"
    # Groups as a retrieve shows them: the protocol's parameters in DefaultGroup, the principal in
    # its own (permission sets name it `<api_name>-<group>`). An OAuth credential without its
    # AuthProtocolVariant and AuthProviderUrl is refused by the org.
    params = [
        _parameter("Oauth", "AuthProtocolVariant", variant, parameterGroup=DEFAULT_GROUP),
        _parameter("AuthProviderUrl", "AuthProviderUrl", inputs["token_url"], parameterGroup=DEFAULT_GROUP),
        _parameter(principal, "NamedPrincipal", sequenceNumber=1, parameterGroup=principal),
    ]
    if variant == JWT_BEARER:
        params.append(
            _parameter(
                "SigningCertificate",
                "SigningCertificate",
                certificate=inputs["signing_certificate"],
                parameterGroup=DEFAULT_GROUP,
            )
        )
        for field_name, claim in JWT_CLAIMS:
            params.append(_parameter(claim, "JwtBodyClaim", inputs[field_name], parameterGroup=DEFAULT_GROUP))
    return {
        "fullName": inputs["api_name"],
        "label": inputs.get("label") or values.label_from_api_name(inputs["api_name"]),
        "authenticationProtocol": "Oauth",
        "externalCredentialParameters": params,
    }


def read_component(component: dict[str, Any]) -> dict[str, Any]:
    """Inputs as the org has them (the inverse of build_component)."""
    raw = component.get("externalCredentialParameters") or []
    params = raw if isinstance(raw, list) else [raw]
    out: dict[str, Any] = {"api_name": component.get("fullName"), "label": component.get("label")}
    for param in params:
        ptype, name = param.get("parameterType"), param.get("parameterName")
        if ptype == "AuthProtocolVariant":
            out["variant"] = param.get("parameterValue")
        elif ptype == "AuthProviderUrl":
            out["token_url"] = param.get("parameterValue")
        elif ptype == "NamedPrincipal":
            out["principal_name"] = name
        elif ptype == "SigningCertificate":
            out["signing_certificate"] = param.get("certificate")
        elif ptype == "JwtBodyClaim":
            field_name = {claim: f for f, claim in JWT_CLAIMS}.get(str(name))
            if field_name:
                out[field_name] = param.get("parameterValue")
    return {key: value for key, value in out.items() if value is not None}


class ExternalCredentialProvider(WholeComponentProvider):
    schema = SCHEMA
    metadata_type = METADATA_TYPE
    build = staticmethod(build_component)
    parse = staticmethod(read_component)

    def check_more(self, olds: dict[str, Any], inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = super().check_more(olds, inputs)
        jwt_fields = ("signing_certificate", *(f for f, _ in JWT_CLAIMS))
        if inputs.get("variant") == JWT_BEARER:
            return failures + [
                CheckFailure(name, f"{name} is required with variant JwtBearer")
                for name in jwt_fields
                if not inputs.get(name)
            ]
        return failures + [
            CheckFailure(name, f"{name} applies only to variant JwtBearer; remove it")
            for name in jwt_fields
            if inputs.get(name)
        ]

    def outputs_of(self, component: dict[str, Any], alias: str) -> dict[str, Any]:
        outs = super().outputs_of(component, alias)
        outs["principal"] = f"{outs['api_name']}-{outs.get('principal_name', '')}"
        return outs


class ExternalCredential(
    OrglinkResource[ExternalCredentialArgs], module="salesforce", name="ExternalCredential"
):
    """An OAuth external credential. Type token: ``pulumi-python:dynamic/salesforce:ExternalCredential``."""

    org: pulumi.Output[str]
    api_name: pulumi.Output[str]
    principal_name: pulumi.Output[str]
    principal: pulumi.Output[str]
    token_url: pulumi.Output[str]
    variant: pulumi.Output[str]

    provider_class = ExternalCredentialProvider
