"""ConnectedAppPolicy: the "Manage > Edit Policies" page of a connected app.

Owns the app's OAuth policy (IP relaxation, refresh-token policy, token-exchange policy, single
logout URL), its session policy (timeout, session level) and who may use it (permitted users,
``oauthConfig.isAdminApproved``). Everything else in the app belongs to other resources; see
``app_part`` for how the fields are merged into the shared component and restored on delete.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi

from providers.framework import values
from providers.framework.provider import OrglinkResource
from providers.framework.schema import Field, Schema, flag, org_field
from providers.org_b.app_part import AppPartProvider, app_field, app_id_field, previous_values_field
from providers.org_b.connected_app.app import METADATA_TYPE


class ConnectedAppPolicyArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    app: pulumi.Input[str]
    app_id: pulumi.Input[str]
    permitted_users: pulumi.Input[str]
    ip_relaxation: pulumi.Input[str]
    refresh_token_policy: pulumi.Input[str | dict[str, Any]]
    session_timeout: pulumi.Input[int | str]
    session_level: pulumi.Input[str]
    policy_action: pulumi.Input[str]
    single_logout_url: pulumi.Input[str]
    token_exchange_policy: pulumi.Input[bool]


def _permitted_users_to_salesforce(value: str) -> bool:
    return value == "AdminApprovedPreAuthorized"


def _permitted_users_from_salesforce(wire: Any) -> str:
    return "AdminApprovedPreAuthorized" if values.boolean(wire) else "AllSelfAuthorized"


SCHEMA = Schema(
    kind="ConnectedAppPolicy",
    component_type=METADATA_TYPE,
    description="The policies of a connected app (Setup > Manage Connected Apps > Edit Policies).",
    notes=(
        "Deleting it puts back the values its fields had before it was created "
        "(Salesforce's defaults for an app orglink created).",
        "Profiles and permission sets can be given access only with "
        "`permitted_users: AdminApprovedPreAuthorized`: make assignments depend on this resource.",
    ),
    fields=(
        org_field(),
        app_field(),
        app_id_field(),
        Field(
            "permitted_users",
            "string",
            "Who may use the app: AdminApprovedPreAuthorized (admin approved users are pre-authorized) "
            "or AllSelfAuthorized (all users may self-authorize).",
            path="oauthConfig.isAdminApproved",
            default="AllSelfAuthorized",
            validate=values.one_of(values.PERMITTED_USERS),
            to_salesforce=_permitted_users_to_salesforce,
            from_salesforce=_permitted_users_from_salesforce,
            absent_value="AllSelfAuthorized",
            docs_values=", ".join(values.PERMITTED_USERS),
        ),
        Field(
            "ip_relaxation",
            "string",
            "IP Relaxation: ENFORCE, BYPASS_2FACTOR, BYPASS (Relax IP restrictions) or ENFORCE_RELAXREFRESH.",
            path="oauthPolicy.ipRelaxation",
            default="ENFORCE",
            validate=values.one_of(values.IP_RELAXATION),
            absent_value="ENFORCE",
            docs_values=", ".join(values.IP_RELAXATION),
        ),
        Field(
            "refresh_token_policy",
            "string",
            "Refresh Token Policy: infinite (valid until revoked), zero (expire immediately), "
            "specific_lifetime:N:UNIT or specific_inactivity:N:UNIT (UNIT: HOURS, DAYS, MONTHS); "
            'also {"policy": "specific_lifetime", "value": 12, "unit": "HOURS"}.',
            path="oauthPolicy.refreshTokenPolicy",
            default="infinite",
            validate=values.refresh_token_policy,
            from_salesforce=values.refresh_token_policy,
            absent_value="infinite",
        ),
        flag(
            "token_exchange_policy",
            "oauthPolicy.isTokenExchangeFlowEnabled",
            "Allow the token exchange flow by policy (the app's `token_exchange_enabled` turns the flow on).",
        ),
        Field(
            "single_logout_url",
            "string",
            "Single Logout URL of the OAuth policy.",
            path="oauthPolicy.singleLogoutUrl",
            validate=values.https_url,
        ),
        Field(
            "session_timeout",
            "integer",
            "Timeout Value in minutes: 15, 30, 60, 90, 120, 240, 480, 720 or 1440 (24h); "
            "'24h' and '30m' work too. "
            "Left out: the user's profile decides.",
            path="sessionPolicy.sessionTimeout",
            validate=values.session_timeout,
            from_salesforce=values.integer,
        ),
        Field(
            "session_level",
            "string",
            "High Assurance session required: STANDARD or HIGH_ASSURANCE.",
            path="sessionPolicy.sessionLevel",
            validate=values.one_of(values.SESSION_LEVELS),
            docs_values=", ".join(values.SESSION_LEVELS),
        ),
        Field(
            "policy_action",
            "string",
            "What happens when the session level is too low: Block or RaiseSessionLevel.",
            path="sessionPolicy.policyAction",
            validate=values.one_of(values.POLICY_ACTIONS),
            docs_values=", ".join(values.POLICY_ACTIONS),
        ),
        previous_values_field(),
    ),
)


class ConnectedAppPolicyProvider(AppPartProvider):
    schema = SCHEMA


class ConnectedAppPolicy(
    OrglinkResource[ConnectedAppPolicyArgs], module="salesforce", name="ConnectedAppPolicy"
):
    """Policies of a connected app. Type token: ``pulumi-python:dynamic/salesforce:ConnectedAppPolicy``."""

    org: pulumi.Output[str]
    app: pulumi.Output[str]
    permitted_users: pulumi.Output[str]
    ip_relaxation: pulumi.Output[str]
    refresh_token_policy: pulumi.Output[str]
    session_timeout: pulumi.Output[int]

    provider_class = ConnectedAppPolicyProvider
