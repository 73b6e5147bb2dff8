"""Shared by the ECA provider tests (tests/providers/org_b/external_client_app/): the configured emulator
and the engine's calls.

The providers are called directly, as the engine would (check, diff, create, read, update, delete),
against the emulator over real HTTPS. Nothing is mocked. REQUESTS_CA_BUNDLE is removed: the
providers must trust the emulator through the connection's own CA bundle.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from providers.org_b.external_client_app.app import ExternalClientAppProvider
from tests.emulator_fixtures import org_setting
from tests.support import create, providers_on_emulator

ORG = "orgB"
SECRET_SETTING = "enable-client-secret-in-rest-api"
HEADER = "ExternalClientApplication"
GLOBAL = "ExtlClntAppGlobalOauthSettings"
OAUTH = "ExtlClntAppOauthSettings"
POLICY = "ExtlClntAppOauthConfigurablePolicies"
USERS = {
    "admin": "admin@orgb.orglink.test",
    "integration": "integration@orgb.orglink.test",
    "standard": "standard@orgb.orglink.test",
    "inactive": "inactive@orgb.orglink.test",
}


@pytest.fixture
def eca_env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """orgA and orgB configured in emulator mode; consumer secrets readable through REST in orgB."""
    secrets_readable = org_setting(emulator.admin, ORG, SECRET_SETTING, True)
    with providers_on_emulator(emulator, monkeypatch), secrets_readable:
        yield emulator
    emulator.admin.clear_faults(ORG)


@pytest.fixture
def made_app(eca_env: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """An ECA made by orglink for the test (its id and outputs), deleted after it."""
    app = ExternalClientAppProvider()
    id_, outs = create(app, app_inputs())
    yield id_, outs
    app.delete(id_, outs)


def app_inputs(**overrides: Any) -> dict[str, Any]:
    return {
        "org": ORG,
        "api_name": "Orglink_Eca_" + secrets.token_hex(4),
        "contact_email": "ops@example.com",
        "callback_urls": ["http://localhost:8081/callback"],
        "scopes": ["api", "Perform requests at any time (refresh token, offline_access)"],
        **overrides,
    }


def component(emulator: Any, mtype: str, name: str) -> dict[str, Any]:
    """A stored component as the org holds it (secrets included), {} when it does not exist."""
    return emulator.admin.get_component(ORG, mtype, name) or {}


def policy_of(emulator: Any, app: str) -> dict[str, Any]:
    return component(emulator, POLICY, f"{app}_oauthPlcy")


def access_rows(emulator: Any, app_id: str) -> list[dict[str, Any]]:
    return emulator.admin.query(
        ORG, f"SELECT Id, ParentId FROM SetupEntityAccess WHERE SetupEntityId = '{app_id}'"
    )["records"]
