"""The GitHub Actions workflow users copy (docs/ci/orglink.yml) runs here, step by step, on the emulator.

The workflow is parsed, each job's `${{ ... }}` expressions are filled in as GitHub would (secrets,
vars, the matrix), and every `run:` step after the runner's setup is executed with bash in a fresh
copy of the project (a checkout): a pull request's preview job for `dev`, then the merge's up job, then
another pull request's preview. The stack logs in to both orgs with JWT bearer apps whose private keys
come only from the CI secrets, and its state is on a `file://` backend named by a CI secret.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.emulator_fixtures import EmulatorHandle, connected_app_body
from tests.engine import ROOT, TOOLS_BIN, Pulumi
from tests.lifecycle_support import changed_paths, connected_apps_allowed, own_emulator
from tests.stack_project import ORGS, Settings, StackProject, org_snapshots, shipped_stack_settings
from tests.support import self_signed_certificate

WORKFLOW = ROOT / "docs" / "ci" / "orglink.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(\w+)\.(\w+)\s*\}\}")
JOB_EVENTS = {"preview": "pull_request", "up": "push"}
STACK = "dev"
# What prepares the runner; here `make setup` ran before the tests, and the machine is offline.
RUNNER_ACTIONS = ("actions/checkout@", "actions/setup-python@", "pulumi/actions@")
SETUP_STEP = "make setup"


def load_workflow() -> dict[str, Any]:
    parsed: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as true.
    workflow: dict[str, Any] = {str(key): value for key, value in parsed.items() if key is not True}
    workflow["on"] = parsed.get(True, parsed.get("on"))
    return workflow


def fill_in(value: Any, context: dict[str, dict[str, str]]) -> str:
    """A value with its `${{ scope.name }}` expressions replaced; an unset secret or var is empty,
    as on GitHub. Any other expression fails the test: keep the workflow to these."""

    def one(match: re.Match[str]) -> str:
        scope, name = match.groups()
        assert scope in context, f"{WORKFLOW.name}: unsupported expression {match.group(0)}"
        return context[scope].get(name, "")

    text = EXPRESSION.sub(one, str(value))
    assert "${{" not in text, f"{WORKFLOW.name}: unsupported expression in {value!r}"
    return text


def runner_env(home: Path, github_path: Path) -> dict[str, str]:
    """A CI runner's environment: nothing of this machine's Pulumi settings, the CLI on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        PATH=f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        PULUMI_HOME=str(home / ".pulumi"),
        CI="true",
        GITHUB_PATH=str(github_path),
        # The runner would download plugins it lacks; this machine has them and no internet.
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
    )
    return env


def run_job(name: str, job: dict[str, Any], context: dict[str, dict[str, str]], checkout: Path,
            home: Path) -> dict[str, subprocess.CompletedProcess[str]]:  # fmt: skip
    """Runs the job's steps for the `dev` matrix entry; returns each run step's result by name."""
    event = JOB_EVENTS[name]
    assert job["if"] == f"github.event_name == '{event}'"
    assert STACK in job["strategy"]["matrix"]["stack"]
    github = {"event_name": event, "ref": "refs/heads/main"}
    context = {**context, "matrix": {"stack": STACK}, "github": github}
    env = runner_env(home, checkout.parent / f"{checkout.name}.github_path")
    env.update({key: fill_in(value, context) for key, value in job["env"].items()})
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    for step in job["steps"]:
        if "uses" in step:
            assert str(step["uses"]).startswith(RUNNER_ACTIONS), f"unknown action {step['uses']}"
            continue
        if step["name"] == SETUP_STEP:
            assert "make setup" in step["run"]
            continue
        step_env = {**env, **{k: fill_in(v, context) for k, v in step.get("env", {}).items()}}
        # GitHub's default shell for run steps.
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=checkout, env=step_env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert completed.returncode == 0, (
            f"{name} step {step['name']!r} exited {completed.returncode}\n"
            f"--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
        )
        results[step["name"]] = completed
    return results


def jwt_app_name(alias: str) -> str:
    return f"Orglink_CI_{alias}"


def jwt_login_app(emu: EmulatorHandle, alias: str) -> tuple[str, str]:
    """A connected app for orglink's deploy user with JWT bearer, as README's CI setup makes once per
    org: its certificate, admin approved and pre-authorized for System Administrator."""
    cert = self_signed_certificate(f"orglink-ci-{alias}")
    name, key = jwt_app_name(alias), "3MVG9ci" + secrets.token_hex(20)
    body = connected_app_body(name, key, secrets.token_hex(16), certificate=cert.pem, isAdminApproved=True)
    body["profileName"] = ["System Administrator"]
    emu.admin.put_component(alias, "ConnectedApp", name, body)
    return key, cert.key_pem


def committed_stack_file(emu: EmulatorHandle, consumer_keys: dict[str, str]) -> Settings:
    """stacks/Pulumi.dev.yaml as a team commits it: JWT connections and no secret."""
    config = shipped_stack_settings("local")
    config["orglink:orgs"] = {
        alias: {
            "auth": "jwt",
            "login_url": emu.org(alias)["login_url"],
            "instance_url": emu.org(alias)["instance_url"],
            "username": emu.org(alias)["admin_username"],
            "consumer_key": consumer_keys[alias],
            "ca_bundle": emu.ca_bundle,
        }
        for alias in ORGS
    }
    return config


def recognisable_part(secret: str) -> str:
    """A line of a PEM key's body (its armour lines are no secret), or the whole of a one-line secret."""
    lines = secret.strip().splitlines()
    return lines[1] if len(lines) > 2 else secret


