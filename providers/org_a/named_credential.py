"""NamedCredential: Org A's secured endpoint to Org B (Metadata API type ``NamedCredential``).

A ``SecuredEndpoint`` named credential: the URL of Org B's My Domain, authenticated by an external
credential. Apex in Org A then calls ``callout:<api_name>/services/data/...`` and Salesforce adds
the OAuth token. This resource owns the whole component.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi

from providers.framework import values
from providers.framework.provider import OrglinkResource
from providers.framework.schema import Field, Schema, flag, label_field, org_field
from providers.framework.whole_component import WholeComponentProvider

METADATA_TYPE = "NamedCredential"


class NamedCredentialArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    api_name: pulumi.Input[str]
    label: pulumi.Input[str]
    url: pulumi.Input[str]
    external_credential: pulumi.Input[str]
    callout_enabled: pulumi.Input[bool]
    generate_authorization_header: pulumi.Input[bool]
    allow_merge_fields_in_header: pulumi.Input[bool]
    allow_merge_fields_in_body: pulumi.Input[bool]


def _status_to_salesforce(enabled: bool) -> str:
    return "Enabled" if enabled else "Disabled"


def _status_from_salesforce(wire: Any) -> bool:
    return str(wire) != "Disabled"


SCHEMA = Schema(
    kind="NamedCredential",
    component_type=METADATA_TYPE,
    description="A secured-endpoint named credential (Setup > Named Credentials).",
    notes=(
        "Point `external_credential` at an ExternalCredential's `api_name` output so it is created first.",
    ),
    fields=(
        org_field(),
        Field(
            "api_name",
            "string",
            "API name of the named credential: Apex calls `callout:<api_name>/...`.",
            path="fullName",
            required=True,
            replaces=True,
            validate=values.api_name,
        ),
        label_field(),
        Field(
            "url",
            "string",
            "The endpoint: Org B's My Domain URL, e.g. https://acme.my.salesforce.com.",
            required=True,
            validate=values.https_url,
        ),
        Field(
            "external_credential",
            "string",
            "API name of the external credential that authenticates the callouts.",
            required=True,
            validate=values.api_name,
        ),
        Field(
            "callout_enabled",
            "boolean",
            "Enabled for Callouts (false stops every callout through it).",
            path="calloutStatus",
            default=True,
            validate=values.boolean,
            to_salesforce=_status_to_salesforce,
            from_salesforce=_status_from_salesforce,
            absent_value=True,
        ),
        flag(
            "generate_authorization_header",
            "generateAuthorizationHeader",
            "Generate Authorization Header (the OAuth token is sent as a Bearer header).",
            default=True,
        ),
        flag("allow_merge_fields_in_header", "allowMergeFieldsInHeader", "Allow Formulas in HTTP Header."),
        flag("allow_merge_fields_in_body", "allowMergeFieldsInBody", "Allow Formulas in HTTP Body."),
    ),
)


def build_component(inputs: dict[str, Any]) -> dict[str, Any]:
    """The whole NamedCredential component for these (checked) inputs."""
    component = SCHEMA.write({}, inputs)
    component["label"] = inputs.get("label") or values.label_from_api_name(inputs["api_name"])
    component["namedCredentialType"] = "SecuredEndpoint"
    component["namedCredentialParameters"] = [
        {"parameterName": "Url", "parameterType": "Url", "parameterValue": inputs["url"]},
        {
            "parameterName": "ExternalCredential",
            "parameterType": "Authentication",
            "externalCredential": inputs["external_credential"],
        },
    ]
    return component


def read_component(component: dict[str, Any]) -> dict[str, Any]:
    """Inputs as the org has them (the inverse of build_component)."""
    out = SCHEMA.read(component)
    raw = component.get("namedCredentialParameters") or []
    for param in raw if isinstance(raw, list) else [raw]:
        if param.get("parameterType") == "Url":
            out["url"] = param.get("parameterValue")
        elif param.get("parameterType") == "Authentication":
            out["external_credential"] = param.get("externalCredential")
    out["type"] = component.get("namedCredentialType")
    return {key: value for key, value in out.items() if value is not None}


class NamedCredentialProvider(WholeComponentProvider):
    schema = SCHEMA
    metadata_type = METADATA_TYPE
    build = staticmethod(build_component)
    parse = staticmethod(read_component)


class NamedCredential(OrglinkResource[NamedCredentialArgs], module="salesforce", name="NamedCredential"):
    """A named credential. Type token: ``pulumi-python:dynamic/salesforce:NamedCredential``."""

    org: pulumi.Output[str]
    api_name: pulumi.Output[str]
    url: pulumi.Output[str]
    external_credential: pulumi.Output[str]

    provider_class = NamedCredentialProvider
