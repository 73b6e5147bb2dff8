"""Shared state for teams, on real servers the tests start and stop: a PostgreSQL cluster
(`postgres://`) and an S3-compatible server (`s3://`, the Versity S3 Gateway).

On each backend: the `local` stack's up, no-op preview, refresh and destroy, with a secrets provider
other than the passphrase variable (a passphrase file outside the project); and the backend's lock
refusing a second `up` of a stack while one runs (both orgs unchanged by the refused one), while a
`dev` and a `uat` stack of the same two orgs update side by side.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backend_servers import Backend, Namespace, postgres_server, s3_server
from tests.engine import change_counts
from tests.lifecycle_support import (
    base_name,
    changed_paths,
    connected_apps_allowed,
    is_content_write,
    new_project,
    own_emulator,
    owned_components,
    start_up,
)
from tests.stack_project import ORGS, StackProject, org_snapshots, shipped_stack_settings

# How long Org B holds the first request of the running `up`: the window in which the second `up`
# must be refused. Generous, because the refused CLI has to start, load the stack and check the lock.
HOLD_S = 10.0
LOCKED = "the stack is currently locked by 1 lock(s)"


@pytest.fixture(scope="module", params=["postgres", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if request.param == "postgres":
        with postgres_server() as server:
            yield server
    else:
        with s3_server(tmp_path_factory.mktemp("s3-server")) as server:
            yield server


def on_backend(project: StackProject, namespace: Namespace, **env: str) -> StackProject:
    """The project's CLI pointed at the shared backend instead of its local `file://` directory."""
    extra = {**project.pulumi.extra_env, **namespace.env, "PULUMI_BACKEND_URL": namespace.url, **env}
    project.pulumi = dataclasses.replace(project.pulumi, extra_env=extra)
    return project


def content_writes(admin: Any) -> dict[str, list[str]]:
    """Per org, the kinds of content writes (not logins) since `admin.mark`."""
    return {a: [k for k, n in admin.counters(a).items() if n and is_content_write(k)] for a in ORGS}


def stack_keys(namespace: Namespace) -> set[str]:
    return {key for key in namespace.stored() if key.startswith(".pulumi/stacks/")}


def test_local_stack_lifecycle_on_shared_backend(
    backend: Backend, tmp_path: Path, emulator: Any
) -> None:  # fmt: skip
    namespace = backend.namespace("lifecycle")
    # The stack's secrets provider reads its passphrase from a file outside the project, as a
    # CI runner or a vault agent would write it; PULUMI_CONFIG_PASSPHRASE is not set at all.
    passphrase_file = tmp_path / "secrets" / "orglink-dev.passphrase"
    passphrase_file.parent.mkdir(mode=0o700)
    passphrase_file.write_text("a team passphrase, never in the repository\n")
    passphrase_file.chmod(0o600)
    project = on_backend(new_project(tmp_path, emulator.state_dir), namespace,
                         PULUMI_CONFIG_PASSPHRASE_FILE=str(passphrase_file))  # fmt: skip
    project.pulumi = dataclasses.replace(project.pulumi, unset_env=("PULUMI_CONFIG_PASSPHRASE",))
    pulumi = project.pulumi
    project.write_stack("local", shipped_stack_settings("local"))
    pulumi.run("stack", "init", "local", "--secrets-provider", "passphrase")

    with connected_apps_allowed(emulator.admin, "local"):
        before = org_snapshots(emulator.admin)
        up = pulumi.up("local")
        outputs = pulumi.outputs("local")
        assert outputs["verification"]["ok"] is True, outputs["verification"]
        secret = pulumi.outputs("local", show_secrets=True)["consumer_secret"]

        # The state is in the server, not in a local directory.
        assert ".pulumi/stacks/orglink/local.json" in stack_keys(namespace)
        assert not (pulumi.state_dir / "backend" / ".pulumi").exists()
        stored = b"".join(namespace.stored().values()).decode()
        state = json.loads(namespace.stored()[".pulumi/stacks/orglink/local.json"])
        assert state["checkpoint"]["latest"]["secrets_providers"]["type"] == "passphrase"
        leaked = {"stored": secret in stored, "up output": secret in up.stdout + up.stderr}
        assert not any(leaked.values()), f"the consumer secret in clear: {leaked}"

        for alias in ORGS:
            emulator.admin.mark(alias)
        assert change_counts(pulumi.preview_json("local")) == {}
        pulumi.run("refresh", "--yes", "--stack", "local")
        assert content_writes(emulator.admin) == {"orgA": [], "orgB": []}, "a no-op preview or refresh wrote"

        assert_passphrase_is_required(project, passphrase_file)
        pulumi.run("destroy", "--yes", "--stack", "local")
        assert changed_paths(before, org_snapshots(emulator.admin)) == []
    assert namespace.lock_keys() == []


