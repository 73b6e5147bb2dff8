"""The engine's floor (bench.floor_program) for an orglink stack: its shape, its project, its timings.

`shape(state)` reads an exported orglink stack state: every component and custom resource but the
stack and its providers, with its parent, its dependencies and its property count (the larger of
its inputs and outputs, the dynamic provider's own `__provider` left out), and the stack's output
count. `FloorProject` writes a project of the echo program beside that shape, sharing the orglink
project's virtualenv, and runs it through the same Pulumi CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.engine import Pulumi

ROOT = Path(__file__).resolve().parent.parent
FLOOR_STACK = "floor"


def _properties(values: dict[str, Any] | None) -> int:
    return sum(1 for key in (values or {}) if not key.startswith("__"))


def shape(state: dict[str, Any]) -> dict[str, Any]:
    resources = state["deployment"]["resources"]
    stack = next(r for r in resources if r["type"] == "pulumi:pulumi:Stack")
    kept = [r for r in resources if r is not stack and not r["type"].startswith("pulumi:providers:")]
    urns = {r["urn"] for r in kept}
    return {
        "resources": [
            {
                "urn": r["urn"],
                "name": r["urn"].rsplit("::", 1)[-1].replace("$", "-")[:80],
                "type": r["type"],
                "custom": bool(r.get("custom")),
                "parent": r.get("parent") if r.get("parent") in urns else None,
                "dependencies": [d for d in r.get("dependencies", []) if d in urns],
                "properties": max(_properties(r.get("inputs")), _properties(r.get("outputs"))),
            }
            for r in kept
        ],
        "outputs": _properties(stack.get("outputs")),
    }


def summary(floor_shape: dict[str, Any]) -> dict[str, int]:
    resources = floor_shape["resources"]
    return {
        "components": sum(1 for r in resources if not r["custom"]),
        "resources": sum(1 for r in resources if r["custom"]),
        "dependencies": sum(len(r["dependencies"]) for r in resources),
        "properties": sum(r["properties"] for r in resources if r["custom"]),
        "outputs": floor_shape["outputs"],
    }


class FloorProject:
    def __init__(self, directory: Path, pulumi_state_dir: Path, floor_shape: dict[str, Any]) -> None:
        directory.mkdir(parents=True)
        project = {
            "name": "orglink-floor",
            "runtime": {"name": "python", "options": {"virtualenv": str(ROOT / ".venv")}},
        }
        (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project))
        shutil.copy(Path(__file__).resolve().parent / "floor_program.py", directory / "__main__.py")
        (directory / "shape.json").write_text(json.dumps(floor_shape))
        self.pulumi = Pulumi(project_dir=directory, state_dir=pulumi_state_dir)
        self.pulumi.stack_init(FLOOR_STACK)
