"""A throwaway copy of the orglink project whose stacks run against a test's emulator orgs.

The copy holds Pulumi.yaml (pointing at this checkout's .venv), __main__.py, providers/ and one
stack file per stack, whose `orglink:orgs` connections point `state_dir` at the emulator. Used by
the lifecycle tests and by the benchmark, so both run exactly what users run.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.engine import ROOT, Pulumi

ORGS = ("orgA", "orgB")
Settings = dict[str, Any]


def shipped_stack_settings(stack: str) -> Settings:
    """The `config` of stacks/Pulumi.<stack>.yaml as shipped (without its encryption salt)."""
    settings: Settings = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return dict(settings["config"])


class StackProject:
    """One project directory, one local backend; stacks are written from config dicts."""

    def __init__(self, directory: Path, emulator_state_dir: Path, pulumi_state_dir: Path) -> None:
        self.directory = directory
        self.emulator_state_dir = emulator_state_dir
        directory.mkdir(parents=True)
        project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
        project["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
        (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project))
        shutil.copy(ROOT / "__main__.py", directory / "__main__.py")
        no_caches = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "providers", directory / "providers", ignore=no_caches)
        (directory / "stacks").mkdir()
        self.pulumi = Pulumi(project_dir=directory, state_dir=pulumi_state_dir)

    def write_stack(self, stack: str, config: Settings) -> None:
        """Writes stacks/Pulumi.<stack>.yaml with the org connections aimed at the test emulator."""
        config = copy.deepcopy(config)
        for connection in config.get("orglink:orgs", {}).values():
            if connection.get("auth") == "emulator":
                connection["state_dir"] = str(self.emulator_state_dir)
        path = self.directory / "stacks" / f"Pulumi.{stack}.yaml"
        existing: Settings = yaml.safe_load(path.read_text()) if path.exists() else {}
        existing["config"] = config
        path.write_text(yaml.safe_dump(existing, sort_keys=False))

    def edit_stack(self, stack: str, change: Callable[[Settings], None]) -> None:
        path = self.directory / "stacks" / f"Pulumi.{stack}.yaml"
        settings: Settings = yaml.safe_load(path.read_text())
        change(settings["config"])
        path.write_text(yaml.safe_dump(settings, sort_keys=False))

    def init_stack(self, stack: str, config: Settings) -> None:
        self.write_stack(stack, config)
        self.pulumi.stack_init(stack)


def org_snapshots(admin: Any) -> dict[str, Any]:
    """Both orgs' whole content (components, records, settings) for before/after comparisons."""
    return {alias: admin.snapshot(alias) for alias in ORGS}


def write_counts(admin: Any, alias: str) -> dict[str, int]:
    """Write requests to an org since the last `admin.mark(alias)`, by API kind."""
    return {kind: n for kind, n in admin.counters(alias).items() if kind.endswith(".write") and n}


def request_counts(admin: Any, alias: str) -> dict[str, int]:
    return {kind: n for kind, n in admin.counters(alias).items() if n}
