"""A stack created by the flat-module layout of providers/ refreshes, previews and destroys after it.

Pulumi pickles each resource's provider class path into the state, so the test creates the stack
with the program exactly as it was before the move (taken from git at the last commit of the old
layout), checks that the state names the old paths, and then runs today's program on that state.
"""

from __future__ import annotations

import base64
import json
import pickletools
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml

from providers import legacy
from tests.emulator_fixtures import connected_app_creation
from tests.engine import ROOT, Pulumi, change_counts
from tests.lifecycle_support import ECA_STACKS
from tests.stack_project import org_snapshots

# The last commit whose providers/ was one flat folder of modules.
OLD_LAYOUT_COMMIT = "fb5e27114101872c346084ab50c023bd43ab956a"


def _old_program(target: Path, stack: str, emulator_state: Path) -> None:
    archived = subprocess.run(
        ["git", "-C", str(ROOT), "archive", OLD_LAYOUT_COMMIT, "Pulumi.yaml", "__main__.py", "providers",
         f"stacks/Pulumi.{stack}.yaml"],
        capture_output=True,
    )  # fmt: skip
    if archived.returncode != 0:
        pytest.fail(f"this test needs the repository's history (a full clone): {archived.stderr.decode()}")
    with tarfile.open(fileobj=BytesIO(archived.stdout)) as tar:
        tar.extractall(target, filter="data")
    _aim_at_this_checkout(target, stack, emulator_state)


def _new_program(target: Path, old: Path, stack: str) -> None:
    shutil.copytree(old / "stacks", target / "stacks")
    shutil.copy(old / "Pulumi.yaml", target / "Pulumi.yaml")
    shutil.copy(ROOT / "__main__.py", target / "__main__.py")
    shutil.copytree(ROOT / "providers", target / "providers", ignore=shutil.ignore_patterns("__pycache__"))


def _aim_at_this_checkout(project: Path, stack: str, emulator_state: Path) -> None:
    settings = yaml.safe_load((project / "Pulumi.yaml").read_text())
    settings["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings))
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    stack_settings = yaml.safe_load(path.read_text())
    stack_settings.pop("encryptionsalt", None)
    for connection in stack_settings["config"]["orglink:orgs"].values():
        connection["state_dir"] = str(emulator_state)
    path.write_text(yaml.safe_dump(stack_settings))


def _pickled_modules(state: dict[str, Any]) -> set[str]:
    """The module of every provider class the state's resources name."""
    modules = set()
    for resource in state["deployment"]["resources"]:
        pickled = resource.get("inputs", {}).get("__provider")
        if isinstance(pickled, dict):  # a secret: {"<sig>": "...", "plaintext": "\"<base64>\""}
            pickled = json.loads(pickled["plaintext"])
        if not pickled:
            continue
        ops = list(pickletools.genops(base64.b64decode(pickled)))
        strings = [arg for op, arg, _ in ops if isinstance(arg, str)]
        modules.add(strings[0])
    return modules


def _outputs_by_urn(state: dict[str, Any]) -> dict[str, Any]:
    return {
        resource["urn"]: {k: v for k, v in resource.get("outputs", {}).items() if k != "__provider"}
        for resource in state["deployment"]["resources"]
    }


@pytest.fixture
def org_b_allowing(emulator: Any, stack: str) -> Iterator[Any]:
    with connected_app_creation(emulator.admin, allowed=stack not in ECA_STACKS):
        yield emulator


@pytest.mark.parametrize("stack", ["local", "local-eca"])
def test_a_stack_made_by_the_old_layout_refreshes_and_destroys(
    stack: str, tmp_path: Path, pulumi_factory: Any, org_b_allowing: Any
) -> None:
    emulator = org_b_allowing
    before = org_snapshots(emulator.admin)
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    _old_program(old_dir, stack, emulator.state_dir)
    old: Pulumi = pulumi_factory(old_dir)
    old.stack_init(stack)
    old.up(stack)
    # Resources with secret inputs keep even their provider encrypted in the state.
    exported = json.loads(old.run("stack", "export", "--show-secrets", "--stack", stack).stdout)
    written = _pickled_modules(exported)
    assert written and written <= set(legacy.OLD_PATHS), f"not the old layout's state: {written}"

    _new_program(new_dir, old_dir, stack)
    new: Pulumi = pulumi_factory(new_dir)
    new.run("refresh", "--yes", "--stack", stack)
    refreshed = json.loads(new.run("stack", "export", "--show-secrets", "--stack", stack).stdout)
    assert _outputs_by_urn(refreshed) == _outputs_by_urn(exported), "refresh found what the old program made"
    assert change_counts(new.preview_json(stack)) == {}
    new.run("destroy", "--yes", "--stack", stack)
    assert org_snapshots(emulator.admin) == before


def test_every_old_provider_path_resolves_to_a_provider_class() -> None:
    # Includes the classes the two stacks above do not use.
    import importlib

    from providers.framework.provider import OrglinkProvider

    for old, names in legacy.OLD_PATHS.items():
        module = importlib.import_module(old)
        for name in names:
            assert issubclass(getattr(module, name), OrglinkProvider), f"{old}.{name}"
    with pytest.raises(AttributeError):
        importlib.import_module("providers.connected_app").SCHEMA  # noqa: B018
