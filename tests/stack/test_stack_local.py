"""The shipped stacks through the real Pulumi CLI against the test's emulator orgs.

The project (Pulumi.yaml, __main__.py, providers/, the stack file) is copied into a tmp dir whose
stack config points `state_dir` at the test's emulator; everything else is as shipped. Asserts:
the exact stack outputs, a successful verification, the consumer secret kept secret everywhere,
a second preview with no changes and no write to either org, and destroy returning both orgs to
their starting content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator_fixtures import connected_app_creation
from tests.engine import change_counts
from tests.lifecycle_support import ECA_STACKS
from tests.stack_project import StackProject, org_snapshots, shipped_stack_settings, write_counts

OUTPUT_NAMES = {
    "consumer_key",
    "consumer_secret",
    "token_url",
    "named_credential",
    "certificate_fingerprint",
    "certificate_expires",
    "verification",
}
def org_b_oauth(
    before: dict[str, Any], org_b: dict[str, Any], consumer_key: str, eca: bool
) -> dict[str, Any]:
    """The OAuth settings of the one app the stack added to Org B, which must be of the stack's type
    and hold this key (other tests' apps may share the session's emulator: only new ones count)."""

    def added(mtype: str) -> dict[str, Any]:
        existed = before["components"].get(mtype, {})
        return {name: c for name, c in org_b["components"].get(mtype, {}).items() if name not in existed}

    apps, ecas = added("ConnectedApp"), added("ExtlClntAppGlobalOauthSettings")
    assert not (apps if eca else ecas), "the stack added an app of the other type to Org B"
    found = list(ecas.values()) if eca else [app["oauthConfig"] for app in apps.values()]
    [oauth] = [settings for settings in found if settings.get("consumerKey") == consumer_key]
    return oauth


@pytest.fixture
def org_b_for(emulator: Any, stack: str) -> Iterator[Any]:
    """The emulator, with Org B allowing connected-app creation only for connected-app stacks: the
    External Client App stacks must work where connected apps cannot be created."""
    with connected_app_creation(emulator.admin, allowed=stack not in ECA_STACKS):
        yield emulator


@pytest.mark.parametrize("stack", ["local", "local-assess", "local-eca"])
def test_stack_up_verify_noop_destroy(stack: str, tmp_path: Path, org_b_for: Any) -> None:
    emulator = org_b_for
    project = StackProject(tmp_path / "project", emulator.state_dir, tmp_path / "pulumi-state")
    project.init_stack(stack, shipped_stack_settings(stack))
    pulumi = project.pulumi
    before = org_snapshots(emulator.admin)

    up = pulumi.up(stack)

    outputs = pulumi.outputs(stack)
    assert set(outputs) == OUTPUT_NAMES
    assert outputs["verification"]["ok"] is True, outputs["verification"]
    assert outputs["verification"]["flow"] == "client_credentials"
    assert outputs["token_url"] == f"{emulator.org('orgB')['instance_url']}/services/oauth2/token"
    assert outputs["certificate_expires"].endswith("Z") and len(outputs["certificate_fingerprint"]) == 95

    secret = pulumi.outputs(stack, show_secrets=True)["consumer_secret"]
    assert outputs["consumer_secret"] == "[secret]" and len(secret) >= 8
    # Booleans, so that a failure's message never shows the secret itself.
    in_outputs, in_state = secret in json.dumps(outputs), secret in json.dumps(pulumi.export_state(stack))
    in_up = secret in up.stdout + up.stderr
    assert not (in_outputs or in_state or in_up), f"secret in outputs/state/up: {in_outputs, in_state, in_up}"

    # Org B's app is the one whose key Org A's principal holds, and Org A's credentials point at it.
    live = org_snapshots(emulator.admin)
    oauth = org_b_oauth(before["orgB"], live["orgB"], outputs["consumer_key"], eca=stack in ECA_STACKS)
    assert oauth.get("isClientCredentialsFlowEnabled" if stack in ECA_STACKS else "isClientCredentialEnabled")
    named = live["orgA"]["components"]["NamedCredential"][outputs["named_credential"]]
    assert named["namedCredentialType"] == "SecuredEndpoint"

    emulator.admin.mark("orgA")
    emulator.admin.mark("orgB")
    assert change_counts(pulumi.preview_json(stack)) == {}
    pulumi.up(stack)  # a no-op up: nothing to verify again, nothing written
    assert write_counts(emulator.admin, "orgA") == {} and write_counts(emulator.admin, "orgB") == {}

    pulumi.run("destroy", "--yes", "--stack", stack)
    assert org_snapshots(emulator.admin) == before
