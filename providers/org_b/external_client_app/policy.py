"""ExternalClientAppPolicy: the OAuth policies of an External Client App (its Policies tab).

The policies live in the ``ExtlClntAppOauthConfigurablePolicies`` component that Salesforce creates
with the app header, under a name of Salesforce's choosing: it is found with listMetadata (matching
``externalClientApplication``), never guessed, and only ever updated (it cannot be created).

Inputs are those of ``ConnectedAppPolicy`` with the same values, so the integration component can
swap models: ``ip_relaxation`` ENFORCE/BYPASS/..., ``refresh_token_policy`` infinite/zero/
specific_lifetime:N:UNIT (an ECA keeps that in three elements), ``permitted_users``,
``session_timeout`` (minutes), ``session_level``, ``policy_action``, ``single_logout_url``,
``token_exchange_policy``. Like every app part (``app_part``), it changes only its own fields by
read, merge, write under the component's lock, and puts back what they were on delete (Salesforce's
defaults for a new app).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.schema import Field, Schema, org_field, set_path
from providers.org_b.app_part import (
    AppPartProvider,
    AppPartResource,
    app_field,
    app_id_field,
    previous_values_field,
)
from providers.org_b.external_client_app.app import POLICY_TYPE, find_part_name
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


class ExternalClientAppPolicyArgs(PolicyArgs, total=False):
    """The inputs of an External Client App's policies (those of a connected app's)."""


# ---------------------------------------------------------------------------------------------
# Value mappings between the connected-app spelling (the inputs) and the ECA enums
# ---------------------------------------------------------------------------------------------

# ConnectedAppOauthIpRelaxation -> ExtlClntAppIpRelaxationPolicyType
IP_RELAXATION_TO_ECA = {
    "ENFORCE": "Enforce",
    "BYPASS_2FACTOR": "Bypass_2factor",
    "BYPASS": "Bypass",
    "ENFORCE_RELAXREFRESH": "Enforce_RelaxRefresh",
}
IP_RELAXATION_FROM_ECA = {eca.lower(): plain for plain, eca in IP_RELAXATION_TO_ECA.items()}


def ip_relaxation(value: Any) -> str:
    """The connected-app spelling (ENFORCE, BYPASS, ...); the ECA spelling (Enforce, Bypass) too."""
    given = values.text(value)
    found = IP_RELAXATION_FROM_ECA.get(given.lower())
    return found or str(values.one_of(IP_RELAXATION_TO_ECA)(given))


def _ip_relaxation_from_salesforce(wire: Any) -> str:
    return IP_RELAXATION_FROM_ECA.get(str(wire).lower(), str(wire))


# Setup labels and the connected-app wording (isAdminApproved) map to the two ECA values; plain
# `AdminApproved` is what people type, and Salesforce rejects it for ECAs.
_PERMITTED_USERS_ALIASES = {
    "adminapproved": "AdminApprovedPreAuthorized",
    "admin approved users are pre-authorized": "AdminApprovedPreAuthorized",
    "all users may self-authorize": "AllSelfAuthorized",
    "selfauthorized": "AllSelfAuthorized",
}


def permitted_users(value: Any) -> str:
    given = values.text(value)
    alias = _PERMITTED_USERS_ALIASES.get(re.sub(r"\s+", " ", given).lower().rstrip("."))
    return alias or str(values.one_of(values.PERMITTED_USERS)(given))


# refresh_token_policy (connected-app string form) <-> refreshTokenPolicyType + period + unit
_POLICY_TO_ECA = {
    "infinite": "Infinite",
    "zero": "Zero",
    "specific_lifetime": "SpecificLifetime",
    "specific_inactivity": "SpecificInactivity",
}
_POLICY_FROM_ECA = {eca: plain for plain, eca in _POLICY_TO_ECA.items()}
REFRESH_TYPE, REFRESH_PERIOD, REFRESH_UNIT = (
    "refreshTokenPolicyType",
    "refreshTokenValidityPeriod",
    "refreshTokenValidityUnit",
)


def refresh_token_elements(policy: str | None) -> dict[str, Any]:
    """'specific_lifetime:12:HOURS' -> {Type: SpecificLifetime, Period: 12, Unit: Hours}; None -> absent."""
    if policy is None:
        return {REFRESH_TYPE: None, REFRESH_PERIOD: None, REFRESH_UNIT: None}
    kind, _, rest = policy.partition(":")
    amount, _, unit = rest.partition(":")
    return {
        REFRESH_TYPE: _POLICY_TO_ECA[kind],
        REFRESH_PERIOD: int(amount) if amount else None,
        REFRESH_UNIT: unit.capitalize() if unit else None,
    }


def refresh_token_from_elements(component: Mapping[str, Any]) -> str | None:
    kind = component.get(REFRESH_TYPE)
    if kind is None:
        return None
    plain = _POLICY_FROM_ECA.get(str(kind), str(kind))
    if plain in ("infinite", "zero"):
        return plain
    period, unit = component.get(REFRESH_PERIOD), component.get(REFRESH_UNIT)
    try:
        return str(values.refresh_token_policy(f"{plain}:{period}:{str(unit).upper()}"))
    except ValueError:
        return f"{plain}:{period}:{unit}"  # shown as is, so a diff offers to fix it


class PolicySchema(Schema):
    """A Schema whose ``refresh_token_policy`` spans three elements of the component.

    The field is declared with ``path=None`` (so the generic code leaves it alone) and written and
    read here, next to the single-element fields.
    """

    def write(self, component: dict[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
        super().write(component, inputs)
        # Present but None (a restore of an absent element) removes the elements.
        chosen = inputs.get("refresh_token_policy", self.field("refresh_token_policy").default)
        for element, value in refresh_token_elements(chosen).items():
            set_path(component, element, value)
        return component

    def read(self, component: Mapping[str, Any]) -> dict[str, Any]:
        out = super().read(component)
        out["refresh_token_policy"] = refresh_token_from_elements(component) or "infinite"
        return out

    def input_for_salesforce_field(self, salesforce_field: str | None) -> str | None:
        if salesforce_field and salesforce_field.rsplit(".", 1)[-1].startswith("refreshToken"):
            return "refresh_token_policy"
        return super().input_for_salesforce_field(salesforce_field)

    def owned_names(self) -> Iterable[str]:
        """The inputs this resource writes into the component (restored on delete)."""
        return [f.name for f in self.component_fields] + ["refresh_token_policy"]


def policy_name_field() -> Field:
    return Field(
        "policy_name",
        "string",
        "Name of the app's ExtlClntAppOauthConfigurablePolicies component (found with listMetadata).",
        output_only=True,
    )


SCHEMA = PolicySchema(
    kind="ExternalClientAppPolicy",
    component_type=POLICY_TYPE,
    description="The OAuth policies of an External Client App (External Client App Manager > Policies).",
    notes=(
        "Deleting it puts back the values its fields had before it was created "
        "(Salesforce's defaults for a new app).",
        "Same inputs and values as ConnectedAppPolicy; the ECA spellings (Enforce, SpecificLifetime) "
        "are accepted too.",
    ),
    fields=(
        org_field(),
        app_field("External Client App"),
        app_id_field(),
        permitted_users_field("permittedUsersPolicyType", validate=permitted_users),
        ip_relaxation_field(
            "ipRelaxationPolicyType",
            validate=ip_relaxation,
            to_salesforce=IP_RELAXATION_TO_ECA.__getitem__,
            from_salesforce=_ip_relaxation_from_salesforce,
        ),
        # Three elements of the component: PolicySchema writes and reads it.
        refresh_token_policy_field(None),
        token_exchange_policy_field("isTokenExchangeFlowEnabled"),
        single_logout_url_field("singleLogoutUrl"),
        session_timeout_field("sessionTimeoutInMinutes"),
        Field(
            "session_level",
            "string",
            "Session security level required: LOW, STANDARD or HIGH_ASSURANCE.",
            path="requiredSessionLevel",
            validate=values.one_of(("LOW", *values.SESSION_LEVELS)),
            docs_values="LOW, " + ", ".join(values.SESSION_LEVELS),
        ),
        policy_action_field("policyAction"),
        previous_values_field(),
        policy_name_field(),
    ),
)


class EcaPolicyPart(AppPartProvider):
    """An app part that lives in the ECA's OAuth policies component.

    The component's name is looked up once (listMetadata) and kept in the output ``policy_name``;
    a lookup runs again when the app changes or the remembered component is gone.
    """

    def component_type(self) -> str:
        return POLICY_TYPE

    def component_name(self, state: dict[str, Any]) -> str:
        if state.get("policy_name"):
            return str(state["policy_name"])
        client = salesforce.org(state["org"])
        found = find_part_name(client, POLICY_TYPE, state["app"])
        if not found:
            raise salesforce.SalesforceError(
                client.alias, None, "app", "NOT_FOUND",
                f"there is no External Client App '{state['app']}' with OAuth policies "
                "(pass the ExternalClientApp resource's api_name)",
            )  # fmt: skip
        state["policy_name"] = found  # callers pass their own dict: later calls reuse the name
        return found

    def create(self, props: dict[str, Any]) -> CreateResult:
        return super().create(self._with_policy_name(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        same_app = olds.get("app") == news.get("app") and olds.get("app_id") == news.get("app_id")
        if same_app and olds.get("policy_name"):
            news = {**news, "policy_name": olds["policy_name"]}
        return super().update(_id, olds, self._with_policy_name(news))

    def _with_policy_name(self, props: dict[str, Any]) -> dict[str, Any]:
        state = self.plain(props)
        with self.reporting(state):
            self.component_name(state)
        return {**props, "policy_name": state["policy_name"]}

    def _read_live(self, state: dict[str, Any]) -> dict[str, Any] | None:
        client = salesforce.org(state["org"])
        component = client.read_component(POLICY_TYPE, self.component_name(state))
        if component is None and state.get("policy_name"):
            # The app may have been made again, with new policies: look once more.
            found = find_part_name(client, POLICY_TYPE, state["app"])
            if found:
                state["policy_name"] = found
                component = client.read_component(POLICY_TYPE, found)
        return component

    def _outputs(
        self, inputs: dict[str, Any], component: dict[str, Any] | None, previous: dict[str, Any]
    ) -> dict[str, Any]:
        outs = super()._outputs(inputs, component, previous)
        if inputs.get("policy_name"):
            outs["policy_name"] = inputs["policy_name"]
        return outs


class ExternalClientAppPolicyProvider(EcaPolicyPart):
    schema = SCHEMA

    def _restore(self, state: dict[str, Any]) -> bool:
        """Put the remembered values back (None: the element was absent), refresh token included."""
        previous = state.get("previous_values") or {}
        restore = {name: previous.get(name) for name in SCHEMA.owned_names()}

        def put_back(component: dict[str, Any]) -> dict[str, Any]:
            return SCHEMA.write(component, restore)

        try:
            salesforce.modify_component(
                state["org"], POLICY_TYPE, self.component_name(state), put_back, self.describe(state)
            )
        except salesforce.SalesforceError as err:
            if salesforce.is_not_found(err):
                return False
            raise
        return True


class ExternalClientAppPolicy(
    AppPartResource[ExternalClientAppPolicyArgs], module="salesforce", name="ExternalClientAppPolicy"
):
    """OAuth policies of an External Client App.

    Type token: ``pulumi-python:dynamic/salesforce:ExternalClientAppPolicy``.
    """

    permitted_users: pulumi.Output[str]
    ip_relaxation: pulumi.Output[str]
    refresh_token_policy: pulumi.Output[str]
    session_timeout: pulumi.Output[int]
    policy_name: pulumi.Output[str]

    provider_class = ExternalClientAppPolicyProvider
