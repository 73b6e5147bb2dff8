"""start / stop / status of the background emulator process (used by the CLI and the test fixture)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import latency as latency_model
from .store import DEFAULT_PROFILE, ORG_PROFILES
from .vault import Vault, VaultError

DEFAULT_ORGS = ["orgA", "orgB"]
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class EmulatorError(Exception):
    pass


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        # Reap it first if it is our own exited child; otherwise a zombie would look alive.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def running_info(state_dir: Path) -> dict | None:
    """emulator.json of a live emulator for this state dir, else None."""
    info = _read_json(Path(state_dir) / "emulator.json")
    if not isinstance(info, dict) or not _alive(int(info.get("pid", 0))):
        return None
    return info


def _ports(state_dir: Path) -> dict[str, int]:
    ports = _read_json(Path(state_dir) / "ports.json")
    return {str(k): int(v) for k, v in ports.items()} if isinstance(ports, dict) else {}


def _ready(state_dir: Path, aliases: list[str]) -> bool:
    ports = _ports(state_dir)
    names = [*aliases, "_login", "_admin"]
    return all(n in ports for n in names) and all(_port_answers(ports[n]) for n in names)


def known_orgs(state_dir: Path) -> list[str]:
    return [k for k in _ports(state_dir) if not k.startswith("_")]


def opened_orgs(state_dir: Path) -> dict[str, Any]:
    """orgs.json with its sealed values opened: `admin_password` and `login.private_key` (PEM).

    Those live only in memory; the file holds them sealed with the state dir's key.
    """
    orgs = _read_json(Path(state_dir) / "orgs.json") or {}
    try:
        vault = Vault(Path(state_dir), create=False)
    except VaultError as err:
        raise EmulatorError(str(err)) from None
    out: dict[str, Any] = {}
    for alias, org in orgs.items():
        entry = dict(org)
        entry["admin_password"] = vault.open(str(org["admin_password_sealed"]))
        login = dict(org["login"])
        login["private_key"] = vault.open(str(login["private_key_sealed"]))
        entry["login"] = login
        out[alias] = entry
    return out


def start(
    state_dir: str | Path,
    orgs: list[str] | None = None,
    profile: str = DEFAULT_PROFILE,
    latency: str | Path | None = None,
) -> dict[str, Any]:
    """Start the emulator in the background (no-op if it already serves these orgs); return orgs.json,
    its sealed values opened. `profile` (see store.ORG_PROFILES) sets up orgs created now.
    `latency` (a profile file, or `default`; see emulator.latency) paces every answer; an emulator
    running with another latency profile, or none, is restarted."""
    if profile not in ORG_PROFILES:
        raise EmulatorError(f"unknown org profile {profile!r}; known: {', '.join(ORG_PROFILES)}")
    latency_name = None
    if latency is not None:
        latency_name = latency_model.load(latency).name  # a bad file fails here, naming its field
    sdir = Path(state_dir).resolve()
    sdir.mkdir(parents=True, exist_ok=True)
    aliases = orgs or known_orgs(sdir) or list(DEFAULT_ORGS)
    info = running_info(sdir)
    if info is not None:
        current = _read_json(sdir / "orgs.json") or {}
        # An emulator of an older version (orgs.json without sealed logins) is restarted.
        current_format = all(isinstance(o, dict) and "login" in o for o in current.values())
        same_latency = info.get("latency") == latency_name
        if all(a in current for a in aliases) and _ready(sdir, aliases) and current_format and same_latency:
            return opened_orgs(sdir)
        # Serving a different set of orgs: restart with the union, keeping every existing org.
        aliases = sorted(set(aliases) | set(current))
        stop(sdir)
    (sdir / "emulator.json").unlink(missing_ok=True)
    proc = _spawn(sdir, aliases, profile, latency_name)
    _wait_ready(sdir, aliases, proc)
    return opened_orgs(sdir)


def _spawn(sdir: Path, aliases: list[str], profile: str, latency: str | None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    # `-m emulator` must import this package even when started from another directory.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = open(sdir / "emulator.log", "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "emulator",
                "serve",
                "--state-dir",
                str(sdir),
                "--orgs",
                ",".join(aliases),
                "--profile",
                profile,
                *(["--latency", latency] if latency else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            cwd=str(sdir),
            start_new_session=True,
        )
    finally:
        log.close()


def _wait_ready(sdir: Path, aliases: list[str], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (sdir / "emulator.log").read_text(errors="replace")[-2000:]
            raise EmulatorError(f"emulator exited with {proc.returncode}:\n{tail}")
        info = _read_json(sdir / "emulator.json")
        if isinstance(info, dict) and info.get("pid") == proc.pid and _ready(sdir, aliases):
            return
        time.sleep(0.01)
    raise EmulatorError(f"emulator did not become ready within {START_TIMEOUT_S} s")


def stop(state_dir: str | Path) -> bool:
    """Stop the emulator of this state dir; True if one was running."""
    sdir = Path(state_dir).resolve()
    info = running_info(sdir)
    if info is None:
        return False
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)  # only the pid recorded for this state dir
    return True


def status(state_dir: str | Path) -> dict[str, Any]:
    sdir = Path(state_dir).resolve()
    info = running_info(sdir)
    orgs = _read_json(sdir / "orgs.json") or {}
    return {
        "running": info is not None,
        "pid": None if info is None else info.get("pid"),
        "admin_url": None if info is None else info.get("admin_url"),
        "generic_login_url": None if info is None else info.get("generic_login_url"),
        "orgs": {
            a: {"instance_url": o.get("instance_url"), "org_id": o.get("org_id")} for a, o in orgs.items()
        },
    }
