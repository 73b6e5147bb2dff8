"""ConnectedAppProfileAssignment: gives one profile (or permission set) access to a connected app.

Access is a ``SetupEntityAccess`` record whose parent is the profile's own permission set (or the
permission set itself) and whose SetupEntityId is the app's ``ConnectedApplication`` record. This
resource creates and deletes exactly that record and nothing else. An access that already existed
is adopted and left in place on delete (``pre_existing``), so a destroy leaves the org as it was.
The behaviour is the model-neutral ``providers.org_b.profile_assignment``.
"""

from __future__ import annotations

from providers.org_b.connected_app.app import MODEL, RECORD_TYPE
from providers.org_b.profile_assignment import (
    ProfileAssignmentProvider,
    ProfileAssignmentResource,
    profile_assignment_schema,
)
from providers.org_b.shared_fields import ProfileAssignmentArgs


class ConnectedAppProfileAssignmentArgs(ProfileAssignmentArgs, total=False):
    """The inputs of a connected app's profile access."""


SCHEMA = profile_assignment_schema(
    "ConnectedAppProfileAssignment",
    "Access to a connected app for one profile or permission set (Manage Profiles)",
    MODEL,
    RECORD_TYPE,
)


class ConnectedAppProfileAssignmentProvider(ProfileAssignmentProvider):
    schema = SCHEMA
    model = MODEL


class ConnectedAppProfileAssignment(
    ProfileAssignmentResource[ConnectedAppProfileAssignmentArgs],
    module="salesforce",
    name="ConnectedAppProfileAssignment",
):
    """Profile access to a connected app.

    Type token: ``pulumi-python:dynamic/salesforce:ConnectedAppProfileAssignment``.
    """

    provider_class = ConnectedAppProfileAssignmentProvider
