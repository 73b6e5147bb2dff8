"""The engine works before any Salesforce code: the real CLI, the language host and a dynamic provider."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.engine import ROOT, change_counts

PROGRAM = """
import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from counter_provider import CounterProvider


class Counter(Resource, module="smoke", name="Counter"):
    def __init__(self, name, start, opts=None):
        super().__init__(CounterProvider(), name, {"start": start, "value": None}, opts)


counter = Counter("first", pulumi.Config().get_int("start") or 1)
pulumi.export("value", counter.value)
"""

PROVIDER = """
from pulumi.dynamic import CreateResult, ResourceProvider


class CounterProvider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="counter-1", outs={"start": props["start"], "value": props["start"] * 10})
"""


def write_project(project: Path) -> None:
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: smoke
            runtime:
              name: python
              options:
                virtualenv: {ROOT / ".venv"}
            """
        )
    )
    (project / "__main__.py").write_text(PROGRAM)
    (project / "counter_provider.py").write_text(PROVIDER)


def test_up_preview_destroy_with_a_dynamic_resource(tmp_path, pulumi_factory):
    project = tmp_path / "smoke"
    write_project(project)
    pulumi = pulumi_factory(project)
    pulumi.stack_init("dev")
    pulumi.run("config", "set", "start", "4", "--stack", "dev")

    pulumi.up("dev")
    assert pulumi.outputs("dev") == {"value": 40}

    assert change_counts(pulumi.preview_json("dev")) == {}

    pulumi.run("config", "set", "start", "5", "--stack", "dev")
    assert change_counts(pulumi.preview_json("dev")) == {"update": 1}

    pulumi.run("destroy", "--yes", "--stack", "dev")
    resources = pulumi.export_state("dev")["deployment"].get("resources") or []
    assert resources == []
