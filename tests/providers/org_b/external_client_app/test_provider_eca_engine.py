"""The four ECA resources through the real Pulumi CLI against the emulator: up, a no-op preview that
calls no API, an in-place update, refresh, a secret output, a client-credentials token, destroy."""

from __future__ import annotations

import json
import secrets
import textwrap
from pathlib import Path
from typing import Any

import requests

from tests.eca_support import ORG, SECRET_SETTING
from tests.engine import ROOT, change_counts

PROGRAM = """
import pulumi
from providers.org_b.external_client_app.app import ExternalClientApp
from providers.org_b.external_client_app.policy import ExternalClientAppPolicy
from providers.org_b.external_client_app.profile_assignment import ExternalClientAppProfileAssignment
from providers.org_b.external_client_app.run_as_user import ExternalClientAppRunAsUser

config = pulumi.Config("eca")
app = ExternalClientApp("app", {
    "org": "orgB", "api_name": config.require("app"), "contact_email": "ops@example.com",
    "callback_urls": ["http://localhost/callback"], "scopes": ["api", "refresh_token"],
    "enable_secret_in_rest_api": True,
})
part = {"org": "orgB", "app": app.api_name, "app_id": app.app_id}
policy = ExternalClientAppPolicy("policy", {
    **part, "permitted_users": "AdminApprovedPreAuthorized",
    "session_timeout": config.get_int("timeout") or 1440,
    "refresh_token_policy": "specific_lifetime:12:HOURS",
})
ExternalClientAppRunAsUser("run-as", {**part, "username": "integration@orgb.orglink.test"})
ExternalClientAppProfileAssignment(
    "assign", {**part, "profile": "Minimum Access - API Only Integrations"},
    pulumi.ResourceOptions(depends_on=[policy]),
)
pulumi.export("consumer_key", app.consumer_key)
pulumi.export("consumer_secret", app.consumer_secret)
pulumi.export("policy_name", policy.policy_name)
"""


def write_project(project: Path) -> None:
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: eca-engine
            runtime:
              name: python
              options:
                virtualenv: {ROOT / ".venv"}
            """
        )
    )
    (project / "__main__.py").write_text(PROGRAM)


def without_audit(snapshot: dict[str, Any]) -> dict[str, Any]:
    for by_name in snapshot["components"].values():
        for body in by_name.values():
            body.pop("_audit", None)
    return snapshot


def test_eca_resources_through_the_engine(tmp_path: Path, pulumi_factory: Any, emulator: Any) -> None:
    project = tmp_path / "eca"
    write_project(project)
    pulumi = pulumi_factory(project, {"PYTHONPATH": str(ROOT), "ORGLINK_RETRY_BASE_S": "0.05"})
    stack = "eca"
    pulumi.stack_init(stack)
    name = "Orglink_Engine_" + secrets.token_hex(4)
    pulumi.run("config", "set", "eca:app", name, "--stack", stack)
    orgs = {ORG: {"auth": "emulator", "state_dir": str(emulator.state_dir)}}
    pulumi.run("config", "set", "--path", "orglink:orgs", json.dumps(orgs), "--stack", stack)
    emulator.admin.set_setting(ORG, SECRET_SETTING, False)
    before = without_audit(emulator.admin.snapshot(ORG))

    pulumi.up(stack)
    shown = pulumi.outputs(stack)
    assert shown["consumer_secret"] == "[secret]" and shown["policy_name"] == f"{name}_oauthPlcy"
    outputs = pulumi.outputs(stack, show_secrets=True)
    token = requests.post(
        emulator.org(ORG)["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": outputs["consumer_key"],
            "client_secret": outputs["consumer_secret"],
        },
        verify=emulator.ca_bundle,
        timeout=30,
    )
    assert token.status_code == 200, token.text
    assert outputs["consumer_secret"] not in json.dumps(pulumi.export_state(stack))

    emulator.admin.mark(ORG)
    assert change_counts(pulumi.preview_json(stack)) == {}
    assert sum(emulator.admin.counters(ORG).values()) == 0

    pulumi.run("config", "set", "eca:timeout", "30", "--stack", stack)
    assert change_counts(pulumi.preview_json(stack)) == {"update": 1}
    pulumi.up(stack)
    policy = emulator.admin.get_component(ORG, "ExtlClntAppOauthConfigurablePolicies", f"{name}_oauthPlcy")
    assert policy["sessionTimeoutInMinutes"] == 30 and policy["refreshTokenValidityPeriod"] == 12

    pulumi.run("refresh", "--yes", "--stack", stack)
    assert change_counts(pulumi.preview_json(stack)) == {}

    pulumi.run("destroy", "--yes", "--stack", stack)
    assert without_audit(emulator.admin.snapshot(ORG)) == before
