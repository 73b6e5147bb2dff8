"""Prints the exact pins from pyproject.toml (runtime and dev) for pip, one per line."""

import tomllib
from pathlib import Path

pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
project = tomllib.loads(pyproject.read_text())["project"]
print("\n".join(list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])))
