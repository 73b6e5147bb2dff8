"""ExternalClientAppPolicy against the emulator: the auto-created policies found with listMetadata,
connected-app style inputs mapped to the ECA enums, refresh, restore on delete, faults."""

from __future__ import annotations

from typing import Any

import pytest

from providers import salesforce
from providers.org_b.external_client_app.policy import ExternalClientAppPolicyProvider
from tests.eca_support import (
    ORG,
    POLICY,
    eca_env,
    made_app,
    policy_of,
)
from tests.support import checked, create, update

__all__ = ["eca_env", "made_app"]


def test_policy_lifecycle_restores_defaults(eca_env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    app_id, app_outs = made_app
    name = app_outs["api_name"]
    defaults = policy_of(eca_env, name)
    policy = ExternalClientAppPolicyProvider()
    news = {
        "org": ORG,
        "app": name,
        "app_id": app_id,
        "permitted_users": "AdminApprovedPreAuthorized",
        "ip_relaxation": "BYPASS",
        "refresh_token_policy": "specific_lifetime:12:HOURS",
        "session_timeout": "24h",
        "session_level": "HIGH_ASSURANCE",
        "single_logout_url": "https://logout.example/slo",
    }
    id_, outs = create(policy, news)
    live = policy_of(eca_env, name)
    assert outs["policy_name"] == f"{name}_oauthPlcy"  # found with listMetadata
    assert live["permittedUsersPolicyType"] == "AdminApprovedPreAuthorized"
    assert live["ipRelaxationPolicyType"] == "Bypass"
    assert (live["refreshTokenPolicyType"], live["refreshTokenValidityPeriod"]) == ("SpecificLifetime", 12)
    assert live["refreshTokenValidityUnit"] == "Hours"
    assert live["sessionTimeoutInMinutes"] == 1440 and live["requiredSessionLevel"] == "HIGH_ASSURANCE"
    assert outs["refresh_token_policy"] == "specific_lifetime:12:HOURS" and outs["ip_relaxation"] == "BYPASS"

    eca_env.admin.mark(ORG)
    assert policy.diff(id_, outs, checked(policy, news, outs)).changes is False
    assert sum(eca_env.admin.counters(ORG).values()) == 0

    changed, outs = update(policy, id_, outs, {**news, "refresh_token_policy": "infinite"})
    live = policy_of(eca_env, name)
    assert changed and live["refreshTokenPolicyType"] == "Infinite"
    assert "refreshTokenValidityPeriod" not in live and "refreshTokenValidityUnit" not in live

    # A change in Setup shows up on refresh.
    live["ipRelaxationPolicyType"] = "Enforce_RelaxRefresh"
    eca_env.admin.put_component(ORG, POLICY, f"{name}_oauthPlcy", live)
    refreshed = policy.read(id_, outs)
    assert refreshed.outs is not None and refreshed.outs["ip_relaxation"] == "ENFORCE_RELAXREFRESH"

    policy.delete(id_, refreshed.outs)
    after = policy_of(eca_env, name)
    after.pop("_audit", None), defaults.pop("_audit", None)
    assert after == defaults


def test_eca_spellings_and_connected_app_values_mean_the_same(eca_env: Any) -> None:
    policy = ExternalClientAppPolicyProvider()
    base = {"org": ORG, "app": "Some_App"}
    a = checked(policy, {**base, "ip_relaxation": "Bypass_2factor", "permitted_users": "AdminApproved"})
    b = checked(
        policy, {**base, "ip_relaxation": "BYPASS_2FACTOR", "permitted_users": "AdminApprovedPreAuthorized"}
    )
    assert a == b
    c = checked(policy, {**base, "permitted_users": "Admin approved users are pre-authorized"})
    assert c["permitted_users"] == "AdminApprovedPreAuthorized"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("ip_relaxation", "RELAX", "use one of: ENFORCE, BYPASS_2FACTOR, BYPASS, ENFORCE_RELAXREFRESH"),
        ("permitted_users", "Everyone", "use one of: AllSelfAuthorized, AdminApprovedPreAuthorized"),
        ("refresh_token_policy", "specific_lifetime:12", "needs a duration"),
        ("session_timeout", 17, "not a session timeout Salesforce offers"),
        ("session_level", "MEDIUM", "LOW, STANDARD, HIGH_ASSURANCE"),
        ("single_logout_url", "http://x.example/slo", "must be an https:// URL"),
        ("app", "bad name!", "not a valid API name"),
    ],
)
def test_bad_policy_input_is_named(field: str, value: Any, expected: str) -> None:
    news = {"org": ORG, "app": "Some_App", field: value}
    failures = {f.property: f.reason for f in ExternalClientAppPolicyProvider().check({}, news).failures}
    assert expected in failures[field]


def test_missing_app_is_named(eca_env: Any) -> None:
    with pytest.raises(salesforce.SalesforceError, match="no External Client App 'No_Such_App'") as err:
        create(ExternalClientAppPolicyProvider(), {"org": ORG, "app": "No_Such_App"})
    assert err.value.field == "app"


def test_policy_survives_faults_and_an_expired_session(
    eca_env: Any, made_app: tuple[str, dict[str, Any]]
) -> None:
    _, app_outs = made_app
    name = app_outs["api_name"]
    policy = ExternalClientAppPolicyProvider()
    news = {"org": ORG, "app": name, "ip_relaxation": "BYPASS"}
    eca_env.admin.inject_fault(ORG, "metadata", "UNABLE_TO_LOCK_ROW", count=2)
    id_, outs = create(policy, news)
    eca_env.admin.expire_sessions(ORG)
    eca_env.admin.inject_fault(ORG, "metadata", "503")
    changed, outs = update(policy, id_, outs, {**news, "session_timeout": 30})
    assert changed and policy_of(eca_env, name)["sessionTimeoutInMinutes"] == 30
    policy.delete(id_, outs)
    assert policy_of(eca_env, name)["ipRelaxationPolicyType"] == "Enforce"
