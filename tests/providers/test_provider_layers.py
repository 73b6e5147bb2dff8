"""Imports inside providers/ point one way: the access layer, then the framework, then each org's
resources, then the integration that joins them. docs/design.md draws the same map."""

from __future__ import annotations

from pathlib import Path

from tests.engine import ROOT
from tests.import_graph import imported_names, package_modules

# A package may import its own modules and those of the packages below it.
LAYERS: dict[str, int] = {
    "providers.salesforce": 0,
    "providers.framework": 1,
    "providers.org_a": 2,
    "providers.org_b": 2,
    "providers.integration": 3,
    "providers.registry": 4,
    "providers.docs": 5,
}
# The two app models share providers.org_b's own modules, never each other's.
SIBLINGS = ("providers.org_b.connected_app", "providers.org_b.external_client_app")


def _layer_of(module: str) -> tuple[str, int] | None:
    for package, rank in LAYERS.items():
        if module == package or module.startswith(package + "."):
            return package, rank
    return None


def _violations(root: Path = ROOT) -> list[str]:
    problems = []
    for module, path in package_modules("providers", root).items():
        own = _layer_of(module)
        if own is None:  # providers/__init__.py and legacy.py name modules only as strings
            continue
        found = imported_names(module, path, with_bases=False)
        for imported in sorted(name for name in found if name.startswith("providers.")):
            theirs = _layer_of(imported)
            if theirs is None:
                problems.append(f"{module} imports {imported}, which is in no layer")
            elif theirs[0] != own[0] and theirs[1] >= own[1]:
                problems.append(f"{module} imports {imported} (layer {theirs[0]}, not below {own[0]})")
            for sibling in SIBLINGS:
                other = next(s for s in SIBLINGS if s != sibling)
                if module.startswith(sibling) and imported.startswith(other):
                    problems.append(f"{module} imports the other app model: {imported}")
    return problems


def test_provider_imports_point_inward_only() -> None:
    assert _violations() == []


def test_the_check_sees_a_wrong_way_import(tmp_path: Path) -> None:
    # The rule is only worth having if a back-edge is caught: the access layer reaching up, and
    # one app model borrowing from the other.
    (tmp_path / "providers" / "salesforce").mkdir(parents=True)
    (tmp_path / "providers" / "salesforce" / "client.py").write_text(
        "from providers.org_b import app_model\n"
    )
    eca = tmp_path / "providers" / "org_b" / "external_client_app"
    eca.mkdir(parents=True)
    (eca / "app.py").write_text("from providers.org_b.connected_app.app import SCHEMA\n")
    assert _violations(tmp_path) == [
        "providers.org_b.external_client_app.app imports the other app model: "
        "providers.org_b.connected_app.app.SCHEMA",
        "providers.salesforce.client imports providers.org_b.app_model (layer providers.org_b, "
        "not below providers.salesforce)",
    ]
