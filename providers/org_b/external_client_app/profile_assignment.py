"""ExternalClientAppProfileAssignment: gives one profile (or permission set) access to an ECA.

Decision: access is a ``SetupEntityAccess`` record on the app's ``ExternalClientApplication`` record
(reference section 4), exactly as ``ConnectedAppProfileAssignment`` does for a connected app, not an
entry in the policies' ``commaSeparatedProfile`` / ``commaSeparatedPermissionSet``. Why:
- one record per profile is owned by one resource outright: no shared list to merge, so concurrent
  assignments cannot lose each other's entries and a delete removes exactly its own access;
- Salesforce refuses profiles in the policies unless ``permittedUsersPolicyType`` is already
  AdminApprovedPreAuthorized, which would make every assignment wait for the policy (and a policy
  delete fail while assignments remain); a SetupEntityAccess row has no such ordering;
- same inputs, outputs and semantics as the connected-app resource (an access that already existed
  is adopted and left in place on delete), so the integration component swaps it unchanged.
Users are pre-authorized by it once the policy says ``permitted_users: AdminApprovedPreAuthorized``.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkResource
from providers.framework.schema import Field, Schema, org_field
from providers.org_b.app_part import app_field, app_id_field
from providers.org_b.connected_app.profile_assignment import SCHEMA as CONNECTED_APP_SCHEMA
from providers.org_b.connected_app.profile_assignment import ConnectedAppProfileAssignmentProvider
from providers.org_b.external_client_app.app import HEADER_TYPE, find_app_id

# The ExternalClientApplication key prefix (ConnectedApplication is 0H4).
ECA_RECORD_PREFIX = "0xI"


class ExternalClientAppProfileAssignmentArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    app: pulumi.Input[str]
    app_id: pulumi.Input[str]
    profile: pulumi.Input[str]
    permission_set: pulumi.Input[str]


def _same_field(name: str) -> Field:
    return CONNECTED_APP_SCHEMA.field(name)


SCHEMA = Schema(
    kind="ExternalClientAppProfileAssignment",
    component_type=None,
    description="Access to an External Client App for one profile or permission set.",
    notes=(
        "Set exactly one of `profile` and `permission_set`.",
        "Access is a SetupEntityAccess record on the app's ExternalClientApplication record.",
        "The app's policy should say `permitted_users: AdminApprovedPreAuthorized` for the access to "
        "pre-authorize users: make this resource depend on the policy.",
        "An access that already existed is adopted and left in place on delete.",
    ),
    fields=(
        org_field(),
        app_field("External Client App"),
        app_id_field(),
        _same_field("profile"),
        _same_field("permission_set"),
        _same_field("access_id"),
        _same_field("parent_id"),
        Field(
            "setup_entity_id",
            "string",
            "Id of the app's ExternalClientApplication record.",
            output_only=True,
            validate=values.text,
        ),
        _same_field("pre_existing"),
    ),
)


class ExternalClientAppProfileAssignmentProvider(ConnectedAppProfileAssignmentProvider):
    """The connected-app assignment, pointed at the ECA's record."""

    schema = SCHEMA
    app_metadata_type = HEADER_TYPE

    def describe(self, props: dict[str, Any]) -> str:
        holder = props.get("profile") or props.get("permission_set") or "?"
        return f"ExternalClientAppProfileAssignment '{holder}' on '{props.get('app', '?')}'"

    @staticmethod
    def _app_record_id(client: salesforce.OrgClient, inputs: dict[str, Any]) -> str:
        app_id = inputs.get("app_id")
        if isinstance(app_id, str) and app_id.startswith(ECA_RECORD_PREFIX):
            return app_id
        found = find_app_id(client, inputs["app"])
        if not found:
            raise salesforce.SalesforceError(
                client.alias, None, "app", "NOT_FOUND",
                f"there is no External Client App '{inputs['app']}' "
                "(pass the ExternalClientApp resource's api_name)",
            )  # fmt: skip
        return found


class ExternalClientAppProfileAssignment(
    OrglinkResource[ExternalClientAppProfileAssignmentArgs],
    module="salesforce",
    name="ExternalClientAppProfileAssignment",
):
    """Profile access to an External Client App.

    Type token: ``pulumi-python:dynamic/salesforce:ExternalClientAppProfileAssignment``.
    """

    org: pulumi.Output[str]
    app: pulumi.Output[str]
    access_id: pulumi.Output[str]
    parent_id: pulumi.Output[str]
    setup_entity_id: pulumi.Output[str]
    pre_existing: pulumi.Output[bool]

    provider_class = ExternalClientAppProfileAssignmentProvider
