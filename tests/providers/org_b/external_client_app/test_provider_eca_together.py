"""The four ECA resources on one app: concurrent changes lose nothing, the emulator issues a
client-credentials token once all four are applied, and destroying them leaves the org as it was."""

from __future__ import annotations

from functools import partial
from typing import Any

import requests

from providers import salesforce
from providers.framework.provider import OrglinkProvider
from providers.org_b.external_client_app.app import ExternalClientAppProvider
from providers.org_b.external_client_app.policy import ExternalClientAppPolicyProvider
from providers.org_b.external_client_app.profile_assignment import ExternalClientAppProfileAssignmentProvider
from providers.org_b.external_client_app.run_as_user import ExternalClientAppRunAsUserProvider
from tests.eca_support import (
    GLOBAL,
    HEADER,
    OAUTH,
    ORG,
    USERS,
    access_rows,
    app_inputs,
    component,
    eca_env,
    policy_of,
)
from tests.support import apply_in_rounds, create, run_together, self_signed_certificate

__all__ = ["eca_env"]


def providers() -> dict[str, OrglinkProvider]:
    return {
        "policy": ExternalClientAppPolicyProvider(),
        "run_as": ExternalClientAppRunAsUserProvider(),
        "assign": ExternalClientAppProfileAssignmentProvider(),
    }


def test_concurrent_changes_to_one_app_lose_nothing(eca_env: Any) -> None:
    """All four resources apply to one app at the same time, round after round; every round's
    values must all be in the app afterwards (metadata updates replace whole components, and the
    app and the run-as user both write the global settings)."""
    news = app_inputs(certificate=self_signed_certificate().pem)
    name = news["api_name"]
    app = ExternalClientAppProvider()
    app_id, app_outs = create(app, news)
    certificate = component(eca_env, GLOBAL, f"{name}_glbloauth")["certificate"]
    part = {"org": ORG, "app": name, "app_id": app_id}
    parts = providers()
    users = [USERS["standard"], USERS["integration"]]

    def wanted(round_: int) -> dict[str, dict[str, Any]]:
        return {
            "app": {**news, "label": f"Round {round_}", "callback_urls": [f"https://r{round_}.example/cb"]},
            "policy": {
                **part,
                "permitted_users": "AdminApprovedPreAuthorized",
                "ip_relaxation": ["ENFORCE", "BYPASS", "BYPASS_2FACTOR"][round_ % 3],
                "session_timeout": [15, 30, 60, 1440][round_ % 4],
                "refresh_token_policy": f"specific_inactivity:{round_}:DAYS",
            },
            "run_as": {**part, "username": users[round_ % 2]},
            "assign": {**part, "profile": ["Standard User", "System Administrator"][round_ % 2]},
        }

    def check(round_: int, want: dict[str, dict[str, Any]]) -> None:
        header, glob = component(eca_env, HEADER, name), component(eca_env, GLOBAL, f"{name}_glbloauth")
        policy = policy_of(eca_env, name)
        assert header["label"] == want["app"]["label"]
        assert glob["callbackUrl"] == want["app"]["callback_urls"][0]
        assert glob["certificate"] == certificate
        assert glob["isClientCredentialsFlowEnabled"] is True
        assert policy["ipRelaxationPolicyType"].upper() == want["policy"]["ip_relaxation"]
        assert policy["sessionTimeoutInMinutes"] == want["policy"]["session_timeout"]
        assert policy["refreshTokenValidityPeriod"] == round_
        assert policy["clientCredentialsFlowUser"] == want["run_as"]["username"]
        assert policy["isClientCredentialsFlowEnabled"] is True
        assert component(eca_env, OAUTH, f"{name}_oauth")["commaSeparatedOauthScopes"] == "Api, RefreshToken"
        assert len(access_rows(eca_env, app_id)) == 1

    states = apply_in_rounds(app, (app_id, app_outs), parts, wanted, check)

    run_together({key: partial(parts[key].delete, *states[key]) for key in parts})
    policy, glob = policy_of(eca_env, name), component(eca_env, GLOBAL, f"{name}_glbloauth")
    assert policy["ipRelaxationPolicyType"] == "Enforce" and "sessionTimeoutInMinutes" not in policy
    assert policy["permittedUsersPolicyType"] == "AllSelfAuthorized"
    assert not policy.get("isClientCredentialsFlowEnabled") and not glob.get("isClientCredentialsFlowEnabled")
    assert access_rows(eca_env, app_id) == []
    app.delete(*states["app"])


def client_credentials(env: Any, key: str, secret: str) -> requests.Response:
    org = env.org(ORG)
    return requests.post(
        org["token_url"],
        data={"grant_type": "client_credentials", "client_id": key, "client_secret": secret},
        verify=env.ca_bundle,
        timeout=30,
    )


def without_audit(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without the emulator's who/when bookkeeping of each component."""
    for by_name in snapshot["components"].values():
        for body in by_name.values():
            body.pop("_audit", None)
    return snapshot


def test_token_after_all_four_and_destroy_restores_the_org(eca_env: Any) -> None:
    salesforce.org(ORG)  # log in before the snapshot
    before = without_audit(eca_env.admin.snapshot(ORG))
    app = ExternalClientAppProvider()
    app_id, app_outs = create(app, app_inputs())
    key, secret = app_outs["consumer_key"], app_outs["consumer_secret"]
    part = {"org": ORG, "app": app_outs["api_name"], "app_id": app_id}
    parts = providers()
    refused = client_credentials(eca_env, key, secret)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    states = {
        "policy": create(parts["policy"], {**part, "permitted_users": "AdminApprovedPreAuthorized"}),
        "run_as": create(parts["run_as"], {**part, "username": USERS["integration"]}),
        "assign": create(parts["assign"], {**part, "profile": "Minimum Access - API Only Integrations"}),
    }
    issued = client_credentials(eca_env, key, secret)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["access_token"] and body["instance_url"] == eca_env.org(ORG)["instance_url"]
    assert "api" in body["scope"].split()

    for key_ in ("assign", "run_as", "policy"):  # the engine deletes dependents first
        parts[key_].delete(*states[key_])
    app.delete(app_id, app_outs)
    assert client_credentials(eca_env, key, secret).json()["error"] == "invalid_client_id"
    assert without_audit(eca_env.admin.snapshot(ORG)) == before
