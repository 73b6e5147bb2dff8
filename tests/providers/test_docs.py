"""The reference docs are generated from the registry and committed: a stale copy fails the suite."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pulumi

import providers
from providers import docs, registry


def test_committed_reference_docs_are_what_the_registry_generates() -> None:
    assert docs.OUTPUT.read_text() == docs.render(), "docs/resources.md is stale: run `make docs`"


def test_check_mode_fails_on_a_stale_copy(tmp_path) -> None:
    stale = tmp_path / "resources.md"
    stale.write_text(docs.render().replace("## ConnectedApp\n", "## ConnectedAp\n"))
    assert docs.main(["--check", "--output", str(stale)]) == 1
    fresh = tmp_path / "fresh.md"
    assert docs.main(["--output", str(fresh)]) == 0
    assert fresh.read_text().startswith("# orglink resources\n")
    assert docs.main(["--check", "--output", str(fresh)]) == 0


def _resource_classes_in_the_package() -> set[type]:
    found: set[type] = set()
    for info in pkgutil.walk_packages(providers.__path__, "providers."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            token = getattr(value, "_resource_type_name", "")
            ours = issubclass(value, pulumi.dynamic.Resource) and token.startswith("dynamic/salesforce:")
            if ours and value.__module__ == module.__name__:
                found.add(value)
    return found


def test_every_resource_class_is_registered() -> None:
    registered = {entry.resource for entry in registry.RESOURCES}
    missing = _resource_classes_in_the_package() - registered
    assert not missing, f"add to providers/registry.py: {sorted(c.__name__ for c in missing)}"
    assert len(registered) == len(registry.RESOURCES) == 16
