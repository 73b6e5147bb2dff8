"""Deploying a Settings component with the values it already has stores nothing new, so a
read-modify-write of one flag (as ExternalClientApp's `enable_secret_in_rest_api` does) and its
undo leave the org's snapshot exactly as it was."""

from __future__ import annotations

from typing import Any


def test_unchanged_settings_flags_store_nothing(emulator: Any) -> None:
    settings = emulator.login("orgA").mdapi.ExternalClientAppSettings
    before = emulator.admin.snapshot("orgA")["settings"]
    was = settings.read("ExternalClientApp").enableClientSecretInRestApiAccess
    settings.update(settings(fullName="ExternalClientApp", enableClientSecretInRestApiAccess=not was))
    try:
        after = emulator.admin.snapshot("orgA")["settings"]
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        assert changed == {"enable-client-secret-in-rest-api": not was}
    finally:
        settings.update(settings(fullName="ExternalClientApp", enableClientSecretInRestApiAccess=was))
    assert emulator.admin.snapshot("orgA")["settings"] == before
