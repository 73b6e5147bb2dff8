"""The emulator's modules are layered, and the emulator and the providers meet only on the wire; the
providers' Salesforce access layer is layered too, and stands on nothing else of the providers.

Every import counts: at module top, inside functions and under `TYPE_CHECKING`. A cycle hidden in a
function-level import still couples the two modules both ways; the server sits on top and imports
every handler, the shared state (emulator.app) sits below them.
"""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import imported_names, package_modules


def _bound_module(imported: str, modules: dict[str, Path]) -> str:
    """The module an imported name lives in: `from .x import y` names module x (or package member y
    when y is a module)."""
    while imported and imported not in modules:
        imported = imported.rpartition(".")[0]
    return imported


def _graph(package: str) -> dict[str, set[str]]:
    modules = package_modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(name, path):
            imported = _bound_module(imported, modules)
            if imported and imported != name and imported != package:
                targets.add(imported)
        graph[name] = targets
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "active"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "active":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_emulator_has_no_import_cycle() -> None:
    cycle = _cycle(_graph("emulator"))
    assert cycle is None, (
        "import cycle in emulator/: " + " -> ".join(cycle or []) + ". Move what both sides need into a "
        "lower module (shared state lives in emulator.app), or let the upper module pass it down."
    )


def test_the_cycle_check_finds_a_cycle() -> None:
    # The check itself must be able to fail: a two-module loop and a self-contained chain.
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_relative_imports_resolve_to_modules() -> None:
    graph = _graph("emulator")
    assert "emulator.app" in graph["emulator.server"]
    assert "emulator.store" in graph["emulator.app"]
    assert "emulator.server" not in graph["emulator.web"]  # not even for type checking


def _imports_of(package: str) -> set[str]:
    return {
        imported.split(".")[0]
        for name, path in package_modules(package).items()
        for imported in imported_names(name, path)
        if imported
    }


def test_the_emulator_never_imports_providers() -> None:
    assert "providers" not in _imports_of("emulator")


def test_the_providers_never_import_the_emulator() -> None:
    assert "emulator" not in _imports_of("providers")


SALESFORCE = "providers.salesforce"


def test_the_salesforce_layer_has_no_import_cycle() -> None:
    cycle = _cycle(_graph(SALESFORCE))
    assert cycle is None, (
        "import cycle in providers/salesforce/: " + " -> ".join(cycle or []) + ". Move what both sides "
        "need into the lower module (errors, connections, ... client, components)."
    )


def test_the_salesforce_modules_never_import_the_package_face() -> None:
    # The package's __init__ imports every module of the layer: one importing it back (`from
    # providers import salesforce`, a name from `providers.salesforce`) closes a cycle through it.
    modules = package_modules(SALESFORCE)
    through_the_face = sorted(
        name
        for name, path in modules.items()
        for imported in imported_names(name, path, with_bases=False)
        if name != SALESFORCE and _bound_module(imported, modules) == SALESFORCE
    )
    assert through_the_face == [], f"import the module that holds the name instead: {through_the_face}"


def test_the_salesforce_layer_imports_nothing_else_of_the_providers() -> None:
    outside = sorted(
        imported
        for name, path in package_modules(SALESFORCE).items()
        for imported in imported_names(name, path, with_bases=False)
        if imported.split(".")[0] == "providers" and not imported.startswith(SALESFORCE)
    )
    assert outside == [], f"the access layer sits below framework, org_a, org_b and integration: {outside}"
