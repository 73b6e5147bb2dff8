"""When things go wrong on the External Client App path (`app_type: external_client_app`, the
`local-eca` stack), through the real Pulumi CLI, checked in both orgs' content:
5. two stacks applied at the same time on the same two orgs;
6. a `pulumi up` killed mid-apply (SIGKILL) in each org, then the steps the README gives ("When an
   update is interrupted"): Org B's ECA that Pulumi never recorded is recognised by the marker at the
   end of its description and taken over, not duplicated, not orphaned;
7. transient faults (503, UNKNOWN_EXCEPTION, REQUEST_LIMIT_EXCEEDED, ALREADY_IN_PROCESS, connection
   resets, expired sessions) during up, refresh and destroy; permanent errors (someone else's ECA of
   the name, the secret setting off, a Metadata API that keeps failing) that name the resource, the
   org and Salesforce's code, and converge once their cause is fixed.

Speed: the scenarios run at the same time, each on an emulator of its own (own orgs, faults, request
counters and org-wide settings), started by the module fixture; each test waits for its scenario.
Org snapshots hold secrets: they are compared as changed paths, never printed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from providers.org_b.external_client_app.app import provenance, provenance_tag
from tests.engine import change_counts
from tests.lifecycle_support import (
    SessionExpirer,
    base_name,
    changed_paths,
    destroy_one_stack_then_the_other,
    fast_retrying_project,
    inject_transient_faults,
    kill_up_in_first_create,
    locked_after_kill,
    own_emulator,
    owned_components,
    start_up,
    wait_until,
)
from tests.stack_project import ORGS, StackProject, org_snapshots, write_counts

STACK_FILE = "local-eca"
HEADER = "ExternalClientApplication"
GLOBAL = "ExtlClntAppGlobalOauthSettings"
SECRET_SETTING = "enable-client-secret-in-rest-api"


def expected_components(base: str) -> dict[str, set[str]]:
    """What one ECA integration owns in each org (Salesforce makes the two policy parts itself)."""
    return {
        "orgA": {f"Certificate/{base}", f"ExternalCredential/{base}", f"NamedCredential/{base}",
                 f"PermissionSet/{base}_Access"},
        "orgB": {f"{HEADER}/{base}", f"{GLOBAL}/{base}_glbloauth", f"ExtlClntAppOauthSettings/{base}_oauth",
                 f"ExtlClntAppOauthConfigurablePolicies/{base}_oauthPlcy",
                 f"ExtlClntAppConfigurablePolicies/{base}_plcy"},
    }  # fmt: skip


def app_records(admin: Any, base: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = admin.snapshot("orgB")["records"].get(HEADER, [])
    return [row for row in rows if row.get("DeveloperName") == base]


def owner(stack: str) -> str:
    """The ExternalClientApp resource's owner: `<project>/<stack>/ExternalClientApp/<resource name>`."""
    return f"orglink/{stack}/ExternalClientApp/{base_name(stack)}-eca-app"


def assert_converged(project: StackProject, stack: str, admin: Any) -> dict[str, Any]:
    """Exactly one of everything, marked as this stack's, wired together, and the integration works;
    returns the stack's outputs."""
    base = base_name(stack)
    assert owned_components(admin, base) == expected_components(base)
    [record] = app_records(admin, base)
    outputs = project.pulumi.outputs(stack)
    assert outputs["verification"]["ok"] is True, outputs["verification"]
    assert admin.get_component("orgB", GLOBAL, f"{base}_glbloauth")["consumerKey"] == outputs["consumer_key"]
    mark = provenance(admin.get_component("orgB", HEADER, base))
    assert mark is not None and mark.tag == provenance_tag(owner(stack), base)
    assert admin.settings("orgB")[SECRET_SETTING] is True
    # One profile access for the app, not one per attempt.
    access = [r for r in admin.snapshot("orgB")["records"].get("SetupEntityAccess", [])
              if r.get("SetupEntityId") == record["Id"]]  # fmt: skip
    assert len(access) == 1
    return outputs


# -- 5. two stacks at once --------------------------------------------------------------------------


def two_stacks_at_once(base: Path, emulator: Any) -> None:
    admin = emulator.admin
    project = fast_retrying_project(base, emulator.state_dir, STACK_FILE, "team-a", "team-b")
    before = org_snapshots(admin)
    runs = {stack: start_up(project, stack) for stack in ("team-a", "team-b")}
    for stack, run in runs.items():
        output, _ = run.communicate(timeout=600)
        assert run.returncode == 0, f"{stack}: {output[-3000:]}"
    keys = {assert_converged(project, stack, admin)["consumer_key"] for stack in runs}
    assert len(keys) == 2

    destroy_one_stack_then_the_other(project, admin, before, expected_components(base_name("team-b")))


# -- 6. an up killed mid-apply -----------------------------------------------------------------------


