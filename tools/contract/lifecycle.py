"""The writing half of the contract: a throwaway stack of seed 000's integration through the real
Pulumi CLI (up, verification, no-op preview, a one-field change, drift found by refresh and repaired
by up, destroy), then a sweep of both orgs for anything carrying the contract's suffix.

Every object carries `orglink_contract_<hex>` in its API name (the stack is `orglink-contract-<hex>`
and orglink puts the stack name into every name), so the sweep finds what any contract run left,
also one killed in the middle, and nothing else.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from providers import salesforce
from providers.org_b.external_client_app import app as eca_app
from providers.org_b.external_client_app.app import ExternalClientAppProvider
from tools.pulumi_env import pulumi_env

from .connections import SECRET_FIELDS
from .report import FAIL, PASS, Check, Redactor, RequestLine, RequestLog

ROOT = Path(__file__).resolve().parent.parent.parent
SUFFIX_MARK = "orglink_contract_"  # in every API name of every contract run
ECA_API_NAME = "CarrierAPI_App"
CA_API_NAME = "CarrierAPI_CA"
CHANGED_TIMEOUT, DRIFTED_TIMEOUT = 720, 60
# Types the sweep lists in both orgs, in the order it deletes (dependants first).
SWEEP_ORDER = (
    "NamedCredential",
    "PermissionSet",
    "ExternalCredential",
    "Certificate",
    "ConnectedApp",
    eca_app.HEADER_TYPE,
    eca_app.POLICY_TYPE,
    eca_app.PLUGIN_POLICY_TYPE,
    eca_app.OAUTH_TYPE,
    eca_app.GLOBAL_TYPE,
)
CONFIG_KEY_PATTERN = re.compile(r"(orglink:[A-Za-z_]+(?:\[\d+\])?(?:\.[A-Za-z_]+)*)")
FIELD_PATTERN = re.compile(r"field '([^']+)'")


class StepFailed(Exception):
    def __init__(self, step: str, answer: str, field: str | None = None) -> None:
        super().__init__(f"{step}: {answer}")
        self.step, self.answer, self.field = step, answer, field


@dataclass
class Cli:
    """The real Pulumi CLI on a throwaway project with a local file backend in the work dir."""

    project: Path
    work: Path
    passphrase: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def run(
        self, log: Path, *args: str, timeout: float = 1800, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """One command; ``stdin`` feeds a value (a secret never goes on a command line)."""
        env = pulumi_env(self.work, self.passphrase)
        env.update(self.extra_env)
        env[salesforce.REQUEST_LOG_ENV] = str(log)
        env.pop("PULUMI_ACCESS_TOKEN", None)  # the contract's state stays local
        (self.work / "backend").mkdir(parents=True, exist_ok=True)
        return subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.project, env=env, input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip


def make_project(work: Path) -> Path:
    """A copy of orglink's program (Pulumi.yaml on this checkout's .venv, __main__.py, providers/)."""
    project = work / "project"
    (project / "stacks").mkdir(parents=True)
    settings = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    settings["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings))
    shutil.copy(ROOT / "__main__.py", project / "__main__.py")
    shutil.copytree(ROOT / "providers", project / "providers", ignore=shutil.ignore_patterns("__pycache__"))
    return project


def seed_integration() -> dict[str, Any]:
    """Seed 000's integration as shipped in stacks/Pulumi.local.yaml."""
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())["config"]
    return dict(config["orglink:integrations"][0])


