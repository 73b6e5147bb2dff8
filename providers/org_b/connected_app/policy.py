"""ConnectedAppPolicy: the "Manage > Edit Policies" page of a connected app.

Owns the app's OAuth policy (IP relaxation, refresh-token policy, token-exchange policy, single
logout URL), its session policy (timeout, session level) and who may use it (permitted users,
``oauthConfig.isAdminApproved``). Everything else in the app belongs to other resources; see
``app_part`` for how the fields are merged into the shared component and restored on delete.
"""

from __future__ import annotations

from typing import Any

import pulumi

from providers.framework import values
from providers.framework.schema import Field, Schema, org_field
from providers.org_b.app_part import (
    AppPartProvider,
    AppPartResource,
    app_field,
    app_id_field,
    previous_values_field,
)
from providers.org_b.connected_app.app import METADATA_TYPE
from providers.org_b.shared_fields import (
    PolicyArgs,
    ip_relaxation_field,
    permitted_users_field,
    policy_action_field,
    refresh_token_policy_field,
    session_timeout_field,
    single_logout_url_field,
    token_exchange_policy_field,
)


class ConnectedAppPolicyArgs(PolicyArgs, total=False):
    """The inputs of a connected app's policies."""


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
        permitted_users_field(
            "oauthConfig.isAdminApproved",
            validate=values.one_of(values.PERMITTED_USERS),
            to_salesforce=_permitted_users_to_salesforce,
            from_salesforce=_permitted_users_from_salesforce,
        ),
        ip_relaxation_field("oauthPolicy.ipRelaxation", validate=values.one_of(values.IP_RELAXATION)),
        refresh_token_policy_field(
            "oauthPolicy.refreshTokenPolicy", from_salesforce=values.refresh_token_policy
        ),
        token_exchange_policy_field("oauthPolicy.isTokenExchangeFlowEnabled"),
        single_logout_url_field("oauthPolicy.singleLogoutUrl"),
        session_timeout_field("sessionPolicy.sessionTimeout"),
        Field(
            "session_level",
            "string",
            "High Assurance session required: STANDARD or HIGH_ASSURANCE.",
            path="sessionPolicy.sessionLevel",
            validate=values.one_of(values.SESSION_LEVELS),
            docs_values=", ".join(values.SESSION_LEVELS),
        ),
        policy_action_field("sessionPolicy.policyAction"),
        previous_values_field(),
    ),
)


class ConnectedAppPolicyProvider(AppPartProvider):
    schema = SCHEMA


class ConnectedAppPolicy(
    AppPartResource[ConnectedAppPolicyArgs], module="salesforce", name="ConnectedAppPolicy"
):
    """Policies of a connected app. Type token: ``pulumi-python:dynamic/salesforce:ConnectedAppPolicy``."""

    permitted_users: pulumi.Output[str]
    ip_relaxation: pulumi.Output[str]
    refresh_token_policy: pulumi.Output[str]
    session_timeout: pulumi.Output[int]

    provider_class = ConnectedAppPolicyProvider