def killed_up(org: str, base: Path, emulator: Any) -> None:
    """Kill -9 while the org is creating its first object (Org A: the certificate and external
    credential; Org B: the ECA's header): the org finishes the create, Pulumi never records it."""
    admin, stack = emulator.admin, "interrupted"
    app = base_name(stack)
    project = fast_retrying_project(base, emulator.state_dir, STACK_FILE, stack)
    before = org_snapshots(admin)
    kill_up_in_first_create(project, stack, admin, org)
    # The org completes the creates it was working on (one object each).
    writes = admin.counters(org).get("metadata.write", 0)
    wait_until(lambda: len(owned_components(admin, app)[org]) >= writes, 30, f"{org} to finish its creates")
    admin.clear_faults(org)
    leftovers = owned_components(admin, app)
    assert leftovers[org], "the kill should leave an object Pulumi does not know about"
    if org == "orgB":
        # The header came first, marked as this resource's, with `:s`: the org setting it was about
        # to turn on is its to turn off again (it is still off).
        mark = provenance(admin.get_component("orgB", HEADER, app))
        assert mark is not None and mark.tag == provenance_tag(owner(stack), app) and mark.turned_on_setting
        assert admin.settings("orgB")[SECRET_SETTING] is False
        [leftover_record] = app_records(admin, app)

    # Without the steps, the stack is locked.
    locked = locked_after_kill(project.pulumi, stack)
    assert locked.returncode != 0 and "pulumi cancel" in locked.stderr
    # The steps in README.md, "When an update is interrupted":
    project.pulumi.run("cancel", "--yes", "--stack", stack)  # 1. release the dead update's lock
    pending = project.pulumi.export_state(stack)["deployment"].get("pending_operations") or []
    assert pending and {op["type"] for op in pending} == {"creating"}
    project.pulumi.run("refresh", "--clear-pending-creates", "--yes", "--stack", stack)  # 2.
    assert not project.pulumi.export_state(stack)["deployment"].get("pending_operations")
    project.pulumi.up(stack)  # 3. orglink recognises what those creates left in the orgs
    assert_converged(project, stack, admin)
    if org == "orgB":
        assert app_records(admin, app) == [leftover_record]  # taken over, not made twice
        # A second up changes nothing and writes nothing in either org.
        for alias in ORGS:
            admin.mark(alias)
        project.pulumi.up(stack)
        assert {alias: write_counts(admin, alias) for alias in ORGS} == {"orgA": {}, "orgB": {}}
    else:
        assert change_counts(project.pulumi.preview_json(stack)) == {}
    project.pulumi.run("destroy", "--yes", "--stack", stack)
    assert changed_paths(before, org_snapshots(admin)) == []


# -- 7. faults -----------------------------------------------------------------------------------------

# The ECA path reads the app's key and secret (Org B) and sets Org A's principal over Connect REST.
APIS = ("metadata", "rest", "connect")


def transient_faults(base: Path, emulator: Any) -> None:
    admin, stack = emulator.admin, "flaky"
    project = fast_retrying_project(base, emulator.state_dir, STACK_FILE, stack)
    before = org_snapshots(admin)

    inject_transient_faults(admin, APIS)
    with SessionExpirer(admin) as expirer:
        project.pulumi.up(stack)
    assert expirer.expired > 0
    # Every fault on an API the up uses was served and survived (the orgs' own record).
    for alias, api in (("orgA", "metadata"), ("orgA", "connect"), ("orgB", "metadata"), ("orgB", "rest"),
                       ("orgB", "connect")):  # fmt: skip
        assert [f for f in admin.pending_faults(alias) if f["kind"] == api] == [], (alias, api)
    assert_converged(project, stack, admin)

    inject_transient_faults(admin, APIS)
    refreshed = project.pulumi.run("refresh", "--yes", "--stack", stack)
    assert "retry" in refreshed.stdout
    assert change_counts(project.pulumi.preview_json(stack)) == {}

    inject_transient_faults(admin, APIS)
    with SessionExpirer(admin):
        project.pulumi.run("destroy", "--yes", "--stack", stack)
    for alias in ORGS:
        admin.clear_faults(alias)
    assert changed_paths(before, org_snapshots(admin)) == []


def failed_text(project: StackProject, *args: str) -> str:
    failed = project.pulumi.run(*args, check=False)
    assert failed.returncode != 0
    text = failed.stdout + failed.stderr
    assert "Traceback" not in text, text[-3000:]
    return text


