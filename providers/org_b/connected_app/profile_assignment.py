"""ConnectedAppProfileAssignment: gives one profile (or permission set) access to a connected app.

Access is a ``SetupEntityAccess`` record whose parent is the profile's own permission set (or the
permission set itself) and whose SetupEntityId is the app's ``ConnectedApplication`` record. This
resource creates and deletes exactly that record and nothing else. An access that already existed
is adopted and left in place on delete (``pre_existing``), so a destroy leaves the org as it was.
The behaviour is the model-neutral ``providers.org_b.profile_assignment``.
"""

from __future__ import annotations

import pulumi

from providers.framework.provider import OrglinkResource
from providers.framework.schema import Schema
from providers.org_b.connected_app.app import MODEL, RECORD_TYPE
from providers.org_b.profile_assignment import ProfileAssignmentProvider, profile_assignment_fields
from providers.org_b.shared_fields import ProfileAssignmentArgs


class ConnectedAppProfileAssignmentArgs(ProfileAssignmentArgs, total=False):
    """The inputs of a connected app's profile access."""


SCHEMA = Schema(
    kind="ConnectedAppProfileAssignment",
    component_type=None,
    description="Access to a connected app for one profile or permission set (Manage Profiles)",
    notes=(
        "Set exactly one of `profile` and `permission_set`.",
        "The app's policy should say `permitted_users: AdminApprovedPreAuthorized` for the access to "
        "pre-authorize users: make this resource depend on the policy.",
        "An access that already existed is adopted and left in place on delete.",
    ),
    fields=profile_assignment_fields(MODEL, RECORD_TYPE),
)


class ConnectedAppProfileAssignmentProvider(ProfileAssignmentProvider):
    schema = SCHEMA
    model = MODEL


class ConnectedAppProfileAssignment(
    OrglinkResource[ConnectedAppProfileAssignmentArgs],
    module="salesforce",
    name="ConnectedAppProfileAssignment",
):
    """Profile access to a connected app.

    Type token: ``pulumi-python:dynamic/salesforce:ConnectedAppProfileAssignment``.
    """

    org: pulumi.Output[str]
    app: pulumi.Output[str]
    access_id: pulumi.Output[str]
    parent_id: pulumi.Output[str]
    setup_entity_id: pulumi.Output[str]
    pre_existing: pulumi.Output[bool]

    provider_class = ConnectedAppProfileAssignmentProvider
