"""ECA resources without Salesforce: check() names bad input and its fix, diff() is field by field,
typed args match the schemas, type tokens, secrets stay secret, the swap with the connected app."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pulumi.output import Unknown

from providers.org_b.connected_app.app import SCHEMA as CONNECTED_APP_SCHEMA
from providers.org_b.connected_app.policy import SCHEMA as CONNECTED_APP_POLICY_SCHEMA
from providers.org_b.connected_app.profile_assignment import SCHEMA as CONNECTED_APP_ASSIGNMENT_SCHEMA
from providers.org_b.connected_app.run_as_user import SCHEMA as CONNECTED_APP_RUN_AS_SCHEMA
from providers.org_b.external_client_app.app import (
    ExternalClientApp,
    ExternalClientAppArgs,
    ExternalClientAppProvider,
)
from providers.org_b.external_client_app.policy import (
    ExternalClientAppPolicy,
    ExternalClientAppPolicyArgs,
    ExternalClientAppPolicyProvider,
)
from providers.org_b.external_client_app.profile_assignment import (
    ExternalClientAppProfileAssignment,
    ExternalClientAppProfileAssignmentArgs,
    ExternalClientAppProfileAssignmentProvider,
)
from providers.org_b.external_client_app.run_as_user import (
    ExternalClientAppRunAsUser,
    ExternalClientAppRunAsUserArgs,
    ExternalClientAppRunAsUserProvider,
)
from tests.support import self_signed_certificate

APP = {
    "org": "orgB",
    "api_name": "Carrier_API_App",
    "contact_email": "ops@example.com",
    "callback_urls": ["http://localhost/callback"],
    "scopes": ["api", "refresh_token"],
}


def reasons(provider: Any, news: dict[str, Any]) -> dict[str, str]:
    return {f.property: f.reason for f in provider.check({}, news).failures}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("contact_email", "ops-at-example", "not an e-mail address"),
        ("callback_urls", ["not a url"], "not an absolute URL"),
        ("scopes", ["api", "manage everything"], "not a known OAuth scope"),
        ("certificate", "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----", "not an X.509"),
        ("trusted_ip_ranges", ["10.0.0.9-10.0.0.1"], "ends before it starts"),
        ("trusted_ip_ranges", ["10.0.0.300"], "not an IP address"),
        ("api_name", "Carrier__App", "not a valid API name"),
        ("pkce_required", "maybe", "must be true or false"),
        ("credential_generation", "next", "must be a whole number"),
        ("consumer_key", "MyOwnKey123", "is an output of ExternalClientApp"),
    ],
)
def test_bad_app_input_is_named_with_its_fix(field: str, value: Any, expected: str) -> None:
    assert expected in reasons(ExternalClientAppProvider(), {**APP, field: value})[field]


def test_missing_required_inputs() -> None:
    found = reasons(ExternalClientAppProvider(), {"org": "orgB"})
    assert {"api_name", "contact_email", "callback_urls", "scopes"} <= set(found)


def test_check_fills_defaults_and_tolerates_unknowns() -> None:
    inputs = ExternalClientAppProvider().check({}, APP).inputs
    assert inputs["label"] == "Carrier API App" and inputs["scopes"] == ["Api", "RefreshToken"]
    assert inputs["pkce_required"] is True and inputs["credential_generation"] == 0
    preview = {**APP, "certificate": Unknown(), "scopes": ["api", Unknown()]}
    assert ExternalClientAppProvider().check({}, preview).failures == []


def test_diff_is_field_by_field_and_ignores_normalisation() -> None:
    provider = ExternalClientAppProvider()
    pem = self_signed_certificate().pem
    olds = {**provider.check({}, {**APP, "certificate": pem}).inputs, "consumer_key": "K" * 20}
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    same = provider.check(
        olds, {**APP, "certificate": body, "scopes": ["Api", "Perform requests at any time (refresh_token)"]}
    )
    assert provider.diff("x", olds, same.inputs).changes is False
    moved = provider.check(olds, {**APP, "certificate": pem, "trusted_ip_ranges": ["10.1.1.1"]})
    found = provider.changes(olds, moved.inputs)
    assert found.changed == ("trusted_ip_ranges",) and found.replaces == ()


@pytest.mark.parametrize(
    ("args", "provider"),
    [
        (ExternalClientAppArgs, ExternalClientAppProvider),
        (ExternalClientAppPolicyArgs, ExternalClientAppPolicyProvider),
        (ExternalClientAppProfileAssignmentArgs, ExternalClientAppProfileAssignmentProvider),
        (ExternalClientAppRunAsUserArgs, ExternalClientAppRunAsUserProvider),
    ],
)
def test_typed_args_match_the_schema(args: typing.Any, provider: typing.Any) -> None:
    assert set(args.__required_keys__ | args.__optional_keys__) == {f.name for f in provider.schema.inputs}


def test_type_tokens_and_secret_outputs() -> None:
    for resource in (
        ExternalClientApp,
        ExternalClientAppPolicy,
        ExternalClientAppProfileAssignment,
        ExternalClientAppRunAsUser,
    ):
        assert resource._resource_type_name == f"dynamic/salesforce:{resource.__name__}"
    assert ExternalClientAppProvider.schema.secret_outputs == ["consumer_secret"]


@pytest.mark.parametrize(
    ("eca", "connected", "only_connected"),
    [
        (
            ExternalClientAppProvider.schema,
            CONNECTED_APP_SCHEMA,
            # Salesforce generates ECA credentials (never inputs) and ECAs can always be created.
            # (`owner` is in both: the connected app's key tag, the ECA's description marker.)
            {"consumer_key", "consumer_secret", "adopt", "delete_on_destroy"},
        ),
        (ExternalClientAppPolicyProvider.schema, CONNECTED_APP_POLICY_SCHEMA, set()),
        (ExternalClientAppRunAsUserProvider.schema, CONNECTED_APP_RUN_AS_SCHEMA, set()),
        (ExternalClientAppProfileAssignmentProvider.schema, CONNECTED_APP_ASSIGNMENT_SCHEMA, set()),
    ],
)
def test_inputs_and_outputs_swap_with_the_connected_app(
    eca: Any, connected: Any, only_connected: set[str]
) -> None:
    """The integration component passes the same inputs to either model and reads the same outputs."""
    assert {f.name for f in connected.inputs} - {f.name for f in eca.inputs} == only_connected
    # Only an adopted connected app remembers what to put back when it is released.
    adopted_only = {"previous_values"} if "adopt" in only_connected else set()
    assert {f.name for f in connected.fields} - {f.name for f in eca.fields} <= only_connected | adopted_only
