"""pytest plugin: a session-wide emulator (orgA, orgB) and helpers to talk to it.

Loaded from tests/conftest.py (`pytest_plugins = ["tests.emulator_fixtures", ...]`).
- `emulator` (session): started in a tmp state dir, stopped at the end. Attributes `state_dir`,
  `orgs` (parsed orgs.json), `admin` (AdminClient), `ca_bundle`, `generic_login_url`.
  While it runs, REQUESTS_CA_BUNDLE points at its CA, the only setting that also reaches zeep.
- `sf_login` (function): `sf_login("orgA", username=None, password=None)` -> a logged-in
  simple_salesforce.Salesforce (API 63.0). It logs in with the OAuth JWT bearer flow through the
  org's seeded CI login app (orgs.json `login`), as a new org allows; only a caller that gives a
  `password` asks for SOAP login() (which the org must have enabled: `soap-login-enabled`).
- `connected_app` (function): factory that puts a ConnectedApp component into an org through the
  admin side and returns its name, consumer key and secret.
- `org_setting` / `connected_app_creation`: an org setting changed for a block and put back after,
  as every test must that changes one (the emulator is shared by the session).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin

from emulator import control
from emulator.admin import AdminClient

API_VERSION = "63.0"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Off by default, as in orgs since Spring '26; Salesforce Support can turn it on for an org.
CREATION_SETTING = "allow-connected-app-creation"


def jwt_login(org: dict[str, Any], ca_bundle: str, username: str | None = None) -> dict[str, Any]:
    """The token response of a JWT bearer login through the org's CI login app (raises on refusal)."""
    login = org["login"]
    claims = {
        "iss": login["consumer_key"],
        "sub": username or login["username"],
        "aud": login["audience"],
        "exp": int(time.time()) + 180,
    }
    assertion = jwt.encode(claims, login["private_key"], algorithm="RS256")
    resp = requests.post(
        org["token_url"], data={"grant_type": JWT_GRANT, "assertion": assertion}, verify=ca_bundle, timeout=30
    )
    if resp.status_code != 200:
        raise AssertionError(f"JWT login refused: {resp.status_code} {resp.text}")
    body: dict[str, Any] = resp.json()
    return body


@dataclass
class EmulatorHandle:
    state_dir: Path
    orgs: dict[str, dict[str, Any]]
    admin: AdminClient
    ca_bundle: str
    generic_login_url: str

    def org(self, alias: str) -> dict[str, Any]:
        return self.orgs[alias]

    def login(self, alias: str, username: str | None = None, password: str | None = None) -> Salesforce:
        """JWT bearer as `username` (default: the admin); with a `password`, SOAP login() instead."""
        org = self.orgs[alias]
        if password is None:
            token = jwt_login(org, self.ca_bundle, username)
            return Salesforce(
                instance_url=token["instance_url"], session_id=token["access_token"], version=API_VERSION
            )
        session_id, _instance = SalesforceLogin(
            username=username or org["admin_username"],
            password=password,
            security_token="",
            scratch_url=org["login_url"],
            sf_version=API_VERSION,
        )
        return Salesforce(instance_url=org["instance_url"], session_id=session_id, version=API_VERSION)

    @contextmanager
    def soap_login_enabled(self) -> Iterator[None]:
        """Every org takes SOAP login() (as an established org does; a new one does not), and is
        back to refusing it after."""
        for alias in self.orgs:
            self.admin.set_setting(alias, "soap-login-enabled", True)
        try:
            yield
        finally:
            for alias in self.orgs:
                self.admin.set_setting(alias, "soap-login-enabled", False)

    def restart(self) -> None:
        """Stop and start the same state dir (ports and content are kept)."""
        control.stop(self.state_dir)
        self.orgs = control.start(self.state_dir, list(self.orgs))
        self.admin = AdminClient(self.state_dir)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    state_dir = tmp_path_factory.mktemp("emulator-state")
    orgs = control.start(state_dir, ["orgA", "orgB"])
    info = json.loads((state_dir / "emulator.json").read_text())
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(info["ca_bundle"])
    try:
        yield EmulatorHandle(
            state_dir, orgs, AdminClient(state_dir), str(info["ca_bundle"]), str(info["generic_login_url"])
        )
    finally:
        control.stop(state_dir)
        if previous is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous


@pytest.fixture
def sf_login(emulator: EmulatorHandle) -> Callable[..., Salesforce]:
    return emulator.login


@contextmanager
def org_setting(admin: AdminClient, org: str, name: str, value: Any) -> Iterator[None]:
    """The org setting holds `value` while the block runs, and what it held before after it."""
    before = admin.settings(org).get(name)
    admin.set_setting(org, name, value)
    try:
        yield
    finally:
        admin.set_setting(org, name, before)


def connected_app_creation(
    admin: AdminClient, allowed: bool = True, org: str = "orgB"
) -> AbstractContextManager[None]:
    """The org lets new connected apps be created (or not) while the block runs."""
    return org_setting(admin, org, CREATION_SETTING, allowed)


@dataclass
class AppInfo:
    org: str
    name: str
    consumer_key: str
    consumer_secret: str
    body: dict[str, Any]


def connected_app_body(name: str, key: str, secret: str, **oauth: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "callbackUrl": "https://localhost/callback",
        "consumerKey": key,
        "consumerSecret": secret,
        "scopes": ["Api", "RefreshToken"],
    }
    config.update(oauth)
    return {
        "label": name,
        "contactEmail": "ops@example.invalid",
        "oauthConfig": config,
        "oauthPolicy": {"ipRelaxation": "ENFORCE", "refreshTokenPolicy": "infinite"},
    }


@pytest.fixture
def connected_app(emulator: EmulatorHandle) -> Callable[..., AppInfo]:
    """make(org="orgB", extra_top_level=None, **oauthConfig) -> AppInfo (unique name and key)."""

    def make(org: str = "orgB", extra: dict[str, Any] | None = None, **oauth: Any) -> AppInfo:
        name = "Test_App_" + secrets.token_hex(4)
        key = "KEY" + secrets.token_hex(16)
        secret = "SEC" + secrets.token_hex(16)
        body = connected_app_body(name, key, secret, **oauth)
        body.update(extra or {})
        emulator.admin.put_component(org, "ConnectedApp", name, body)
        return AppInfo(org, name, key, secret, body)

    return make
