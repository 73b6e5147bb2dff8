"""ClientCredentialsRunAsUser: turns on a connected app's client-credentials flow for one user.

Owns ``oauthConfig.isClientCredentialEnabled`` and ``oauthConfig.oauthClientCredentialUser`` (a
**username**, not an e-mail address). Before writing it checks that the user exists and is active,
and warns when the user lacks API Only (Salesforce recommends an API-only integration user).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import pulumi

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkResource
from providers.framework.schema import Field, Schema, flag, org_field
from providers.org_b.app_part import AppPartProvider, app_field, app_id_field, previous_values_field
from providers.org_b.connected_app.app import METADATA_TYPE
from providers.salesforce.records import quoted, user_rows


class ClientCredentialsRunAsUserArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    app: pulumi.Input[str]
    app_id: pulumi.Input[str]
    username: pulumi.Input[str]
    enabled: pulumi.Input[bool]


def salesforce_username(value: Any) -> str:
    """Salesforce stores usernames in lower case and compares them case-insensitively."""
    try:
        return values.email(value).lower()
    except ValueError:
        raise ValueError(
            f"'{value}' is not a Salesforce username: usernames look like e-mail addresses "
            "(e.g. integration@example.com.prod); find it on the user's detail page in Setup"
        ) from None


SCHEMA = Schema(
    kind="ClientCredentialsRunAsUser",
    component_type=METADATA_TYPE,
    description="The client credentials flow of a connected app and the user it runs as (Edit Policies).",
    notes=("Deleting it puts back what the app had before (for a new app: the flow off, no user).",),
    fields=(
        org_field(),
        app_field(),
        app_id_field(),
        Field(
            "username",
            "string",
            "Username of the active user the client credentials flow runs as (ideally API Only).",
            path="oauthConfig.oauthClientCredentialUser",
            required=True,
            validate=salesforce_username,
        ),
        flag(
            "enabled",
            "oauthConfig.isClientCredentialEnabled",
            "Enable Client Credentials Flow (false keeps the user but turns the flow off).",
            default=True,
        ),
        previous_values_field(),
    ),
)


def check_run_as_user(client: salesforce.OrgClient, username: str, warn: Callable[[str], None]) -> None:
    """Raise SalesforceError unless the org has an active user of this username; ``warn`` when it
    lacks API Only. Shared by the run-as user resources and the integration's Preflight, which asks
    before anything is written."""
    users = user_rows(client, username)
    if not users:
        raise salesforce.SalesforceError(
            client.alias, None, "username", "NOT_FOUND",
            f"there is no user with username '{username}'; use the Username from the user's "
            "detail page in Setup (it is not always the e-mail address)",
        )  # fmt: skip
    user = users[0]
    if not user.get("IsActive"):
        raise salesforce.SalesforceError(
            client.alias, None, "username", "INACTIVE_USER",
            f"user '{username}' is inactive: activate it in Setup or choose another run-as user",
        )  # fmt: skip
    api_only = client.lookup(f"ApiOnly {user['Id']}", lambda: "yes" if _is_api_only(client, user) else "no")
    if api_only == "no":
        warn(
            f"{client.alias}: run-as user '{username}' does not have API Only; Salesforce "
            "recommends an API-only integration user for the client credentials flow"
        )


def _is_api_only(client: salesforce.OrgClient, user: dict[str, Any]) -> bool:
    if (user.get("Profile") or {}).get("PermissionsApiUserOnly"):
        return True
    try:
        granted = client.query(
            "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = "
            f"{quoted(str(user['Id']))} AND PermissionSet.PermissionsApiUserOnly = true"
        )
    except salesforce.SalesforceError:
        return True  # cannot tell: do not warn
    return bool(granted)


class ClientCredentialsRunAsUserProvider(AppPartProvider):
    schema = SCHEMA

    def validate_live(self, client: salesforce.OrgClient, inputs: dict[str, Any]) -> None:
        check_run_as_user(client, inputs["username"], lambda message: self.log(message, warning=True))


class ClientCredentialsRunAsUser(
    OrglinkResource[ClientCredentialsRunAsUserArgs], module="salesforce", name="ClientCredentialsRunAsUser"
):
    """Client credentials run-as user.

    Type token: ``pulumi-python:dynamic/salesforce:ClientCredentialsRunAsUser``.
    """

    org: pulumi.Output[str]
    app: pulumi.Output[str]
    username: pulumi.Output[str]
    enabled: pulumi.Output[bool]

    provider_class = ClientCredentialsRunAsUserProvider