def assert_passphrase_is_required(project: StackProject, passphrase_file: Path) -> None:
    """Without the file, or with another passphrase, the stack's secrets stay closed."""
    without = dataclasses.replace(project.pulumi, unset_env=("PULUMI_CONFIG_PASSPHRASE",
                                                             "PULUMI_CONFIG_PASSPHRASE_FILE"))  # fmt: skip
    missing = without.run("stack", "output", "--show-secrets", "--stack", "local", check=False)
    assert missing.returncode != 0
    assert "PULUMI_CONFIG_PASSPHRASE" in missing.stdout + missing.stderr
    wrong_file = passphrase_file.with_name("wrong.passphrase")
    wrong_file.write_text("someone else's passphrase\n")
    wrong_env = {**project.pulumi.extra_env, "PULUMI_CONFIG_PASSPHRASE_FILE": str(wrong_file)}
    wrong = dataclasses.replace(project.pulumi, extra_env=wrong_env)
    refused = wrong.run("stack", "output", "--show-secrets", "--stack", "local", check=False)
    assert refused.returncode != 0 and "incorrect passphrase" in refused.stdout + refused.stderr


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_lock_refuses_a_second_up_while_dev_and_uat_run_side_by_side(
    backend: Backend, tmp_path: Path
) -> None:  # fmt: skip
    namespace = backend.namespace("lock")
    with own_emulator(tmp_path / "emulator") as emu, connected_apps_allowed(emu.admin, "dev"):
        project = on_backend(new_project(tmp_path, emu.state_dir), namespace)
        for stack in ("dev", "uat"):
            project.init_stack(stack, shipped_stack_settings("local"))
        before = org_snapshots(emu.admin)

        # Org B holds the first request of dev's `up` (the Preflight's: nothing is written before it
        # ends), so dev's update is running, and holding its lock, for at least HOLD_S.
        emu.admin.inject_fault("orgB", "any", "delay", count=1, delay_s=HOLD_S)
        dev = start_up(project, "dev")
        try:
            wait_for(lambda: namespace.lock_keys() and not emu.admin.pending_faults("orgB"), 60,
                     "dev's up to hold its lock and wait inside its first request")  # fmt: skip
            held = org_snapshots(emu.admin)
            second = project.pulumi.up("dev", check=False)
            refused_while = dev.poll() is None
            after_refusal = org_snapshots(emu.admin)
            uat = start_up(project, "uat")
            side_by_side = dev.poll() is None
            uat_out, _ = uat.communicate(timeout=300)
            dev_out, _ = dev.communicate(timeout=300)
        finally:
            if dev.poll() is None:
                dev.kill()
                dev.communicate()

        message = second.stdout + second.stderr
        assert second.returncode != 0 and refused_while, message
        assert LOCKED in message and f"(pid {dev.pid})" in message, message
        assert "pulumi cancel" in message
        if backend.kind == "postgres":
            assert namespace.env["PGPASSWORD"] not in message
        assert changed_paths(held, after_refusal) == [], "the refused up changed an org"

        assert side_by_side, "uat's up did not start while dev's was running"
        assert uat.returncode == 0, uat_out
        assert dev.returncode == 0, dev_out
        for stack in ("dev", "uat"):
            assert project.pulumi.outputs(stack)["verification"]["ok"] is True
        dev_objects, uat_objects = owned_components(emu.admin, base_name("dev")), owned_components(
            emu.admin, base_name("uat")
        )
        assert all(dev_objects[a] and uat_objects[a] for a in ORGS)
        assert namespace.lock_keys() == []

        for stack in ("dev", "uat"):
            project.pulumi.run("destroy", "--yes", "--stack", stack)
        assert changed_paths(before, org_snapshots(emu.admin)) == []
