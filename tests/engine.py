"""Runs the real Pulumi CLI (built by `make setup`) on a project directory, with local state."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tools.pulumi_env import TOOLS_BIN, pulumi_env

ROOT = Path(__file__).resolve().parent.parent
TEST_PASSPHRASE = "orglink-tests-only"


class PulumiError(AssertionError):
    pass


@dataclass
class Pulumi:
    """One project directory and one local backend; every call runs the `pulumi` binary."""

    project_dir: Path
    state_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    # Variables to leave out of the CLI's environment, e.g. the passphrase for a stack that reads
    # its passphrase from a file instead.
    unset_env: tuple[str, ...] = ()

    def env(self) -> dict[str, str]:
        env = pulumi_env(self.state_dir, TEST_PASSPHRASE)
        env.update(self.extra_env)
        for name in self.unset_env:
            env.pop(name, None)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        (self.state_dir / "backend").mkdir(parents=True, exist_ok=True)
        completed = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.project_dir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and completed.returncode != 0:
            raise PulumiError(
                f"pulumi {' '.join(args)} exited {completed.returncode}\n"
                f"--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
            )
        return completed

    def stack_init(self, stack: str) -> None:
        self.run("stack", "init", stack)

    def up(self, stack: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview", "--stack", stack, *args, check=check)

    def preview_json(self, stack: str, *args: str) -> dict[str, Any]:
        completed = self.run("preview", "--json", "--stack", stack, *args)
        result: dict[str, Any] = json.loads(completed.stdout)
        return result

    def outputs(self, stack: str, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json", "--stack", stack]
        if show_secrets:
            args.append("--show-secrets")
        result: dict[str, Any] = json.loads(self.run(*args).stdout)
        return result

    def export_state(self, stack: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run("stack", "export", "--stack", stack).stdout)
        return result


def change_counts(preview: dict[str, Any]) -> dict[str, int]:
    """The preview's summary of steps, without the unchanged ones."""
    summary: dict[str, int] = preview.get("changeSummary", {})
    return {op: n for op, n in summary.items() if op != "same" and n}


@pytest.fixture
def pulumi_factory(tmp_path: Path) -> Iterator[Any]:
    def make(project_dir: Path, extra_env: dict[str, str] | None = None) -> Pulumi:
        return Pulumi(project_dir=project_dir, state_dir=tmp_path / "pulumi-state", extra_env=extra_env or {})

    if not (TOOLS_BIN / "pulumi").exists():
        pytest.fail("the Pulumi CLI is missing from .tools/bin: run `make setup` (make test does)")
    yield make