def permanent_errors(base: Path, emulator: Any) -> None:
    admin, stack = emulator.admin, "blocked"
    app = base_name(stack)
    project = fast_retrying_project(base, emulator.state_dir, STACK_FILE, stack)
    before = org_snapshots(admin)
    up = ("up", "--yes", "--skip-preview", "--stack", stack)
    resource = f"ExternalClientApp '{app}' in org 'orgB'"

    # Someone made an ECA of this API name in Org B's Setup: never touched, and the Preflight says
    # what to do before anything is written to either org (no certificate in Org A).
    theirs = {"label": "Theirs", "contactEmail": "someone@example.com", "description": "Not orglink's"}
    admin.put_component("orgB", HEADER, app, theirs)
    with_theirs = org_snapshots(admin)
    text = failed_text(project, *up)
    assert f"Preflight of '{app}' in org 'orgB' (field 'eca_api_name'): DUPLICATE_VALUE" in text
    assert "description" in text and "External Client App Manager" in text
    assert changed_paths(with_theirs, org_snapshots(admin)) == []
    admin.delete_component("orgB", HEADER, app)  # the cause, fixed

    # Org B keeps ECA secrets from the REST API and the stack may not change that.
    def no_secret_setting(config: dict[str, Any]) -> None:
        config["orglink:integrations"][0]["app"].pop("enable_secret_in_rest_api")

    project.edit_stack(stack, no_secret_setting)
    text = failed_text(project, *up)
    assert (
        f"Preflight of '{app}' in org 'orgB' (field 'eca_may_enable_secret_access'): INSUFFICIENT_ACCESS"
        in text
    )
    assert "app.enable_secret_in_rest_api" in text
    assert owned_components(admin, app) == {"orgA": set(), "orgB": set()}  # nothing half-made in either org
    project.edit_stack(stack, lambda config: config["orglink:integrations"][0]["app"].update(
        enable_secret_in_rest_api=True))  # fmt: skip

    # Org B's Metadata API keeps failing (the Preflight is not in the state yet: it meets it first).
    admin.inject_fault("orgB", "metadata", "UNKNOWN_EXCEPTION", count=100_000)
    text = failed_text(project, *up)
    assert f"Preflight of '{app}' in org 'orgB'" in text and "UNKNOWN_EXCEPTION" in text
    admin.clear_faults("orgB")
    project.pulumi.up(stack)
    assert_converged(project, stack, admin)

    # A destroy that cannot finish says where, keeps what it could not delete, and converges later.
    admin.inject_fault("orgB", "metadata", "UNKNOWN_EXCEPTION", count=100_000)
    text = failed_text(project, "destroy", "--yes", "--stack", stack)
    assert resource in text and "UNKNOWN_EXCEPTION" in text
    admin.clear_faults("orgB")
    assert f"{HEADER}/{app}" in owned_components(admin, app)["orgB"]
    assert project.pulumi.export_state(stack)["deployment"].get("resources")
    project.pulumi.run("destroy", "--yes", "--stack", stack)
    assert changed_paths(before, org_snapshots(admin)) == []


# -- all at once ----------------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[Path, Any], None]] = {
    "killed_up_orgB": lambda base, emulator: killed_up("orgB", base, emulator),
    "killed_up_orgA": lambda base, emulator: killed_up("orgA", base, emulator),
    "permanent_errors": permanent_errors,
    "transient_faults": transient_faults,
    "two_stacks": two_stacks_at_once,
}


Outcomes = dict[str, "Future[BaseException | None]"]


def run_scenario(name: str, base: Path) -> BaseException | None:
    """The scenario's failure (handed to its test), or None."""
    try:
        with own_emulator(base / "emulator") as emulator:
            SCENARIOS[name](base, emulator)
    except BaseException as exc:  # noqa: BLE001 - handed to the scenario's test
        return exc
    return None


# Which scenario each test waits for ({org}: the test's parameter).
SCENARIO_OF = {
    "test_two_stacks_at_once_keep_apart": "two_stacks",
    "test_killed_up_converges_after_the_documented_steps": "killed_up_{org}",
    "test_transient_faults_during_up_refresh_and_destroy": "transient_faults",
    "test_permanent_errors_name_resource_org_and_code_then_converge": "permanent_errors",
}


def scenario_of(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    template = SCENARIO_OF.get(getattr(item, "originalname", item.name), "")
    return template.format(**(callspec.params if callspec else {}))


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcomes]:
    """Starts the scenarios of this module's selected tests, all at once (`-k` runs fewer)."""
    mine = [item for item in request.session.items if getattr(item, "module", None) is request.module]
    wanted = sorted({scenario_of(item) for item in mine})
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        yield {name: pool.submit(run_scenario, name, tmp_path_factory.mktemp(name)) for name in wanted}


def outcome_of(outcomes: Outcomes, name: str) -> None:
    error = outcomes[name].result(timeout=900)
    if error is not None:
        raise error


def test_two_stacks_at_once_keep_apart(outcomes: Outcomes) -> None:
    outcome_of(outcomes, "two_stacks")


@pytest.mark.parametrize("org", ORGS)
def test_killed_up_converges_after_the_documented_steps(org: str, outcomes: Outcomes) -> None:
    outcome_of(outcomes, f"killed_up_{org}")


def test_transient_faults_during_up_refresh_and_destroy(outcomes: Outcomes) -> None:
    outcome_of(outcomes, "transient_faults")


def test_permanent_errors_name_resource_org_and_code_then_converge(outcomes: Outcomes) -> None:
    outcome_of(outcomes, "permanent_errors")
