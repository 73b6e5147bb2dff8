"""The suite's plugins, and its split into tiers: `make test-fast` runs what is not marked `slow`."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.engine", "tests.emulator_fixtures", "tests.sf_cli", "tests.metadata_zip"]

TESTS = Path(__file__).resolve().parent
# Every test in these folders runs whole stacks through the Pulumi CLI, the Salesforce CLI, or a
# tool's own runs (contract, bench, setup, team backends and pipeline): minutes, not seconds.
SLOW_FOLDERS = ("stack", "clients", "tools")
# Provider tests that go through the Pulumi engine rather than calling the providers directly.
SLOW_FILES = ("providers/org_b/external_client_app/test_provider_eca_engine.py",)


def is_slow(path: Path) -> bool:
    where = path.resolve().relative_to(TESTS)
    return where.parts[0] in SLOW_FOLDERS or where.as_posix() in SLOW_FILES


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item.path):
            item.add_marker(pytest.mark.slow)
