"""orglink reuses Salesforce CLI logins: auth `sfdx` runs the real `sf` (instance URL from
`sf org display`, token from `sf org auth show-access-token`), auth `sfdx_auth_url` does its own
refresh-token grant with the `force://...` URL. Everything goes through HTTPS to the emulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from providers import salesforce
from tests.clients.test_sf_cli import login_with_access_token
from tests.emulator_fixtures import AppInfo
from tests.sf_cli import SfCli


@pytest.fixture
def sf_env(sf_cli: SfCli, monkeypatch: pytest.MonkeyPatch) -> Iterator[SfCli]:
    """The providers run `sf` from PATH with this process's environment: give them the test's CLI."""
    for name in [k for k in os.environ if k.startswith(("SF_", "SFDX_"))]:
        monkeypatch.delenv(name)
    for name, value in sf_cli.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ORGLINK_RETRY_BASE_S", "0.02")
    monkeypatch.setenv("ORGLINK_RETRY_BUDGET_S", "5")
    salesforce.reset()
    yield sf_cli
    salesforce.reset()


def use(alias: str, connection: dict[str, Any]) -> salesforce.OrgClient:
    salesforce.reset()
    salesforce.configure_orgs({alias: connection})
    return salesforce.org(alias)


def test_sfdx_mode_reuses_an_sf_login_and_says_what_to_run_when_it_cannot(sf_env: SfCli, emulator: Any):
    login_with_access_token(sf_env, emulator, "orgB", "b-cli")
    ca = emulator.ca_bundle
    client = use("cli", {"auth": "sfdx", "username": "b-cli", "ca_bundle": ca})
    assert client.instance_url == emulator.org("orgB")["instance_url"]
    # The redacted placeholder of `sf org display` would fail here as INVALID_SESSION_ID.
    assert client.query("SELECT Id FROM Organization")[0]["Id"] == emulator.org("orgB")["org_id"]

    with pytest.raises(salesforce.SalesforceError) as missing:
        use("cli", {"auth": "sfdx", "username": "nobody-logged-in", "ca_bundle": ca})
    assert "sf org login web --alias nobody-logged-in" in str(missing.value)
    assert missing.value.field == "orglink:orgs.cli.username"

    # An access-token login cannot be refreshed: once the session ends, sf warns and orglink says so.
    emulator.admin.expire_sessions("orgB")
    with pytest.raises(salesforce.SalesforceError) as expired:
        use("cli", {"auth": "sfdx", "username": "b-cli", "ca_bundle": ca})
    assert expired.value.status_code == "INVALID_SESSION_ID"
    assert "has expired or was revoked" in str(expired.value)
    assert "sf org login web --alias b-cli" in str(expired.value)


def test_sfdx_mode_without_the_cli_names_the_install(sf_env: SfCli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", "/bin"]))
    with pytest.raises(salesforce.SalesforceError) as raised:
        use("cli", {"auth": "sfdx", "username": "anyone"})
    assert "`sf` is not on PATH" in str(raised.value)
    assert "npm install --global @salesforce/cli" in str(raised.value)


def auth_url(app: AppInfo, refresh_token: str, instance_url: str, secret: bool = True) -> str:
    host = urlsplit(instance_url).netloc
    return f"force://{app.consumer_key}:{app.consumer_secret if secret else ''}:{refresh_token}@{host}"


def test_sfdx_auth_url_mode_runs_its_own_refresh_grant(sf_env: SfCli, emulator: Any, connected_app: Any):
    app: AppInfo = connected_app(org="orgB")
    org = emulator.org("orgB")
    refresh = emulator.admin.issue_refresh_token("orgB", app.consumer_key, org["admin_username"])
    ca = emulator.ca_bundle
    url = auth_url(app, refresh, org["instance_url"])
    client = use("ci", {"auth": "sfdx_auth_url", "sfdx_auth_url": url, "ca_bundle": ca})
    assert client.query("SELECT Id FROM Organization")[0]["Id"] == org["org_id"]
    # With the scheme written in, as people paste it, too.
    with_scheme = auth_url(app, refresh, org["instance_url"]).replace("@", "@https://")
    assert use("ci", {"auth": "sfdx_auth_url", "sfdx_auth_url": with_scheme, "ca_bundle": ca}).query(
        "SELECT Id FROM Organization"
    )

    with pytest.raises(salesforce.SalesforceError) as malformed:
        use("ci", {"auth": "sfdx_auth_url", "sfdx_auth_url": f"force://{refresh}", "ca_bundle": ca})
    assert malformed.value.field == "orglink:orgs.ci.sfdx_auth_url"
    assert "sf org auth show-sfdx-auth-url" in str(malformed.value)
    assert refresh not in str(malformed.value)

    revoked = requests.post(
        f"{org['instance_url']}/services/oauth2/revoke", data={"token": refresh}, verify=ca, timeout=10
    )
    assert revoked.status_code == 200
    with pytest.raises(salesforce.SalesforceError) as rejected:
        use("ci", {"auth": "sfdx_auth_url", "sfdx_auth_url": url, "ca_bundle": ca})
    assert rejected.value.status_code == "invalid_grant"
    assert "no longer works" in str(rejected.value) and refresh not in str(rejected.value)
