"""ClientCredentialsRunAsUser: turns on a connected app's client-credentials flow for one user.

Owns ``oauthConfig.isClientCredentialEnabled`` and ``oauthConfig.oauthClientCredentialUser`` (a
**username**, not an e-mail address). Before writing it checks that the user exists and is active,
and warns when the user lacks API Only (Salesforce recommends an API-only integration user); the
checks are the model-neutral ``providers.org_b.run_as_user``.
"""

from __future__ import annotations

from providers.framework.schema import Schema, org_field
from providers.org_b.app_part import app_field, app_id_field, previous_values_field
from providers.org_b.connected_app.app import METADATA_TYPE
from providers.org_b.run_as_user import RunAsUserPart, RunAsUserResource
from providers.org_b.shared_fields import RunAsUserArgs, run_as_enabled_flag, username_field


class ClientCredentialsRunAsUserArgs(RunAsUserArgs, total=False):
    """The inputs of a connected app's run-as user."""


SCHEMA = Schema(
    kind="ClientCredentialsRunAsUser",
    component_type=METADATA_TYPE,
    description="The client credentials flow of a connected app and the user it runs as (Edit Policies).",
    notes=("Deleting it puts back what the app had before (for a new app: the flow off, no user).",),
    fields=(
        org_field(),
        app_field(),
        app_id_field(),
        username_field("oauthConfig.oauthClientCredentialUser"),
        run_as_enabled_flag("oauthConfig.isClientCredentialEnabled"),
        previous_values_field(),
    ),
)


class ClientCredentialsRunAsUserProvider(RunAsUserPart):
    schema = SCHEMA


class ClientCredentialsRunAsUser(
    RunAsUserResource[ClientCredentialsRunAsUserArgs], module="salesforce", name="ClientCredentialsRunAsUser"
):
    """Client credentials run-as user.

    Type token: ``pulumi-python:dynamic/salesforce:ClientCredentialsRunAsUser``.
    """

    provider_class = ClientCredentialsRunAsUserProvider
