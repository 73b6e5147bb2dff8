"""ExternalClientAppRunAsUser: turns on an External Client App's client-credentials flow for one user.

On an ECA the flow needs two switches: ``isClientCredentialsFlowEnabled`` in
the global OAuth settings **and** in the OAuth policies, plus the policies'
``clientCredentialsFlowUser`` (a username). This resource owns exactly those three elements; each
component is changed by read, merge, write under its lock, so the app and policy resources editing
the same components at the same time lose nothing. The user is checked first (exists, active; a
warning without API Only), as ``ClientCredentialsRunAsUser`` does for a connected app, whose inputs
and outputs this mirrors.
"""

from __future__ import annotations

from typing import Any

import pulumi

from providers import salesforce
from providers.framework import values
from providers.framework.schema import Field, Schema, org_field
from providers.org_b.app_part import app_field, app_id_field, previous_values_field
from providers.org_b.external_client_app.app import GLOBAL_TYPE, POLICY_TYPE, find_part_name, part_name
from providers.org_b.external_client_app.policy import EcaPolicyPart, policy_name_field
from providers.org_b.run_as_user import RunAsUserPart, RunAsUserResource
from providers.org_b.shared_fields import RunAsUserArgs, run_as_enabled_flag, username_field


class ExternalClientAppRunAsUserArgs(RunAsUserArgs, total=False):
    app_certificate: pulumi.Input[str]


GLOBAL_FLAG = "isClientCredentialsFlowEnabled"
# previous_values key of the global settings' flag (the schema's fields are the policy's).
GLOBAL_PREVIOUS = "global_enabled"

SCHEMA = Schema(
    kind="ExternalClientAppRunAsUser",
    component_type=POLICY_TYPE,
    description=(
        "The client credentials flow of an External Client App and the user it runs as "
        "(global OAuth settings and OAuth policies)."
    ),
    notes=(
        "Turns the flow on in both the global OAuth settings and the policies, as Salesforce requires.",
        "Deleting it puts back what the app had before (for a new app: the flow off, no user).",
    ),
    fields=(
        org_field(),
        app_field("External Client App"),
        app_id_field(),
        username_field("clientCredentialsFlowUser"),
        run_as_enabled_flag(GLOBAL_FLAG),
        Field(
            "app_certificate",
            "string",
            "The app's certificate, if it has one (pass the app resource's `certificate` output). "
            "Some orgs never read the global OAuth settings' certificate back, and a write without it "
            "clears it: this resource's write of the flag carries it then.",
            validate=values.certificate,
        ),
        previous_values_field(),
        policy_name_field(),
    ),
)


class ExternalClientAppRunAsUserProvider(EcaPolicyPart, RunAsUserPart):
    """The policies' run-as user (the user checked as for a connected app) and the global switch."""

    schema = SCHEMA

    def _apply(self, inputs: dict[str, Any], doing: str) -> tuple[dict[str, Any], dict[str, Any]]:
        # Global switch first: with only the policy on, the flow still fails, never half-works.
        global_before = self._set_global_flag(inputs, bool(inputs.get("enabled", True)))
        before, written = super()._apply(inputs, doing)
        before[GLOBAL_PREVIOUS] = global_before
        return before, written

    def _restore(self, state: dict[str, Any]) -> bool:
        restored = super()._restore(state)
        previous = (state.get("previous_values") or {}).get(GLOBAL_PREVIOUS)
        try:
            self._set_global_flag(state, bool(previous))
        except salesforce.SalesforceError as err:
            if not salesforce.is_not_found(err):
                raise
            return False
        return restored

    def _set_global_flag(self, state: dict[str, Any], enabled: bool) -> bool:
        """Set the global settings' flag; return what it was. The certificate etc. are kept as read."""
        before = {"value": False}

        certificate = state.get("app_certificate")

        def change(component: dict[str, Any]) -> dict[str, Any]:
            before["value"] = values.boolean(component.get(GLOBAL_FLAG, False))
            component[GLOBAL_FLAG] = enabled
            if certificate and not component.get("certificate"):
                # Not read back (some orgs never return it): written without it, it would be gone.
                component["certificate"] = values.certificate_body(certificate)
            return component

        try:
            salesforce.modify_component(
                state["org"], GLOBAL_TYPE, part_name("global", state["app"]), change, self.describe(state)
            )
        except salesforce.SalesforceError as err:
            # An app made outside orglink names its parts its own way: look the component up.
            found = find_part_name(salesforce.org(state["org"]), GLOBAL_TYPE, state["app"])
            if not salesforce.is_not_found(err) or not found:
                raise
            salesforce.modify_component(state["org"], GLOBAL_TYPE, found, change, self.describe(state))
        return before["value"]

    def _outputs(
        self, inputs: dict[str, Any], component: dict[str, Any] | None, previous: dict[str, Any]
    ) -> dict[str, Any]:
        outs = super()._outputs(inputs, component, previous)
        if inputs.get("app_certificate"):
            outs["app_certificate"] = inputs["app_certificate"]
        if component is not None and outs.get("enabled"):
            # The flow works only with both switches on: show a global switch turned off in Setup.
            client = salesforce.org(inputs["org"])
            glob = client.read_component(GLOBAL_TYPE, part_name("global", inputs["app"])) or {}
            outs["enabled"] = values.boolean(glob.get(GLOBAL_FLAG, False))
        return outs


class ExternalClientAppRunAsUser(
    RunAsUserResource[ExternalClientAppRunAsUserArgs], module="salesforce", name="ExternalClientAppRunAsUser"
):
    """Client credentials run-as user of an External Client App.

    Type token: ``pulumi-python:dynamic/salesforce:ExternalClientAppRunAsUser``.
    """

    provider_class = ExternalClientAppRunAsUserProvider
