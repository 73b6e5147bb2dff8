"""The emulator's modules are layered, and the emulator and the providers meet only on the wire; the
providers' Salesforce access layer is layered too, and stands on nothing else of the providers.

Every import counts: at module top, inside functions and under `TYPE_CHECKING`. A cycle hidden in a
function-level import still couples the two modules both ways; the server sits on top and imports
every handler, the shared state (emulator.app) sits below them.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.engine import ROOT


def _modules(package: str) -> dict[str, Path]:
    base = ROOT.joinpath(*package.split("."))
    out = {}
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imported_names(module: str, path: Path, with_bases: bool = True) -> set[str]:
    """Fully qualified names of what `module` imports (modules, or names inside modules); without
    the bases, `from a import b` counts as a.b only, not also as a."""
    is_package = path.name == "__init__.py"
    own_package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = own_package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            if with_bases:
                names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _bound_module(imported: str, modules: dict[str, Path]) -> str:
    """The module an imported name lives in: `from .x import y` names module x (or package member y
    when y is a module)."""
    while imported and imported not in modules:
        imported = imported.rpartition(".")[0]
    return imported


def _graph(package: str) -> dict[str, set[str]]:
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imported_names(name, path):
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
        for name, path in _modules(package).items()
        for imported in _imported_names(name, path)
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
    modules = _modules(SALESFORCE)
    through_the_face = sorted(
        name
        for name, path in modules.items()
        for imported in _imported_names(name, path, with_bases=False)
        if name != SALESFORCE and _bound_module(imported, modules) == SALESFORCE
    )
    assert through_the_face == [], f"import the module that holds the name instead: {through_the_face}"


def test_the_salesforce_layer_imports_nothing_else_of_the_providers() -> None:
    outside = sorted(
        imported
        for name, path in _modules(SALESFORCE).items()
        for imported in _imported_names(name, path, with_bases=False)
        if imported.split(".")[0] == "providers" and not imported.startswith(SALESFORCE)
    )
    assert outside == [], f"the access layer sits below framework, org_a, org_b and integration: {outside}"