def checkout(base: Path, name: str, emu: EmulatorHandle, config: Settings) -> Path:
    project = StackProject(base / name, emu.state_dir, base / f"{name}-unused-state")
    project.write_stack(STACK, config)
    return project.directory


def test_workflow_commands_preview_up_and_preview_again_on_the_emulator(tmp_path: Path) -> None:
    workflow = load_workflow()
    assert set(workflow["on"]) == {"pull_request", "push"}
    assert workflow["jobs"]["up"]["strategy"]["max-parallel"] == 1
    assert workflow["jobs"]["up"]["concurrency"]["cancel-in-progress"] is False
    with own_emulator(tmp_path / "emulator") as emu, connected_apps_allowed(emu.admin, STACK):
        apps = {alias: jwt_login_app(emu, alias) for alias in ORGS}
        config = committed_stack_file(emu, {alias: key for alias, (key, _pem) in apps.items()})
        ci_secrets = {
            "PULUMI_BACKEND_URL": f"file://{tmp_path / 'shared-state'}",
            "PULUMI_SECRETS_PROVIDER": "passphrase",
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
            "ORG_A_JWT_KEY": apps["orgA"][1],
            "ORG_B_JWT_KEY": apps["orgB"][1],
        }
        (tmp_path / "shared-state").mkdir()
        context = {"secrets": ci_secrets, "vars": {}}
        jobs, home = workflow["jobs"], tmp_path / "runner-home"
        before = org_snapshots(emu.admin)

        def run(name: str, checkout_name: str) -> dict[str, subprocess.CompletedProcess[str]]:
            return run_job(name, jobs[name], context, checkout(tmp_path, checkout_name, emu, config), home)

        first_pr = run("preview", "pr-1")
        assert "to create" in first_pr["pulumi preview"].stdout
        assert changed_paths(before, org_snapshots(emu.admin)) == [], "a pull request's preview wrote"

        # The up logs in through the team's JWT bearer apps: with Org B's app not pre-authorizing the
        # deploy user's profile (what only the JWT bearer flow asks), Org B's token endpoint refuses it.
        app_name = jwt_app_name("orgB")
        app_body = emu.admin.get_component("orgB", "ConnectedApp", app_name)
        assert app_body is not None
        emu.admin.put_component("orgB", "ConnectedApp", app_name, {**app_body, "profileName": []})
        with pytest.raises(AssertionError, match="user hasn't approved this consumer") as refused:
            run("up", "merge-refused")
        emu.admin.put_component("orgB", "ConnectedApp", app_name, app_body)
        assert changed_paths(before, org_snapshots(emu.admin)) == [], "a refused up wrote"

        merge = run("up", "merge")
        verification = json.loads(merge["Verification"].stdout)
        assert verification["ok"] is True, verification

        second_pr = run("preview", "pr-2")
        summary = second_pr["pulumi preview"].stdout.split("Resources:")[-1]
        assert "unchanged" in summary, summary
        assert not re.search(r"to (create|update|delete|replace)", summary), summary

        outputs = "".join(r.stdout + r.stderr for job in (first_pr, merge, second_pr) for r in job.values())
        outputs += str(refused.value)
        shown = [name for name in ("ORG_A_JWT_KEY", "ORG_B_JWT_KEY", "PULUMI_CONFIG_PASSPHRASE")
                 if recognisable_part(ci_secrets[name]) in outputs]  # fmt: skip
        assert shown == [], f"secrets in the pipeline's output: {shown}"

        admin_cli = Pulumi(tmp_path / "merge", tmp_path / "unused", extra_env={
            "PULUMI_BACKEND_URL": ci_secrets["PULUMI_BACKEND_URL"],
            "PULUMI_CONFIG_PASSPHRASE": ci_secrets["PULUMI_CONFIG_PASSPHRASE"],
        })  # fmt: skip
        admin_cli.run("destroy", "--yes", "--stack", STACK)
        assert changed_paths(before, org_snapshots(emu.admin)) == []


def test_workflow_stops_on_a_missing_ci_secret(tmp_path: Path) -> None:
    """An environment without ORG_B_JWT_KEY, or with the passphrase provider and no passphrase, stops
    before any pulumi command, naming the secret (an unset secret reads as empty on GitHub)."""
    job = load_workflow()["jobs"]["up"]
    [check] = [step for step in job["steps"] if step.get("name") == "Check the CI secrets"]
    names = [step.get("name") for step in job["steps"]]
    assert names.index("Check the CI secrets") < names.index("Log in to the state backend")
    complete = {"PULUMI_BACKEND_URL": "file:///x", "PULUMI_SECRETS_PROVIDER": "passphrase",
                "PULUMI_CONFIG_PASSPHRASE": "p", "ORG_A_JWT_KEY": "k", "ORG_B_JWT_KEY": "k"}  # fmt: skip
    for missing in ("ORG_B_JWT_KEY", "PULUMI_CONFIG_PASSPHRASE", None):
        context = {"secrets": {k: v for k, v in complete.items() if k != missing}, "vars": {},
                   "matrix": {"stack": STACK}}  # fmt: skip
        env = runner_env(tmp_path, tmp_path / "github_path")
        env.update({key: fill_in(value, context) for key, value in job["env"].items()})
        completed = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", check["run"]],
                                   env=env, capture_output=True, text=True)  # fmt: skip
        if missing is None:
            assert completed.returncode == 0, completed.stdout
        else:
            assert completed.returncode == 1
            assert f"::error::secret {missing} is not set in environment {STACK}" in completed.stdout
