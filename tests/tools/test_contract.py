"""`make contract` against the emulator, through the same entry point users run
(`python -m tools.contract`): the report says every fact and step passed, holds no secret, and a
run killed inside its `up` is cleaned by the next run's sweep, leaving both orgs as they were."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator import control
from providers import salesforce
from tests.emulator_fixtures import CREATION_SETTING, connected_app_body
from tests.engine import ROOT
from tests.lifecycle_support import (
    changed_paths,
    flatten,
    kill_tree,
    leaked_access_tokens,
    own_emulator,
    secrets_found,
    wait_until,
)
from tests.sf_cli import SfCli
from tests.stack_project import ORGS, org_snapshots
from tests.support import providers_on_emulator
from tools.contract.__main__ import main

SUFFIX = "orglink_contract_"
LIFECYCLE_STEPS = (
    "up",
    "verification (token and callout)",
    "token gate: new apps reach the login servers",
    "no-op preview makes zero requests",
    "one-field change (policy.session_timeout)",
    "drift: found by refresh, repaired by up",
    "destroy",
)
SECRET_KEYS = ("consumerSecret", "privateKey", "admin_password")


def contract_components(admin: Any) -> list[str]:
    return [
        f"{alias}:{mtype}/{name}"
        for alias, snapshot in org_snapshots(admin).items()
        for mtype, items in snapshot["components"].items()
        for name in items
        if SUFFIX in name.lower()
    ]


class SecretCollector:
    """Every consumer secret and private key the orgs hold while a run goes on (polled)."""

    def __init__(self, admin: Any) -> None:
        self.admin, self.found, self.done = admin, {}, threading.Event()  # type: ignore[var-annotated]
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def collect(self) -> None:
        for alias, snapshot in org_snapshots(self.admin).items():
            for path, value in flatten(snapshot).items():
                if path.rsplit(".", 1)[-1] in SECRET_KEYS and isinstance(value, str) and len(value) > 8:
                    self.found[f"{alias} {path}"] = value

    def _poll(self) -> None:
        while not self.done.wait(0.3):
            self.collect()

    def __enter__(self) -> SecretCollector:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


@pytest.fixture
def orgs(tmp_path: Path) -> Iterator[Any]:
    """Its own emulator: Org B allows connected apps and REST access to ECA secrets (an org whose
    Support and admin enabled both), and a new app needs 2 s to reach the token endpoint."""
    with own_emulator(tmp_path / "emulator") as handle:
        handle.admin.set_setting("orgB", CREATION_SETTING, True)
        handle.admin.set_setting("orgB", "enable-client-secret-in-rest-api", True)
        handle.admin.set_setting("orgB", "app-propagation-seconds", 2)
        yield handle


def stack_file(directory: Path, state_dir: Path) -> Path:
    """A stack file whose orglink:orgs reach the emulator (as a user's would reach their orgs)."""
    path = directory / "Pulumi.mine.yaml"
    connection = {"auth": "emulator", "state_dir": str(state_dir)}
    path.write_text(yaml.safe_dump({"config": {"orglink:orgs": {alias: connection for alias in ORGS}}}))
    return path


def killed_in_up(file: Path, out: Path, admin: Any, env: dict[str, str]) -> None:
    """`python -m tools.contract` SIGKILLed (with its pulumi and provider) once its `up` made an object."""
    run = subprocess.Popen(
        [sys.executable, "-m", "tools.contract", "--stack-file", str(file), "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: bool(contract_components(admin)), 180, "the killed run's first object")
    finally:
        kill_tree(run.pid)
        run.wait()


def test_contract_passes_cleans_a_killed_run_and_leaves_both_orgs_as_before(
    orgs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLINK_VERIFY_RETRY_S", "0.5")  # retries while an app propagates
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the killed run leaves its work dir
    file = stack_file(tmp_path, orgs.state_dir)
    before = org_snapshots(orgs.admin)

    killed_in_up(file, tmp_path / "killed", orgs.admin, dict(os.environ))
    left = contract_components(orgs.admin)
    assert left, "the killed run left nothing to sweep"

    with SecretCollector(orgs.admin) as collector:
        collector.collect()
        for alias in ORGS:
            orgs.admin.mark(alias)
        assert main(["--stack-file", str(file), "--out", str(tmp_path / "report")]) == 0

    report = json.loads((tmp_path / "report" / "contract-report.json").read_text())
    checks = {check["name"]: check for check in report["checks"]}
    assert report["ok"] is True and report["failed_step"] is None
    for step in LIFECYCLE_STEPS:
        assert checks[step]["status"] == "pass", (step, checks[step]["answer"])
    first_sweep = checks["sweep (before: what earlier runs left): nothing left"]
    assert first_sweep["status"] == "pass"
    assert all(name.split(":", 1)[1] in first_sweep["answer"] for name in left)
    assert checks["sweep (after): nothing left"]["status"] == "pass"
    assert "0 requests" in checks["no-op preview makes zero requests"]["answer"]
    assert contract_components(orgs.admin) == []
    assert changed_paths(before, org_snapshots(orgs.admin)) == []

    profile = report["latency_profile"]
    assert profile["format"] == "orglink-latency-profile/1"
    for family in ("login", "oauth", "rest", "metadata", "deploy", "connect", "tooling"):
        stats = profile["families"][family]
        assert stats["count"] == len(stats["seconds"]) > 0, family
        assert stats["median"] <= stats["p90"] <= max(stats["seconds"])
    # Both new apps waited for the 2 s the emulator keeps them from the token endpoint.
    assert len(profile["propagation"]["seconds"]) == 2
    assert min(profile["propagation"]["seconds"]) >= 1.5
    # Cross-check of the access layer's own count with the orgs': every Metadata API call.
    counted = sum(
        n for alias in ORGS for kind, n in orgs.admin.counters(alias).items() if kind.startswith("metadata.")
    )
    logged = profile["families"]["metadata"]["count"] + profile["families"]["deploy"]["count"]
    assert logged == counted

    md = (tmp_path / "report" / "contract-report.md").read_text()
    for step in LIFECYCLE_STEPS:
        assert f"| {step} | pass |" in md
    known = dict(collector.found)
    known.update({f"{alias} admin password": org["admin_password"] for alias, org in orgs.orgs.items()})
    assert any("consumerSecret" in name for name in known) and any("privateKey" in name for name in known)
    text = md + json.dumps(report) + (tmp_path / "report" / "contract-report.json").read_text()
    assert secrets_found(text, known) == []
    assert leaked_access_tokens(text, orgs.state_dir) == []


def test_read_only_run_on_its_own_emulator_lists_every_fact_and_writes_nothing(tmp_path: Path) -> None:
    assert main(["--emulator", "--read-only", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "contract-report.json").read_text())
    sections = {check["section"] for check in report["checks"]}
    assert "lifecycle" not in sections and "sweep" not in sections
    facts = {check["name"]: check for check in report["checks"] if check["section"] == "fact"}
    for role in ("Org A", "Org B"):
        for fact in ("login (emulator)", "API versions", "My Domain and org", "SOAP login() (API 64.0)"):
            assert f"{role}: {fact}" in facts
    creation = facts["Org B: may create connected apps (validate-only deploy)"]
    assert creation["status"] == "pass"
    assert any("deploy" in request for request in creation["requests"])
    assert all(check["requests"] for check in facts.values()), "a fact without the request that showed it"
    behaviours = [check for check in report["checks"] if check["section"] == "fidelity"]
    assert any(check["name"].startswith("design:") for check in behaviours)
    assert (tmp_path / "contract-report.md").read_text().startswith("# orglink contract report: PASSED")


def failed_run(file: Path, out: Path, *extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
    assert main(["--stack-file", str(file), "--out", str(out), *extra]) == 1
    report = json.loads((out / "contract-report.json").read_text())
    return report, {check["name"]: check for check in report["checks"]}


def test_a_step_failing_mid_up_stops_the_lifecycle_then_destroy_and_sweep_clean_both_orgs(
    orgs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Org A's Connect API fails for good once Org B's apps and Org A's certificate exist."""
    monkeypatch.setenv("ORGLINK_RETRY_BUDGET_S", "1")
    monkeypatch.setenv("ORGLINK_RETRY_BASE_S", "0.05")
    file = stack_file(tmp_path, orgs.state_dir)
    before = org_snapshots(orgs.admin)
    orgs.admin.inject_fault("orgA", "connect", "503", count=100_000)

    report, checks = failed_run(file, tmp_path / "report")

    assert report["failed_step"] == "up"
    assert checks["up"]["status"] == "fail" and "SERVER_UNAVAILABLE" in checks["up"]["answer"]
    assert "no-op preview makes zero requests" not in checks  # the lifecycle stopped there
    assert checks["destroy"]["status"] == "pass"
    assert checks["sweep (after): nothing left"]["status"] == "pass"
    md = (tmp_path / "report" / "contract-report.md").read_text()
    assert md.startswith("# orglink contract report: FAILED at up")
    orgs.admin.clear_faults("orgA")
    assert contract_components(orgs.admin) == []
    assert changed_paths(before, org_snapshots(orgs.admin)) == []


def test_a_mistake_the_preflight_finds_names_the_step_and_the_config_key(orgs: Any, tmp_path: Path) -> None:
    file = stack_file(tmp_path, orgs.state_dir)
    before = org_snapshots(orgs.admin)

    report, checks = failed_run(file, tmp_path / "report", "--run-as-user", "inactive@orgb.orglink.test")

    assert checks["Org B: run-as user inactive@orgb.orglink.test"]["status"] == "fail"
    assert "INACTIVE_USER" in checks["Org B: run-as user inactive@orgb.orglink.test"]["answer"]
    assert report["failed_step"] == "up"
    assert re.fullmatch(r"orglink:integrations\[[01]\]\.run_as_user", report["failed_field"])
    assert f"(field `{report['failed_field']}`)" in (tmp_path / "report" / "contract-report.md").read_text()
    assert checks["sweep (after): nothing left"]["status"] == "pass"
    assert changed_paths(before, org_snapshots(orgs.admin)) == []


@pytest.fixture
def sf_env(sf_cli: SfCli, monkeypatch: pytest.MonkeyPatch) -> SfCli:
    """orglink runs `sf` from PATH with this process's environment: the test's own CLI home."""
    for name in [k for k in os.environ if k.startswith(("SF_", "SFDX_"))]:
        monkeypatch.delenv(name)
    for name, value in sf_cli.env().items():
        monkeypatch.setenv(name, value)
    return sf_cli


def test_read_only_run_through_salesforce_cli_logins(sf_env: SfCli, emulator: Any, tmp_path: Path) -> None:
    """`make contract ORG_A=... ORG_B=...`: both orgs reached through `sf` logins (auth sfdx)."""
    for alias, sf_alias in (("orgA", "contract-a"), ("orgB", "contract-b")):
        session_id = str(emulator.login(alias).session_id)
        sf_env.run(
            "org", "login", "access-token", "--instance-url", emulator.org(alias)["instance_url"],
            "--alias", sf_alias, "--no-prompt", env={"SF_ACCESS_TOKEN": session_id},
        )  # fmt: skip
    args = [
        "--org-a",
        "contract-a",
        "--org-b",
        "contract-b",
        "--read-only",
        "--ca-bundle",
        emulator.ca_bundle,
    ]
    assert main([*args, "--out", str(tmp_path)]) == 0

    report = json.loads((tmp_path / "contract-report.json").read_text())
    facts = {check["name"]: check for check in report["checks"] if check["section"] == "fact"}
    assert facts["Org A: login (sfdx)"]["status"] == "pass"
    assert facts["Org B: login (sfdx)"]["status"] == "pass"
    # The run-as user defaults to the user behind Org B's sf alias.
    assert facts[f"Org B: run-as user {emulator.org('orgB')['admin_username']}"]["status"] == "pass"
    assert "contract-a" in report["target"] and "contract-b" in report["target"]


def test_stack_file_with_secret_connection_fields_is_decrypted_and_kept_out_of_the_report(
    emulator: Any, pulumi_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's stack whose Org B connection is `auth: access_token` with the token a Pulumi secret."""
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    cli = pulumi_factory(project)
    cli.stack_init("mine")
    org_b = emulator.org("orgB")
    token = str(emulator.login("orgB").session_id)
    plain = {
        "orglink:orgs.orgA.auth": "emulator",
        "orglink:orgs.orgA.state_dir": str(emulator.state_dir),
        "orglink:orgs.orgB.auth": "access_token",
        "orglink:orgs.orgB.instance_url": org_b["instance_url"],
        "orglink:orgs.orgB.ca_bundle": emulator.ca_bundle,
    }
    for key, value in plain.items():
        cli.run("config", "set", "--path", "--stack", "mine", key, value)
    cli.run("config", "set", "--secret", "--path", "--stack", "mine", "orglink:orgs.orgB.access_token", token)
    file = project / "stacks" / "Pulumi.mine.yaml"
    assert token not in file.read_text()
    for name, value in cli.env().items():  # the stack's backend and passphrase, as the user has them
        monkeypatch.setenv(name, value)

    assert main(["--stack-file", str(file), "--read-only", "--out", str(tmp_path / "report")]) == 0

    report = (tmp_path / "report" / "contract-report.json").read_text()
    facts = {check["name"]: check for check in json.loads(report)["checks"]}
    assert facts["Org B: login (access_token)"]["status"] == "pass"
    assert facts["Org B: API versions"]["status"] == "pass"
    text = report + (tmp_path / "report" / "contract-report.md").read_text()
    assert secrets_found(text, {"Org B access token": token}) == []


def test_request_log_has_one_line_per_request_by_family_and_no_secret(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What `make contract` counts and times: the access layer's own log of every request."""
    log = tmp_path / "requests.jsonl"
    monkeypatch.setenv("ORGLINK_REQUEST_LOG", str(log))
    secret = "Secret-" + "9f3c2a71b5d04e8e"
    with providers_on_emulator(emulator, monkeypatch):
        client = salesforce.org("orgB")
        client.query("SELECT Id FROM Organization")
        client.read_component("ConnectedApp", "No_Such_App")
        with pytest.raises(salesforce.SalesforceError):
            salesforce.OrgClient(
                salesforce.Connection(
                    alias="orgB",
                    auth="client_credentials",
                    instance_url=client.instance_url,
                    consumer_key="not-a-key",
                    consumer_secret=secret,
                    ca_bundle=emulator.ca_bundle,
                )  # fmt: skip
            )
        session = client.sf.session_id
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [(line["org"], line["family"], line["method"], line["operation"]) for line in lines]
    assert ("orgB", "rest", "GET", "") in kinds
    assert ("orgB", "metadata", "POST", "readMetadata") in kinds
    refused = [line for line in lines if line["operation"] == "client_credentials"]
    assert len(refused) == 1 and refused[0]["status"] == 400 and refused[0]["family"] == "oauth"
    assert all(line["seconds"] >= 0 and "?" not in line["path"] for line in lines)
    assert secrets_found(log.read_text(), {"consumer secret": secret, "session": session}) == []


@pytest.fixture
def banned_orgs(tmp_path: Path) -> Iterator[Any]:
    """Its own emulator as a Spring '26 Org B: creating connected apps is refused (the default)."""
    with own_emulator(tmp_path / "emulator") as handle:
        handle.admin.set_setting("orgB", "enable-client-secret-in-rest-api", True)
        handle.admin.set_setting("orgB", "app-propagation-seconds", 2)
        yield handle


def test_adopting_a_connected_app_runs_the_lifecycle_on_it_and_leaves_it_in_org_b(
    banned_orgs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orgs = banned_orgs
    monkeypatch.setenv("ORGLINK_VERIFY_RETRY_S", "0.5")
    name, secret = "Users_Own_App", "SEC" + secrets.token_hex(16)
    body = connected_app_body(name, "KEY" + secrets.token_hex(16), secret)
    orgs.admin.put_component("orgB", "ConnectedApp", name, body)  # the user's app, made before
    monkeypatch.setenv("ADOPT_CONNECTED_APP_SECRET", secret)
    file = stack_file(tmp_path, orgs.state_dir)
    # Read-only: the named app is a fact row; one Org B lacks fails it.
    _, facts = failed_run(file, tmp_path / "missing", "--read-only", "--adopt-connected-app", "No_Such_App")
    assert facts["Org B: connected app No_Such_App to adopt"]["status"] == "fail"
    assert "no connected app 'No_Such_App'" in facts["Org B: connected app No_Such_App to adopt"]["answer"]
    before = org_snapshots(orgs.admin)

    assert main(["--stack-file", str(file), "--adopt-connected-app", name, "--out", str(tmp_path / "r")]) == 0

    report = json.loads((tmp_path / "r" / "contract-report.json").read_text())
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["Org B: may create connected apps (validate-only deploy)"]["status"] == "skip"
    assert checks[f"Org B: connected app {name} to adopt"]["status"] == "pass"
    assert checks["connected app"]["answer"].startswith(f"adopted: Org B's existing app '{name}'")
    for step in LIFECYCLE_STEPS:
        assert checks[step]["status"] == "pass", (step, checks[step]["answer"])
    assert f"ConnectedApp {name}" in checks["drift: found by refresh, repaired by up"]["answer"]
    assert "(720, 720)" in checks["one-field change (policy.session_timeout)"]["answer"]
    assert "0 requests" in checks["no-op preview makes zero requests"]["answer"]
    assert name not in checks["sweep (after): nothing left"]["answer"]
    after = org_snapshots(orgs.admin)
    assert name in after["orgB"]["components"]["ConnectedApp"]
    assert secrets_found(json.dumps(report), {"adopted app's secret": secret}) == []
    # Destroy puts back what the adopted app had: its own fields (the ConnectedApp resource), its
    # policy and run-as user (theirs). Flags it had none of come back as off, which is how Salesforce
    # reads a missing flag: those are the only differences left, and the label (with the app
    # record's Name that follows it) is the app's own again.
    changed = set(changed_paths(before, after))
    assert changed and all(flatten(after).get(path) is False for path in changed), changed
    assert "orgB.records.ConnectedApplication[0].Name" not in changed
    assert (
        after["orgB"]["components"]["ConnectedApp"][name]["oauthConfig"]["consumerKey"]
        == (body["oauthConfig"]["consumerKey"])
    )


def test_a_stopped_emulator_rehearsal_stops_its_emulator_and_removes_its_temp_dir(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    run = subprocess.Popen(
        [sys.executable, "-m", "tools.contract", "--emulator", "--out", str(tmp_path / "report")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    state_dir: Path | None = None
    try:
        assert run.stdout is not None
        lines = [run.stdout.readline(), run.stdout.readline()]  # the emulator start, then the next step
        state_dir = Path(re.findall(r"orgA, orgB in (\S+)", lines[0])[0])
        emulator_pid = json.loads((state_dir / "emulator.json").read_text())["pid"]
        run.terminate()  # SIGTERM, as a cancelled CI job or `kill` sends
        assert run.wait(timeout=120) == 128 + 15
        assert not state_dir.parent.exists(), "the rehearsal's temp dir was left behind"
        wait_until(lambda: not _alive(emulator_pid), 30, "the rehearsal's emulator to stop")
    finally:
        kill_tree(run.pid)
        if state_dir is not None and state_dir.exists():
            control.stop(state_dir)  # what the rehearsal should have done itself


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
