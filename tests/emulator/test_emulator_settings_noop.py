"""Deploying a Settings component with the values it already has stores nothing new, so a
read-modify-write of one flag (as ExternalClientApp's `enable_secret_in_rest_api` does) and its
undo leave the org's snapshot exactly as it was."""

from __future__ import annotations

import sqlite3
from typing import Any


def stored_settings(emulator: Any, org: str) -> dict[str, str]:
    """The setting rows the org's store holds, read-only: a flag written with its default value
    would show here, where the snapshot (which falls back to the defaults) cannot tell."""
    db = sqlite3.connect(f"file:{emulator.state_dir / f'{org}.sqlite'}?mode=ro", uri=True)
    try:
        return {str(name): str(value) for name, value in db.execute("SELECT name, value FROM settings")}
    finally:
        db.close()


def test_unchanged_settings_flags_store_nothing(emulator: Any) -> None:
    settings = emulator.login("orgA").mdapi.ExternalClientAppSettings
    before = emulator.admin.snapshot("orgA")["settings"]
    stored = stored_settings(emulator, "orgA")
    was = settings.read("ExternalClientApp").enableClientSecretInRestApiAccess

    settings.update(settings(fullName="ExternalClientApp", enableClientSecretInRestApiAccess=was))
    assert stored_settings(emulator, "orgA") == stored
    assert emulator.admin.snapshot("orgA")["settings"] == before

    settings.update(settings(fullName="ExternalClientApp", enableClientSecretInRestApiAccess=not was))
    try:
        after = emulator.admin.snapshot("orgA")["settings"]
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        assert changed == {"enable-client-secret-in-rest-api": not was}
    finally:
        settings.update(settings(fullName="ExternalClientApp", enableClientSecretInRestApiAccess=was))
    assert emulator.admin.snapshot("orgA")["settings"] == before
