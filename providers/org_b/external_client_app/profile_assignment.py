"""ExternalClientAppProfileAssignment: gives one profile (or permission set) access to an ECA.

Decision: access is a ``SetupEntityAccess`` record on the app's ``ExternalClientApplication`` record,
exactly as ``ConnectedAppProfileAssignment`` does for a connected app, not an
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

from providers.org_b.external_client_app.app import MODEL, RECORD_TYPE
from providers.org_b.profile_assignment import (
    ProfileAssignmentProvider,
    ProfileAssignmentResource,
    profile_assignment_schema,
)
from providers.org_b.shared_fields import ProfileAssignmentArgs


class ExternalClientAppProfileAssignmentArgs(ProfileAssignmentArgs, total=False):
    """The inputs of an External Client App's profile access."""


SCHEMA = profile_assignment_schema(
    "ExternalClientAppProfileAssignment",
    "Access to an External Client App for one profile or permission set.",
    MODEL,
    RECORD_TYPE,
    where=("Access is a SetupEntityAccess record on the app's ExternalClientApplication record.",),
)


class ExternalClientAppProfileAssignmentProvider(ProfileAssignmentProvider):
    """Profile access pointed at the ECA's record."""

    schema = SCHEMA
    model = MODEL


class ExternalClientAppProfileAssignment(
    ProfileAssignmentResource[ExternalClientAppProfileAssignmentArgs],
    module="salesforce",
    name="ExternalClientAppProfileAssignment",
):
    """Profile access to an External Client App.

    Type token: ``pulumi-python:dynamic/salesforce:ExternalClientAppProfileAssignment``.
    """

    provider_class = ExternalClientAppProfileAssignmentProvider
