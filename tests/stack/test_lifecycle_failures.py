"""When things go wrong, through the real Pulumi CLI, checked in both orgs' content:
5. two stacks applied at the same time on the same two orgs;
6. a `pulumi up` killed mid-apply, then the steps the README gives ("When an update is interrupted");
7. transient faults (503, UNKNOWN_EXCEPTION, REQUEST_LIMIT_EXCEEDED, ALREADY_IN_PROCESS, connection
   resets, expired sessions) during up, refresh and destroy; permanent errors that name the
   resource, the org and Salesforce's code, and converge once their cause is fixed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator_fixtures import CREATION_SETTING
from tests.engine import PulumiError, change_counts
from tests.lifecycle_support import (
    SessionExpirer,
    base_name,
    changed_paths,
    component_names,
    connected_apps_allowed,
    destroy_one_stack_then_the_other,
    fast_retrying_project,
    inject_transient_faults,
    kill_up_in_first_create,
    locked_after_kill,
    owned_components,
    start_up,
)
from tests.stack_project import ORGS, StackProject, org_snapshots


def expected_components(base: str) -> dict[str, set[str]]:
    """What one connected-app integration owns in each org."""
    return {
        "orgA": {f"Certificate/{base}", f"ExternalCredential/{base}", f"NamedCredential/{base}",
                 f"PermissionSet/{base}_Access"},
        "orgB": {f"ConnectedApp/{base}"},
    }  # fmt: skip


def app_records(admin: Any, label: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = admin.snapshot("orgB")["records"].get("ConnectedApplication", [])
    return [row for row in rows if row.get("Name") == label]


def assert_converged(project: StackProject, stack: str, admin: Any) -> None:
    """Exactly one of everything, wired together, and the integration works."""
    base = base_name(stack)
    assert owned_components(admin, base) == expected_components(base)
    assert len(app_records(admin, f"CarrierAPI App ({stack})")) == 1
    outputs = project.pulumi.outputs(stack)
    assert outputs["verification"]["ok"] is True, outputs["verification"]
    app = admin.get_component("orgB", "ConnectedApp", base)
    assert app["oauthConfig"]["consumerKey"] == outputs["consumer_key"]
    # One profile access for the app, not one per attempt.
    [record] = app_records(admin, f"CarrierAPI App ({stack})")
    access = [r for r in admin.snapshot("orgB")["records"].get("SetupEntityAccess", [])
              if r.get("SetupEntityId") == record["Id"]]  # fmt: skip
    assert len(access) == 1


@pytest.fixture
def allowed(emulator: Any) -> Iterator[Any]:
    with connected_apps_allowed(emulator.admin, "local"):
        yield emulator
    for alias in ORGS:
        emulator.admin.clear_faults(alias)


# -- 5. two stacks at once --------------------------------------------------------------------------


def test_two_stacks_at_once_keep_apart(tmp_path: Path, allowed: Any) -> None:
    admin = allowed.admin
    project = fast_retrying_project(tmp_path, allowed.state_dir, "local", "team-a", "team-b")
    before = org_snapshots(admin)
    runs = {stack: start_up(project, stack) for stack in ("team-a", "team-b")}
    for stack, run in runs.items():
        output, _ = run.communicate(timeout=600)
        assert run.returncode == 0, f"{stack}: {output[-3000:]}"
    for stack in runs:
        assert_converged(project, stack, admin)
    keys = {project.pulumi.outputs(stack)["consumer_key"] for stack in runs}
    assert len(keys) == 2

    destroy_one_stack_then_the_other(project, admin, before, expected_components(base_name("team-b")))


# -- 6. an up killed mid-apply -----------------------------------------------------------------------


@pytest.mark.parametrize("org", ["orgA", "orgB"])
def test_killed_up_converges_after_the_documented_steps(org: str, tmp_path: Path, allowed: Any) -> None:
    """Kill -9 while the org is creating its first object (Org A: the certificate and external
    credential; Org B: the connected app): the org finishes the create, Pulumi never records it."""
    admin, stack = allowed.admin, "interrupted"
    project = fast_retrying_project(tmp_path, allowed.state_dir, "local", stack)
    before = org_snapshots(admin)
    kill_up_in_first_create(project, stack, admin, org)
    time.sleep(1.5)  # the org completes the request it was working on
    admin.clear_faults(org)
    leftovers = owned_components(admin, base_name(stack))
    assert leftovers[org], "the kill should leave an object Pulumi does not know about"

    # Without the steps, the stack is locked.
    locked = locked_after_kill(project.pulumi, stack)
    assert locked.returncode != 0 and "pulumi cancel" in locked.stderr
    # The steps in README.md, "When an update is interrupted":
    project.pulumi.run("cancel", "--yes", "--stack", stack)  # 1. release the dead update's lock
    # 2. forget the creates Pulumi never saw finish (left alone, they stay in the state for good)
    pending = project.pulumi.export_state(stack)["deployment"].get("pending_operations") or []
    assert pending and {op["type"] for op in pending} == {"creating"}
    project.pulumi.run("refresh", "--clear-pending-creates", "--yes", "--stack", stack)
    assert not project.pulumi.export_state(stack)["deployment"].get("pending_operations")
    project.pulumi.up(stack)  # 3. orglink recognises what those creates left in the orgs
    assert_converged(project, stack, admin)
    assert change_counts(project.pulumi.preview_json(stack)) == {}
    project.pulumi.run("destroy", "--yes", "--stack", stack)
    assert changed_paths(before, org_snapshots(admin)) == []


def test_an_empty_state_metadata_file_left_by_a_kill_is_recovered_as_documented(tmp_path: Path) -> None:
    """A kill while the file backend rewrites `<stack>.json.attrs` (in place) leaves it empty; Pulumi
    then cannot load the stack, and deleting the empty file (README, step 0) is the whole repair."""
    project = fast_retrying_project(tmp_path, tmp_path / "no-emulator", "local", "cut")
    [attrs] = (project.pulumi.state_dir / "backend").rglob("cut.json.attrs")
    attrs.write_text("")  # what the kill leaves
    broken = project.pulumi.run("stack", "export", "--stack", "cut", check=False)
    assert broken.returncode != 0 and "failed to load checkpoint: EOF" in broken.stderr
    attrs.unlink()
    assert project.pulumi.export_state("cut")["version"] == 3


# -- 7. faults -----------------------------------------------------------------------------------------


def test_transient_faults_during_up_refresh_and_destroy(tmp_path: Path, allowed: Any) -> None:
    admin, stack = allowed.admin, "flaky"
    project = fast_retrying_project(tmp_path, allowed.state_dir, "local", stack)
    before = org_snapshots(admin)

    inject_transient_faults(admin)
    with SessionExpirer(admin) as expirer:
        project.pulumi.up(stack)
    assert expirer.expired > 0
    # Every fault on an API the up uses was served and survived. (The provider's "retry" progress
    # lines reach the CLI through its stderr, which the engine may print after the summary or not
    # at all when the update ends first, so the orgs' own record is what the test trusts.)
    for alias, api in (("orgA", "metadata"), ("orgB", "metadata"), ("orgB", "rest")):
        assert [f for f in admin.pending_faults(alias) if f["kind"] == api] == [], (alias, api)
    assert_converged(project, stack, admin)

    inject_transient_faults(admin)
    refreshed = project.pulumi.run("refresh", "--yes", "--stack", stack)
    assert "retry" in refreshed.stdout
    assert change_counts(project.pulumi.preview_json(stack)) == {}

    inject_transient_faults(admin)
    with SessionExpirer(admin):
        project.pulumi.run("destroy", "--yes", "--stack", stack)
    for alias in ORGS:
        admin.clear_faults(alias)
    assert changed_paths(before, org_snapshots(admin)) == []


def test_permanent_errors_name_resource_org_and_code_then_converge(tmp_path: Path, allowed: Any) -> None:
    admin, stack = allowed.admin, "blocked"
    project = fast_retrying_project(tmp_path, allowed.state_dir, "local", stack)
    before = org_snapshots(admin)
    base = base_name(stack)

    # Org B refuses new connected apps (as most orgs do since Spring '26): the Preflight's
    # validate-only deploy finds it before anything is written to either org.
    admin.set_setting("orgB", CREATION_SETTING, False)
    failed = project.pulumi.up(stack, check=False)
    assert failed.returncode != 0
    text = failed.stdout + failed.stderr
    assert f"Preflight of '{base}' in org 'orgB' (field 'app_type'): INSUFFICIENT_ACCESS" in text
    assert "adopt: true" in text and "external_client_app" in text
    assert "Traceback" not in text
    assert {a: component_names(s) for a, s in org_snapshots(admin).items()} == {
        a: component_names(s) for a, s in before.items()
    }

    # Creation allowed again, but Org B's Metadata API keeps failing.
    admin.set_setting("orgB", CREATION_SETTING, True)
    admin.inject_fault("orgB", "metadata", "UNKNOWN_EXCEPTION", count=100_000)
    failed = project.pulumi.up(stack, check=False)
    assert failed.returncode != 0
    text = failed.stdout + failed.stderr
    # The Preflight is not in the state yet, so it meets the fault first.
    assert f"Preflight of '{base}' in org 'orgB'" in text and "UNKNOWN_EXCEPTION" in text

    admin.clear_faults("orgB")
    project.pulumi.up(stack)
    assert_converged(project, stack, admin)
    project.pulumi.run("destroy", "--yes", "--stack", stack)
    assert changed_paths(before, org_snapshots(admin)) == []


def test_error_text_carries_no_traceback_for_a_failed_command(tmp_path: Path, allowed: Any) -> None:
    # A permanent failure of destroy is reported as such, and the stack keeps what it could not delete.
    admin, stack = allowed.admin, "stuck"
    project = fast_retrying_project(tmp_path, allowed.state_dir, "local", stack)
    before = org_snapshots(admin)
    project.pulumi.up(stack)
    admin.inject_fault("orgA", "metadata", "UNKNOWN_EXCEPTION", count=100_000)
    with pytest.raises(PulumiError) as failed:
        project.pulumi.run("destroy", "--yes", "--stack", stack)
    text = str(failed.value)  # the command line, its stdout and its stderr
    assert "Traceback (most recent call last)" not in text, text[-3000:]
    # The error names what it could not delete, where, and Salesforce's code.
    assert f"NamedCredential '{base_name(stack)}' in org 'orgA': UNKNOWN_EXCEPTION" in text, text[-3000:]
    admin.clear_faults("orgA")
    assert project.pulumi.export_state(stack)["deployment"].get("resources")
    project.pulumi.run("destroy", "--yes", "--stack", stack)
    assert changed_paths(before, org_snapshots(admin)) == []