def integrations(
    run_as_user: str, callout_user: str | None, with_connected_app: bool, verify_timeout_s: int,
    adopt: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Seed 000 as an External Client App and, where Org B allows it or has one to adopt, as a
    connected app; Org A's login user runs the verification callout, so it gets the principal's
    access. An adopted app keeps its own API name (no contract suffix: it is the user's app), so
    that integration's Org A objects carry the app's name too."""
    base = seed_integration()
    base.update(org_a="orgA", org_b="orgB", run_as_user=run_as_user, verify_timeout_s=verify_timeout_s)
    if callout_user:
        base["callout_users"] = [callout_user]
    base["app"] = dict(base["app"], contact_email="orglink-contract@example.com")
    eca = copy.deepcopy(base)
    eca.update(api_name=ECA_API_NAME, app_type="external_client_app")
    eca["app"]["enable_secret_in_rest_api"] = True  # turned off again by destroy when it turned it on
    found = [eca]
    if adopt:
        ca = copy.deepcopy(base)
        ca.update(name="CarrierAPI CA", api_name=adopt, name_suffix="", app_type="connected_app")
        ca["app"]["adopt"] = True  # released, not deleted, on destroy
        found.append(ca)
    elif with_connected_app:
        ca = copy.deepcopy(base)
        ca.update(name="CarrierAPI CA", api_name=CA_API_NAME, app_type="connected_app")
        found.append(ca)
    return found


class Lifecycle:
    def __init__(self, cli: Cli, stack: str, log_dir: Path, redact: Redactor, checks: list[Check],
                 progress: Callable[[str], None]) -> None:  # fmt: skip
        self.cli, self.stack, self.log_dir, self.redact = cli, stack, log_dir, redact
        self.checks, self.progress = checks, progress
        self.suffix = stack.replace("-", "_")
        self.requests: list[RequestLine] = []
        self.propagation: list[float] = []
        self.gate_requests: list[RequestLine] = []  # the token gate's client-credentials requests
        self.created = False
        self._count = 0
        # Config paths set with `pulumi config set --secret` (an adopted app's consumer secret).
        self.secret_config: dict[str, str] = {}
        self.connected_app: str | None = None  # the connected app's API name, when there is one
        self.integration_count = 0

    # -- running steps -------------------------------------------------------------------------

    def pulumi(
        self, step: str, *args: str, stdin: str | None = None
    ) -> tuple[subprocess.CompletedProcess[str], list[RequestLine]]:
        self._count += 1
        log = RequestLog(self.log_dir / f"requests-{self._count:02d}-{step.replace(' ', '-')}.jsonl")
        completed = self.cli.run(log.path, *args, stdin=stdin)
        lines = log.since()
        self.requests += lines
        if completed.returncode != 0:
            raise StepFailed(step, *self._error(completed))
        return completed, lines

    def _error(self, completed: subprocess.CompletedProcess[str]) -> tuple[str, str | None]:
        text = self.redact(completed.stdout + "\n" + completed.stderr)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        # The engine's own diagnostics first; any line that mentions an error when it printed none.
        errors = [line for line in lines if line.startswith("error:")] or [
            line for line in lines if "error" in line.lower()
        ]
        message = " / ".join(dict.fromkeys(errors[-4:])) or f"pulumi exited {completed.returncode}"
        # The config key to fix (orglink's errors say "fix orglink:..."), else the field it names.
        key = CONFIG_KEY_PATTERN.search(message) or FIELD_PATTERN.search(message)
        return message[:1500], key.group(1) if key else None

    def step(self, name: str, run: Callable[[], tuple[str, str, list[RequestLine]]]) -> Check:
        self.progress(f"{name} ...")
        started = time.monotonic()
        try:
            status, answer, lines = run()
        except StepFailed as failed:
            check = Check("lifecycle", name, FAIL, failed.answer, field=failed.field,
                          seconds=round(time.monotonic() - started, 2))  # fmt: skip
            self.checks.append(check)
            self.progress(f"{name}: fail: {failed.answer[:300]}")
            raise
        except salesforce.SalesforceError as err:
            message = self.redact(f"{err.status_code}: {err.message}")
            self.checks.append(Check("lifecycle", name, FAIL, message, field=err.field,
                                     seconds=round(time.monotonic() - started, 2)))  # fmt: skip
            self.progress(f"{name}: fail: {message[:300]}")
            raise StepFailed(name, message, err.field) from None
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            # The engine or the machine, not Salesforce (a CLI that hung, a full disk): the step
            # fails all the same, so destroy and the sweep still run.
            message = self.redact(f"{type(exc).__name__}: {exc}")
            self.checks.append(
                Check("lifecycle", name, FAIL, message, seconds=round(time.monotonic() - started, 2))
            )
            self.progress(f"{name}: fail: {message[:300]}")
            raise StepFailed(name, message) from None
        check = Check("lifecycle", name, status, self.redact(answer), _summary(lines),
                      seconds=round(time.monotonic() - started, 2))  # fmt: skip
        self.checks.append(check)
        self.progress(f"{name}: {status}: {check.answer[:300]}")
        if status == FAIL:
            raise StepFailed(name, check.answer)
        return check

    # -- the steps -----------------------------------------------------------------------------

    def run(self, connections: dict[str, Any], wanted: list[dict[str, Any]]) -> None:
        self.integration_count = len(wanted)
        for item in wanted:
            if item.get("app_type") == "connected_app":
                own = item.get("name_suffix") == ""
                self.connected_app = item["api_name"] if own else f"{item['api_name']}_{self.suffix}"
        self.create_stack(connections, wanted)
        self.step("up", lambda: self._up("up"))
        self.step("verification (token and callout)", self._verification)
        self.step("token gate: new apps reach the login servers", self._token_gate)
        self.step("no-op preview makes zero requests", self._noop_preview)
        self.step("one-field change (policy.session_timeout)", self._one_field_change)
        self.step("drift: found by refresh, repaired by up", self._drift)

    def create_stack(self, connections: dict[str, Any], wanted: list[dict[str, Any]]) -> None:
        stack_file = self.cli.project / "stacks" / f"Pulumi.{self.stack}.yaml"
        plain = {
            alias: {k: v for k, v in c.items() if k not in SECRET_FIELDS} for alias, c in connections.items()
        }
        stack_file.write_text(
            yaml.safe_dump(
                {"config": {"orglink:orgs": plain, "orglink:integrations": wanted}}, sort_keys=False
            )
        )
        self.pulumi("stack init", "stack", "init", self.stack)
        for alias, connection in connections.items():
            for key in SECRET_FIELDS:
                if connection.get(key):
                    self.pulumi("config set", "config", "set", "--secret", "--path", "--stack", self.stack,
                                f"orglink:orgs.{alias}.{key}", stdin=str(connection[key]))  # fmt: skip
        for path, value in self.secret_config.items():
            self.pulumi("config set", "config", "set", "--secret", "--path", "--stack", self.stack, path,
                        stdin=value)  # fmt: skip

    def _up(self, step: str) -> tuple[str, str, list[RequestLine]]:
        self.created = True
        _, lines = self.pulumi(step, "up", "--yes", "--skip-preview", "--stack", self.stack)
        self.propagation += token_gate_waits(lines)
        self.gate_requests += [r for r in lines if r.operation == "client_credentials"]
        return PASS, f"{len(lines)} requests ({_by_org(lines)})", lines

    def outputs(self) -> dict[str, Any]:
        completed, _ = self.pulumi("stack output", "stack", "output", "--json", "--stack", self.stack)
        found: dict[str, Any] = json.loads(completed.stdout or "{}")
        return found

    def _verification(self) -> tuple[str, str, list[RequestLine]]:
        results = {key: value for key, value in self.outputs().items() if key.endswith("verification")}
        failed = [key for key, value in results.items() if not (isinstance(value, dict) and value.get("ok"))]
        details = "; ".join(f"{key}: {(value or {}).get('detail')}" for key, value in results.items())
        return (FAIL if failed or not results else PASS), details or "no verification output", []

    def _token_gate(self) -> tuple[str, str, list[RequestLine]]:
        waits = ", ".join(f"{w:.1f} s" for w in self.propagation) or "no client-credentials token asked"
        return (
            PASS,
            f"per new app, its first client-credentials token request to the first one granted: {waits}",
            self.gate_requests,
        )

    def _noop_preview(self) -> tuple[str, str, list[RequestLine]]:
        completed, lines = self.pulumi("no-op preview", "preview", "--json", "--stack", self.stack)
        changes = _changes(completed.stdout)
        ok = not changes and not lines
        return (
            (PASS if ok else FAIL),
            f"changes {changes or 'none'}; {len(lines)} requests to the orgs",
            lines,
        )

    def _one_field_change(self) -> tuple[str, str, list[RequestLine]]:
        def change(config: dict[str, Any]) -> None:
            for item in config["orglink:integrations"]:
                item["policy"].update(session_timeout=CHANGED_TIMEOUT)

        self._edit(change)
        completed, preview_lines = self.pulumi("change preview", "preview", "--json", "--stack", self.stack)
        changes = _changes(completed.stdout)
        _, up_lines = self.pulumi("change up", "up", "--yes", "--skip-preview", "--stack", self.stack)
        live = self._live_timeout()
        ok = changes == {"update": self.integration_count} and live == self._all(CHANGED_TIMEOUT)
        return (
            (PASS if ok else FAIL),
            (
                f"preview {changes}; up made {len(up_lines)} requests; Org B's policy now says "
                f"sessionTimeoutInMinutes={live}"
            ),
            preview_lines + up_lines,
        )

    def _drift(self) -> tuple[str, str, list[RequestLine]]:
        name = self._policy_name()

        def drift(policy: dict[str, Any]) -> dict[str, Any]:
            policy["sessionTimeoutInMinutes"] = DRIFTED_TIMEOUT
            return policy

        salesforce.modify_component("orgB", eca_app.POLICY_TYPE, name, drift, "contract drift")
        if self.connected_app:

            def drift_app(app: dict[str, Any]) -> dict[str, Any]:
                app.setdefault("sessionPolicy", {})["sessionTimeout"] = DRIFTED_TIMEOUT
                return app

            salesforce.modify_component(
                "orgB", "ConnectedApp", self.connected_app, drift_app, "contract drift"
            )
        _, refresh_lines = self.pulumi("refresh", "refresh", "--yes", "--skip-preview", "--stack", self.stack)
        completed, _ = self.pulumi("drift preview", "preview", "--json", "--stack", self.stack)
        found = _changes(completed.stdout)
        _, up_lines = self.pulumi("repair up", "up", "--yes", "--skip-preview", "--stack", self.stack)
        live = self._live_timeout()
        ok = found == {"update": self.integration_count} and live == self._all(CHANGED_TIMEOUT)
        app = f" and ConnectedApp {self.connected_app}" if self.connected_app else ""
        return (
            (PASS if ok else FAIL),
            (
                f"wrote a session timeout of {DRIFTED_TIMEOUT} to {eca_app.POLICY_TYPE} {name}{app} "
                "out of band; "
                f"after refresh the preview shows {found}; after up Org B says {live}"
            ),
            refresh_lines + up_lines,
        )

    def destroy(self) -> Check:
        return self.step("destroy", self._destroy)

    def _destroy(self) -> tuple[str, str, list[RequestLine]]:
        _, lines = self.pulumi("destroy", "destroy", "--yes", "--skip-preview", "--stack", self.stack)
        return PASS, f"{len(lines)} requests ({_by_org(lines)})", lines

    # -- helpers -------------------------------------------------------------------------------

    def _edit(self, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.cli.project / "stacks" / f"Pulumi.{self.stack}.yaml"
        settings = yaml.safe_load(path.read_text())
        change(settings["config"])
        path.write_text(yaml.safe_dump(settings, sort_keys=False))

    def _policy_name(self) -> str:
        app = f"{ECA_API_NAME}_{self.suffix}"
        name = eca_app.find_part_name(salesforce.org("orgB"), eca_app.POLICY_TYPE, app)
        if not name:
            raise StepFailed("drift", f"Org B has no {eca_app.POLICY_TYPE} of External Client App {app}")
        return name

    def _all(self, minutes: int) -> Any:
        return (minutes, minutes) if self.connected_app else minutes

    def _live_timeout(self) -> Any:
        """The ECA policy's session timeout; with a connected app, (the ECA's, the app's)."""
        client = salesforce.org("orgB")
        policy = client.read_component(eca_app.POLICY_TYPE, self._policy_name()) or {}
        eca = _minutes(policy.get("sessionTimeoutInMinutes"))
        if not self.connected_app:
            return eca
        app = client.read_component("ConnectedApp", self.connected_app) or {}
        return eca, _minutes((app.get("sessionPolicy") or {}).get("sessionTimeout"))


def _minutes(value: Any) -> Any:
    return int(str(value)) if str(value).isdigit() else value


def token_gate_waits(lines: list[RequestLine]) -> list[float]:
    """Per app asked for a client-credentials token during an `up`: seconds from its first token
    request to the first one Org B granted (how long the new app took to reach the login servers;
    0 when the first try got a token)."""
    waits = []
    asked = [r for r in lines if r.family == "oauth" and r.operation == "client_credentials" and r.client]
    for client in dict.fromkeys(r.client for r in asked):
        tries = [r for r in asked if r.client == client]
        granted = [r for r in tries if r.status == 200]
        if granted:
            waits.append(round(granted[0].at + granted[0].seconds - tries[0].at, 3))
    return waits


def _changes(preview_json: str) -> dict[str, int]:
    try:
        summary: dict[str, int] = json.loads(preview_json).get("changeSummary", {})
    except ValueError:
        return {"unreadable preview": 1}
    return {op: n for op, n in summary.items() if op != "same" and n}


def _by_org(lines: list[RequestLine]) -> str:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.org] = counts.get(line.org, 0) + 1
    return ", ".join(f"{org} {n}" for org, n in sorted(counts.items())) or "none"


def _summary(lines: list[RequestLine]) -> list[str]:
    """The step's requests, counted per org, family and method+path."""
    counts: dict[str, int] = {}
    for line in lines:
        key = (
            f"{line.org}: {line.method} {_generic(line.path)}{' ' + line.operation if line.operation else ''}"
        )
        counts[key] = counts.get(key, 0) + 1
    return [f"{n} x {key}" for key, n in sorted(counts.items())]


def _generic(path: str) -> str:
    """Record Ids out of a path, so one row counts every request of its kind."""
    return re.sub(r"/[a-zA-Z0-9]{15,18}(?=/|$)", "/{id}", path)


# -- the sweep ---------------------------------------------------------------------------------------


def sweep(checks: list[Check], progress: Callable[[str], None], when: str) -> bool:
    """Find and delete, in both orgs, every component whose API name carries a contract suffix
    (this run's or a killed run's), then list again to prove none is left."""
    progress(f"sweep ({when}) ...")
    removed: list[str] = []
    problems: list[str] = []
    for alias in ("orgA", "orgB"):
        try:
            client = salesforce.org(alias)
        except salesforce.SalesforceError as err:
            problems.append(f"{alias}: {err.status_code}: {err.message}")
            continue
        try:
            removed += [f"{alias}: {n}" for n in _sweep_org(client, problems)]
        except salesforce.SalesforceError as err:  # listing what to remove failed
            problems.append(f"{alias}: {err.status_code}: {err.message}")
    left = []
    for alias in ("orgA", "orgB"):
        try:
            client = salesforce.org(alias)
            left += [f"{alias}: {mtype}/{name}" for mtype, name in leftovers(client)]
        except salesforce.SalesforceError as err:
            problems.append(f"{alias}: {err.status_code}: {err.message}")
    status = FAIL if left or problems else PASS
    answer = (
        f"removed {len(removed)}: {', '.join(removed) or 'nothing'}; left: {', '.join(left) or 'nothing'}"
    )
    if problems:
        answer += "; problems: " + "; ".join(problems)
    checks.append(Check("sweep", f"sweep ({when}): nothing left", status, answer))
    progress(f"sweep ({when}): {status}: {answer[:300]}")
    return status == PASS


def leftovers(client: salesforce.OrgClient) -> list[tuple[str, str]]:
    found = []
    for mtype in SWEEP_ORDER:
        for props in client.list_metadata(mtype):
            name = str(props.get("fullName") or "")
            if SUFFIX_MARK in name.lower():
                found.append((mtype, name))
    return found


def _sweep_org(client: salesforce.OrgClient, problems: list[str]) -> list[str]:
    removed = []
    _remove_assignments(client, problems)
    for mtype, name in leftovers(client):
        try:
            if mtype == eca_app.HEADER_TYPE:
                header = client.read_component(mtype, name)
                ExternalClientAppProvider._delete_app(client, name)
                mark = eca_app.provenance(header)
                if mark is not None and mark.turned_on_setting:
                    eca_app.set_secret_access(client, False, "contract sweep")
            elif client.delete_component(mtype, name) is False:
                continue  # gone with its app
            removed.append(f"{mtype}/{name}")
        except salesforce.SalesforceError as err:
            problems.append(f"{client.alias}: {mtype}/{name}: {err.status_code}: {err.message}")
    return removed


def _remove_assignments(client: salesforce.OrgClient, problems: list[str]) -> None:
    """Users assigned to a contract permission set first: Salesforce keeps an assigned one."""
    try:
        rows = client.query(
            f"SELECT Id FROM PermissionSetAssignment WHERE PermissionSet.Name LIKE '%{SUFFIX_MARK}%'"
        )
    except salesforce.SalesforceError as err:
        if err.status_code not in ("INVALID_TYPE", "INVALID_FIELD"):
            problems.append(f"{client.alias}: PermissionSetAssignment: {err.status_code}: {err.message}")
        return
    for row in rows:
        client.delete_record("PermissionSetAssignment", str(row["Id"]))
