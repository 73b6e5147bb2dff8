"""The shipped stacks through the real Pulumi CLI against the test's emulator orgs.

The project (Pulumi.yaml, __main__.py, providers/, the stack file) is copied into a tmp dir whose
stack config points `state_dir` at the test's emulator; everything else is as shipped. Asserts:
the exact stack outputs, a successful verification, the consumer secret kept secret everywhere,
a second preview with no changes and no write to either org, and destroy returning both orgs to
their starting content.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine import ROOT, Pulumi, change_counts

OUTPUT_NAMES = {
    "consumer_key",
    "consumer_secret",
    "token_url",
    "named_credential",
    "certificate_fingerprint",
    "certificate_expires",
    "verification",
}
ALLOW = "allow-connected-app-creation"


def copy_project(stack: str, target: Path, state_dir: Path) -> None:
    target.mkdir()
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
    (target / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    shutil.copy(ROOT / "__main__.py", target / "__main__.py")
    shutil.copytree(ROOT / "providers", target / "providers", ignore=shutil.ignore_patterns("__pycache__"))
    settings = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    # The shipped salt belongs to the demo's passphrase; the tests use their own.
    settings.pop("encryptionsalt", None)
    for connection in settings["config"]["orglink:orgs"].values():
        connection["state_dir"] = str(state_dir)
    (target / "stacks").mkdir()
    (target / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(settings))


def snapshots(emulator: Any) -> dict[str, Any]:
    return {alias: emulator.admin.snapshot(alias) for alias in ("orgA", "orgB")}


def writes(emulator: Any, alias: str) -> dict[str, int]:
    return {k: n for k, n in emulator.admin.counters(alias).items() if k.endswith(".write") and n}


# The stacks whose Org B app is an External Client App: they must work where connected apps
# cannot be created (the org setting stays off for them).
ECA_STACKS = {"local-eca"}


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
def org_b_for(emulator: Any, stack: str) -> Any:
    """The emulator, with Org B allowing connected-app creation only for connected-app stacks."""
    before = emulator.admin.settings("orgB").get(ALLOW)
    emulator.admin.set_setting("orgB", ALLOW, stack not in ECA_STACKS)
    yield emulator
    emulator.admin.set_setting("orgB", ALLOW, before)


@pytest.mark.parametrize("stack", ["local", "local-assess", "local-eca"])
def test_stack_up_verify_noop_destroy(stack: str, tmp_path: Path, pulumi_factory: Any,
                                      org_b_for: Any) -> None:  # fmt: skip
    emulator = org_b_for
    project = tmp_path / "project"
    copy_project(stack, project, emulator.state_dir)
    pulumi: Pulumi = pulumi_factory(project)
    pulumi.stack_init(stack)
    before = snapshots(emulator)

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
    live = snapshots(emulator)
    oauth = org_b_oauth(before["orgB"], live["orgB"], outputs["consumer_key"], eca=stack in ECA_STACKS)
    assert oauth.get("isClientCredentialsFlowEnabled" if stack in ECA_STACKS else "isClientCredentialEnabled")
    named = live["orgA"]["components"]["NamedCredential"][outputs["named_credential"]]
    assert named["namedCredentialType"] == "SecuredEndpoint"

    emulator.admin.mark("orgA")
    emulator.admin.mark("orgB")
    assert change_counts(pulumi.preview_json(stack)) == {}
    pulumi.up(stack)  # a no-op up: nothing to verify again, nothing written
    assert writes(emulator, "orgA") == {} and writes(emulator, "orgB") == {}

    pulumi.run("destroy", "--yes", "--stack", stack)
    assert snapshots(emulator) == before
