"""What the modules of a package import, read from their source (every import counts: at module
top, inside functions and under `TYPE_CHECKING`); the import-direction tests share it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.engine import ROOT


def package_modules(package: str, root: Path = ROOT) -> dict[str, Path]:
    """Every module of a package under ``root``, by dotted name."""
    base = root.joinpath(*package.split("."))
    out = {}
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imported_names(module: str, path: Path, with_bases: bool = True) -> set[str]:
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
