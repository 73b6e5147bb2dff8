"""Helpers shared by the tests/stack/test_lifecycle_*.py files: org content diffs that never show values
(snapshots hold consumer secrets and private keys, and a failing assert must not print them), secret
searches that name what leaked without showing it, and a project+stack on the test emulator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from emulator import control
from emulator.admin import AdminClient
from tests.emulator_fixtures import EmulatorHandle, connected_app_creation
from tests.engine import TOOLS_BIN, Pulumi
from tests.stack_project import ORGS, StackProject, org_snapshots, shipped_stack_settings

# The stacks whose Org B app is an External Client App: they must work where connected apps
# cannot be created (the org setting stays off for them).
ECA_STACKS = frozenset({"local-eca"})
# Bookkeeping the emulator adds to every component (who/when): a write changes it, nobody reads it.
AUDIT_KEY = "_audit"


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """{"a": {"b": [1]}} -> {"a.b[0]": 1}; `_audit` entries left out."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if key != AUDIT_KEY:
                out.update(flatten(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.update(flatten(item, f"{path}[{index}]"))
    else:
        out[path] = value
    return out


def changed_paths(before: Any, after: Any) -> list[str]:
    """Where two snapshots differ, as paths only (never the values: they include secrets)."""
    old, new = flatten(before), flatten(after)
    missing = object()
    return sorted(key for key in old.keys() | new.keys() if old.get(key, missing) != new.get(key, missing))


def component_names(snapshot: dict[str, Any]) -> set[str]:
    """{"ConnectedApp/CarrierAPI_App_local", ...} of one org snapshot."""
    return {f"{mtype}/{name}" for mtype, items in snapshot["components"].items() for name in items}


def record_ids(snapshot: dict[str, Any]) -> set[str]:
    return {f"{sobject}/{record['Id']}" for sobject, rows in snapshot["records"].items() for record in rows}


def secrets_found(text: str, secrets: dict[str, str]) -> list[str]:
    """Names (never values) of the secrets that occur in a text."""
    return sorted(name for name, value in secrets.items() if value and value in text)


# An emulator access token: the org's 15-char Id, "!", then URL-safe random text.
ACCESS_TOKEN_SHAPE = re.compile(r"00D[0-9A-Za-z]{12}![0-9A-Za-z_-]{20,}")


def access_token_digests(state_dir: Path) -> dict[str, str]:
    """SHA-256 of every access token (session id) the emulator orgs issued -> "<alias> access token
    <n>". The orgs keep only these digests at rest, never the tokens."""
    found: dict[str, str] = {}
    for alias in ORGS:
        with sqlite3.connect(f"file:{state_dir / f'{alias}.sqlite'}?mode=ro", uri=True) as db:
            for index, (digest,) in enumerate(db.execute("SELECT token FROM tokens WHERE kind = 'access'")):
                found[str(digest)] = f"{alias} access token {index}"
    return found


def leaked_access_tokens(text: str, state_dir: Path) -> list[str]:
    """Names (never values) of the issued access tokens that occur in a text."""
    digests = access_token_digests(state_dir)
    return sorted(
        {
            digests[digest]
            for candidate in ACCESS_TOKEN_SHAPE.findall(text)
            if (digest := hashlib.sha256(candidate.encode()).hexdigest()) in digests
        }
    )


def asking(pulumi: Pulumi) -> Pulumi:
    """The same CLI without PULUMI_SKIP_CONFIRMATIONS (it implies --yes, which --preview-only refuses)."""
    return dataclasses.replace(pulumi, extra_env={**pulumi.extra_env, "PULUMI_SKIP_CONFIRMATIONS": "false"})


@contextmanager
def connected_apps_allowed(admin: Any, stack: str) -> Iterator[None]:
    """Org B lets the connected-app stacks create apps (most real orgs no longer do)."""
    if stack in ECA_STACKS:
        yield
        return
    with connected_app_creation(admin):
        yield


def base_name(stack: str) -> str:
    """The API name every object of the shipped CarrierAPI stacks starts with."""
    return "CarrierAPI_App_" + stack.replace("-", "_")


def owned_by(names: set[str], stack_base: str) -> set[str]:
    return {name for name in names if name.split("/", 1)[1].startswith(stack_base)}


def all_components(admin: Any) -> dict[str, set[str]]:
    return {alias: component_names(snapshot) for alias, snapshot in org_snapshots(admin).items()}


def descendants(pid: int) -> list[int]:
    """Process ids below `pid` (the plugins the CLI started), from /proc: ours to end."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL a CLI process and every plugin it started, by id (as a crash or `kill -9` would)."""
    for victim in [pid, *descendants(pid)]:
        with suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def locked_after_kill(pulumi: Any, stack: str) -> subprocess.CompletedProcess[str]:
    """The first `up` after a killed one, which the dead update's lock stops.

    When the kill landed while the file backend rewrote the checkpoint's metadata sidecar
    (`<stack>.json.attrs`, written in place, not renamed), Pulumi first answers "failed to load
    checkpoint: EOF"; README's "When an update is interrupted" says to delete the empty sidecar.
    """
    locked = pulumi.run("up", "--yes", "--skip-preview", "--stack", stack, check=False)
    if "failed to load checkpoint: EOF" in locked.stderr:
        empty = [path for path in (pulumi.state_dir / "backend").rglob("*.attrs") if path.stat().st_size == 0]
        assert empty, locked.stderr
        for path in empty:
            path.unlink()
        locked = pulumi.run("up", "--yes", "--skip-preview", "--stack", stack, check=False)
    return locked


def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def new_project(base: Path, emulator_state_dir: Path) -> StackProject:
    return StackProject(base / "project", emulator_state_dir, base / "pulumi")


# -- concurrency, interruption and faults, shared by the lifecycle tests of each app type ---------

# Retries fast enough for a test, and a budget that gives up on a permanent fault in seconds.
FAST_RETRIES = {"ORGLINK_RETRY_BASE_S": "0.05", "ORGLINK_RETRY_BUDGET_S": "8"}


def fast_retrying_project(
    base: Path, emulator_state_dir: Path, stack_file: str, *stacks: str
) -> StackProject:
    """A throwaway project with these stacks of the shipped settings of ``stack_file``."""
    project = new_project(base, emulator_state_dir)
    for stack in stacks:
        project.init_stack(stack, shipped_stack_settings(stack_file))
    project.pulumi = dataclasses.replace(project.pulumi, extra_env=dict(FAST_RETRIES))
    return project


def owned_components(admin: Any, base: str) -> dict[str, set[str]]:
    """Per org, the components whose names start with the stack's base name."""
    snapshots = org_snapshots(admin)
    return {alias: owned_by(component_names(snapshots[alias]), base) for alias in ORGS}


TRANSIENT = ("503", "UNKNOWN_EXCEPTION", "REQUEST_LIMIT_EXCEEDED", "ALREADY_IN_PROCESS", "reset")


@contextmanager
def own_emulator(state_dir: Path) -> Iterator[EmulatorHandle]:
    """A separate emulator (orgA, orgB) for one scenario: its faults, kills, counters and org-wide
    settings are its alone, so several scenarios can run at the same time."""
    orgs = control.start(state_dir, list(ORGS))
    info = json.loads((state_dir / "emulator.json").read_text())
    try:
        yield EmulatorHandle(
            state_dir, orgs, AdminClient(state_dir), str(info["ca_bundle"]), str(info["generic_login_url"])
        )
    finally:
        control.stop(state_dir)


def start_up(project: StackProject, stack: str) -> subprocess.Popen[str]:
    """`pulumi up` of a stack in the background (to run beside another, or to be killed)."""
    return subprocess.Popen(
        [str(TOOLS_BIN / "pulumi"), "up", "--yes", "--skip-preview", "--stack", stack, "--non-interactive"],
        cwd=project.directory, env=project.pulumi.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def inject_transient_faults(admin: Any, apis: tuple[str, ...] = ("metadata", "rest")) -> None:
    """Each kind of transient failure, once on each of these APIs, in both orgs; a 503 at login
    (the emulator mode logs in with JWT bearer at the org's token endpoint)."""
    for alias in ORGS:
        for api in apis:
            for fault in TRANSIENT:
                admin.inject_fault(alias, api, fault, count=1)
        admin.inject_fault(alias, "oauth", "503", count=1)


def is_content_write(kind: str) -> bool:
    return kind.endswith(".write") and not kind.startswith(("soap_login.", "oauth."))


@dataclasses.dataclass
class SessionExpirer:
    """Expires both orgs' sessions once, as soon as the command starts writing (mid-run)."""

    admin: Any
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    expired: int = 0

    def __enter__(self) -> SessionExpirer:
        for alias in ORGS:
            self.admin.mark(alias)
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def _watch(self) -> None:
        while not self.done.is_set():
            counts = [self.admin.counters(alias) for alias in ORGS]
            # A content write, not a login: by then the provider holds sessions that can expire.
            if any(n for c in counts for kind, n in c.items() if is_content_write(kind)):
                self.expired = sum(self.admin.expire_sessions(alias) for alias in ORGS)
                return
            time.sleep(0.02)

    def __exit__(self, *_exc: object) -> None:
        self.done.set()


def destroy_one_stack_then_the_other(
    project: StackProject, admin: Any, before: dict[str, Any], expected_b: dict[str, set[str]]
) -> None:
    """Of two stacks `team-a` and `team-b` on the same orgs: destroying team-a leaves every object
    of team-b exactly as it was, and destroying team-b then leaves both orgs as they were before."""
    team_b = org_snapshots(admin)
    project.pulumi.run("destroy", "--yes", "--stack", "team-a")
    assert owned_components(admin, base_name("team-a")) == {"orgA": set(), "orgB": set()}
    assert owned_components(admin, base_name("team-b")) == expected_b
    assert [p for p in changed_paths(team_b, org_snapshots(admin)) if base_name("team-b") in p] == []
    project.pulumi.run("destroy", "--yes", "--stack", "team-b")
    assert changed_paths(before, org_snapshots(admin)) == []


def kill_up_in_first_create(project: StackProject, stack: str, admin: Any, org: str) -> None:
    """SIGKILL `pulumi up` while the org is creating its first object: every metadata request to
    the org is slowed, so the kill lands inside a create the org then finishes."""
    admin.mark(org)
    admin.inject_fault(org, "metadata", "delay", count=1000, delay_s=1.0)
    run = start_up(project, stack)
    try:
        wait_until(lambda: admin.counters(org).get("metadata.write", 0) >= 1, 120, f"a write to {org}")
    finally:
        kill_tree(run.pid)
        run.communicate()
