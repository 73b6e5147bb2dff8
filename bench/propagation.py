"""How much of an `up` is Salesforce's propagation window, and how the token gate spends it.

A real org answers `invalid_client_id` for a new app for 2-10 minutes. The emulator plays that
window with its `app-propagation-seconds` setting; this measures `up` from empty for K copies of the
demo integration with and without the window, with the gate's own retry interval (10 s), so the
README can say what part of the wall time is waiting:

    .venv/bin/python -m bench.propagation --window 60 --ks 1,10

Prints one markdown row per (K, window) and writes nothing else. Never prints a secret.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.run import STACK, run_pulumi, stack_config
from emulator import control
from emulator.admin import AdminClient
from tests.stack_project import ORGS, StackProject


def up_seconds(workdir: Path, k: int, window_s: int) -> float:
    """Wall seconds of one `up` from empty of K integrations under a propagation window."""
    emulator_dir = workdir / f"emulator-k{k}-w{window_s}"
    control.start(emulator_dir, list(ORGS))
    try:
        admin = AdminClient(emulator_dir)
        admin.set_setting("orgB", "allow-connected-app-creation", True)  # the demo is a connected app
        admin.set_setting("orgB", "app-propagation-seconds", window_s)
        project = StackProject(workdir / f"project-k{k}-w{window_s}", emulator_dir,
                               workdir / f"pulumi-k{k}-w{window_s}")  # fmt: skip
        project.init_stack(STACK, stack_config(k))
        wall, _peak = run_pulumi(project.pulumi, ("up", "--yes", "--skip-preview"))
        return wall
    finally:
        control.stop(emulator_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=60, help="propagation window in seconds")
    parser.add_argument("--ks", default="1,10", help="integration counts, comma-separated")
    args = parser.parse_args(argv)
    print("| K | window s | up s (no window) | up s (window) | waiting s | waiting share |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="orglink-propagation-") as tmp:
        for k in (int(value) for value in args.ks.split(",")):
            plain = up_seconds(Path(tmp), k, 0)
            windowed = up_seconds(Path(tmp), k, args.window)
            waiting = windowed - plain
            print(f"| {k} | {args.window} | {plain:.1f} | {windowed:.1f} | {waiting:.1f} | "
                  f"{waiting / windowed:.0%} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
