"""Every resource orglink offers, in one explicit list: what the reference docs document.

A new resource is added here; ``make test`` fails when docs/resources.md does not show it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from providers.framework.provider import OrglinkProvider
from providers.framework.schema import Schema
from providers.integration import preflight, verification
from providers.org_a import (
    certificate,
    external_credential,
    named_credential,
    permission_set_assignment,
    principal_access,
    principal_credential,
)
from providers.org_b.connected_app import app as connected_app
from providers.org_b.connected_app import policy as connected_app_policy
from providers.org_b.connected_app import profile_assignment, run_as_user
from providers.org_b.external_client_app import app as eca_app
from providers.org_b.external_client_app import policy as eca_policy
from providers.org_b.external_client_app import profile_assignment as eca_profile_assignment
from providers.org_b.external_client_app import run_as_user as eca_run_as_user


@dataclass(frozen=True)
class Registered:
    resource: type[pulumi.dynamic.Resource]
    provider: type[OrglinkProvider]

    @property
    def schema(self) -> Schema:
        return self.provider.schema

    @property
    def python_path(self) -> str:
        return f"{self.resource.__module__}.{self.resource.__name__}"


RESOURCES: tuple[Registered, ...] = (
    # Org A
    Registered(certificate.Certificate, certificate.CertificateProvider),
    Registered(external_credential.ExternalCredential, external_credential.ExternalCredentialProvider),
    Registered(principal_credential.PrincipalCredential, principal_credential.PrincipalCredentialProvider),
    Registered(named_credential.NamedCredential, named_credential.NamedCredentialProvider),
    Registered(principal_access.PrincipalAccess, principal_access.PrincipalAccessProvider),
    Registered(
        permission_set_assignment.PermissionSetAssignment,
        permission_set_assignment.PermissionSetAssignmentProvider,
    ),
    # Org B, connected app
    Registered(connected_app.ConnectedApp, connected_app.ConnectedAppProvider),
    Registered(connected_app_policy.ConnectedAppPolicy, connected_app_policy.ConnectedAppPolicyProvider),
    Registered(
        profile_assignment.ConnectedAppProfileAssignment,
        profile_assignment.ConnectedAppProfileAssignmentProvider,
    ),
    Registered(run_as_user.ClientCredentialsRunAsUser, run_as_user.ClientCredentialsRunAsUserProvider),
    # Org B, External Client App
    Registered(eca_app.ExternalClientApp, eca_app.ExternalClientAppProvider),
    Registered(eca_policy.ExternalClientAppPolicy, eca_policy.ExternalClientAppPolicyProvider),
    Registered(
        eca_profile_assignment.ExternalClientAppProfileAssignment,
        eca_profile_assignment.ExternalClientAppProfileAssignmentProvider,
    ),
    Registered(
        eca_run_as_user.ExternalClientAppRunAsUser, eca_run_as_user.ExternalClientAppRunAsUserProvider
    ),
    # Both orgs
    Registered(preflight.Preflight, preflight.PreflightProvider),
    Registered(verification.Verification, verification.VerificationProvider),
)
