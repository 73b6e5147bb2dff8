"""`make demo` / `make demo-destroy`: seed 000's integration between two local emulator orgs.

    python -m tools.demo up        # start the orgs, allow connected apps in orgB, pulumi up (stack local)
    python -m tools.demo destroy   # pulumi destroy (stack local): both orgs back to how they were

Run with `.tools/env.sh` sourced (the Makefile does): it puts the Pulumi CLI on PATH and points it at
the local state under .state/. Every step is idempotent: a second `make demo` changes nothing, also
after the emulator was stopped and started (it keeps its ports, so the stack sees the same URLs).
Secrets are never printed: stack outputs are read without --show-secrets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from emulator import control
from emulator.admin import AdminClient

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".state" / "emulator"
ORGS = ["orgA", "orgB"]
STACK = "local"
# Object types the integration creates, per org, for the summary.
SUMMARY_TYPES = {
    "orgA": ("Certificate", "ExternalCredential", "NamedCredential", "PermissionSet"),
    "orgB": ("ConnectedApp",),
}


class DemoError(Exception):
    pass


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def pulumi(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the Pulumi CLI in the project; its own output streams to the terminal unless captured."""
    if shutil.which("pulumi") is None:
        raise DemoError("the pulumi CLI is not on PATH: run `make setup` and source .tools/env.sh")
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=ROOT,
        check=False,
        text=True,
        capture_output=capture,
    )


def start_orgs() -> None:
    step(f"Starting the emulator orgs {', '.join(ORGS)} (state in {STATE_DIR.relative_to(ROOT)})")
    orgs = control.start(STATE_DIR, ORGS)  # a no-op when they already run
    for alias in ORGS:
        print(f"    {alias}: {orgs[alias]['instance_url']}")


def allow_connected_apps() -> None:
    # Seed 000 step 3: "Enable Allow creation of connected apps" (no metadata field exists for it).
    step("Allowing connected-app creation in orgB (seed 000 step 3)")
    AdminClient(STATE_DIR).set_setting("orgB", "allow-connected-app-creation", True)


def select_stack() -> None:
    step(f"Selecting the Pulumi stack '{STACK}' (created on first use)")
    if pulumi("stack", "select", STACK, capture=True).returncode != 0:
        created = pulumi("stack", "init", STACK, capture=True)
        if created.returncode != 0:
            raise DemoError(f"pulumi stack init {STACK} failed:\n{created.stderr.strip()}")


def run_up() -> None:
    step(f"pulumi up --yes --stack {STACK}")
    if pulumi("up", "--yes", "--stack", STACK, "--suppress-outputs").returncode != 0:
        raise DemoError("pulumi up failed (see above); fix the cause and run `make demo` again")


def run_destroy() -> None:
    step(f"pulumi destroy --yes --stack {STACK}")
    if pulumi("stack", "select", STACK, capture=True).returncode != 0:
        print(f"    no stack '{STACK}': nothing to destroy")
        return
    if pulumi("destroy", "--yes", "--stack", STACK).returncode != 0:
        raise DemoError("pulumi destroy failed (see above); run `make demo-destroy` again")


def stack_outputs() -> dict[str, Any]:
    completed = pulumi("stack", "output", "--json", "--stack", STACK, capture=True)  # secrets stay hidden
    if completed.returncode != 0:
        return {}
    try:
        outputs: dict[str, Any] = json.loads(completed.stdout or "{}")
    except ValueError:
        return {}
    return outputs


def org_summary(admin: AdminClient, alias: str) -> list[str]:
    components = admin.snapshot(alias).get("components", {})
    lines = []
    for mtype in SUMMARY_TYPES[alias]:
        names = sorted(components.get(mtype, {}))
        lines.append(f"    {mtype}: {', '.join(names) if names else '(none)'}")
    if alias == "orgA":
        lines.append(
            f"    callout access (permission set -> user): {', '.join(callout_access(admin)) or '(none)'}"
        )
    return lines


def callout_access(admin: AdminClient) -> list[str]:
    """Who may call out: the assignments of permission sets other than profiles' own. The demo's
    callout works only because the stack assigned its access permission set to Org A's admin."""
    rows = admin.query(
        "orgA",
        "SELECT PermissionSet.Name, Assignee.Username FROM PermissionSetAssignment "
        "WHERE PermissionSet.IsOwnedByProfile = false",
    )["records"]
    return sorted(f"{row['PermissionSet']['Name']} -> {row['Assignee']['Username']}" for row in rows)


def summary() -> None:
    step("What exists now")
    admin = AdminClient(STATE_DIR)
    for alias in ORGS:
        print(f"  {alias}:")
        for line in org_summary(admin, alias):
            print(line)
    outputs = stack_outputs()
    if not outputs:
        return
    print("  stack outputs (secrets hidden):")
    for key in (
        "consumer_key",
        "token_url",
        "named_credential",
        "certificate_fingerprint",
        "certificate_expires",
    ):
        print(f"    {key}: {outputs.get(key)}")
    print(f"    consumer_secret: {outputs.get('consumer_secret')}")
    verification = outputs.get("verification") or {}
    verdict = "OK" if verification.get("ok") else "FAILED"
    step(f"Verification ({verification.get('flow')}): {verdict}: {verification.get('detail')}")


def up() -> None:
    start_orgs()
    allow_connected_apps()
    select_stack()
    run_up()
    summary()


def destroy() -> None:
    start_orgs()  # destroy talks to the orgs
    run_destroy()
    summary()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "destroy"))
    args = parser.parse_args(argv)
    try:
        up() if args.action == "up" else destroy()
    except (DemoError, control.EmulatorError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
