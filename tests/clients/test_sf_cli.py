"""The real Salesforce CLI, unmodified, against the emulator: what a platform engineer types.

Each test makes one login and runs several commands on it (the CLI takes a second or more per
command). Tokens never reach an assertion message: they are compared, not printed.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.emulator_fixtures import AppInfo
from tests.engine import ROOT
from tests.sf_cli import SF_CLI_VERSION, SfCli
from tests.support import self_signed_certificate

REDACTED = "[REDACTED]"


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def login_with_access_token(sf_cli: SfCli, emulator: Any, alias: str, sf_alias: str) -> str:
    """`sf org login access-token` with a session of the org's admin; returns that session."""
    session_id = str(emulator.login(alias).session_id)
    sf_cli.run(
        "org",
        "login",
        "access-token",
        "--instance-url",
        emulator.org(alias)["instance_url"],
        "--alias",
        sf_alias,
        "--no-prompt",
        env={"SF_ACCESS_TOKEN": session_id},
    )
    return session_id


def test_cli_is_the_pinned_version_on_node_22(sf_cli: SfCli):
    version = sf_cli.run("version").payload  # `sf version --json` has no result envelope
    assert version["cliVersion"] == f"@salesforce/cli/{SF_CLI_VERSION}"
    assert version["nodeVersion"].startswith("node-v22.")


def test_access_token_login_then_display_api_request_and_list_metadata(
    sf_cli: SfCli, emulator: Any, connected_app: Any
):
    app: AppInfo = connected_app(org="orgB")
    session_id = login_with_access_token(sf_cli, emulator, "orgB", "b")
    org = emulator.org("orgB")

    display = sf_cli.run("org", "display", "-o", "b").result
    assert display["username"] == org["admin_username"]
    assert display["instanceUrl"].rstrip("/") == org["instance_url"]
    assert display["id"] == org["org_id"]
    assert display["connectedStatus"] == "Connected"
    # Today's CLI never prints the token here; orglink must not take this text for one.
    assert display["accessToken"].startswith(REDACTED)

    shown = sf_cli.run("org", "auth", "show-access-token", "-o", "b").result
    same = fingerprint(shown["accessToken"]) == fingerprint(session_id)
    assert same, "show-access-token gave another token"

    versions = sf_cli.run("api", "request", "rest", "/services/data/", "-o", "b")
    assert versions.returncode == 0

    listed = sf_cli.run("org", "list", "metadata", "--metadata-type", "ConnectedApp", "-o", "b").result
    assert app.name in [item["fullName"] for item in listed]


def test_data_query_reads_columns_and_nested_parents(sf_cli: SfCli, emulator: Any):
    login_with_access_token(sf_cli, emulator, "orgA", "a")
    soql = (
        "SELECT Username, Profile.Name FROM User WHERE IsActive = true "
        "AND Username LIKE '%@orga.orglink.test' ORDER BY Username DESC LIMIT 2"
    )
    records = sf_cli.run("data", "query", "--query", soql, "-o", "a").result["records"]
    assert [r["Username"] for r in records] == ["standard@orga.orglink.test", "integration@orga.orglink.test"]
    assert records[0]["Profile"]["Name"] == "Standard User"

    # The table a person sees is built from the columns=true answer: one column per path.
    table = sf_cli.run(
        "data",
        "query",
        "--query",
        "SELECT Assignee.Profile.Name, Assignee.Username FROM PermissionSetAssignment "
        "WHERE Assignee.Username = 'admin@orga.orglink.test'",
        "-o",
        "a",
        "--result-format",
        "csv",
        json_output=False,
    )
    assert table.stdout.splitlines()[:2] == [
        "Assignee.Profile.Name,Assignee.Username",
        "System Administrator,admin@orga.orglink.test",
    ]

    counted = sf_cli.run("data", "query", "--query", "SELECT COUNT() FROM User", "-o", "a").result
    assert counted["totalSize"] == 4
    described = sf_cli.run("sobject", "describe", "--sobject", "PermissionSet", "-o", "a").result
    assert {f["name"] for f in described["fields"]} >= {"Name", "IsOwnedByProfile", "ProfileId"}
    sobjects = sf_cli.run("sobject", "list", "--sobject", "all", "-o", "a").result
    assert "SetupEntityAccess" in sobjects


def sfdx_auth_url(refresh_token: str, instance_url: str) -> str:
    """The CLI's own format: client id, empty secret, refresh token, host without https://."""
    return f"force://PlatformCLI::{refresh_token}@{urlsplit(instance_url).netloc}"


def session_works(emulator: Any, alias: str, token: str) -> bool:
    response = requests.get(
        f"{emulator.org(alias)['instance_url']}/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {token}"},
        verify=emulator.ca_bundle,
        timeout=10,
    )
    return response.status_code == 200


def test_sfdx_url_login_refreshes_through_the_cli_app(sf_cli: SfCli, emulator: Any, tmp_path: Path):
    org = emulator.org("orgA")
    refresh = emulator.admin.issue_refresh_token("orgA", "PlatformCLI", org["admin_username"])
    url_file = tmp_path / "orgA.url"
    url_file.write_text(sfdx_auth_url(refresh, org["instance_url"]))
    sf_cli.run("org", "login", "sfdx-url", "--sfdx-url-file", str(url_file), "--alias", "a-url")

    display = sf_cli.run("org", "display", "-o", "a-url").result
    assert display["username"] == org["admin_username"]
    assert display["connectedStatus"] == "Connected"
    shown = sf_cli.run("org", "auth", "show-sfdx-auth-url", "-o", "a-url").result
    assert fingerprint(shown["sfdxAuthUrl"]) == fingerprint(url_file.read_text()), "another auth URL"

    # Every session ends; show-access-token refreshes through PlatformCLI and the new one works.
    first = sf_cli.run("org", "auth", "show-access-token", "-o", "a-url").result["accessToken"]
    emulator.admin.expire_sessions("orgA")
    assert not session_works(emulator, "orgA", first)
    refreshed = sf_cli.run("org", "auth", "show-access-token", "-o", "a-url")
    assert not any("Unable to refresh" in str(w) for w in refreshed.payload.get("warnings", []))
    assert session_works(emulator, "orgA", refreshed.result["accessToken"]), "the refreshed token is refused"


def browser_for(sf_cli: SfCli, tmp_path: Path, username: str, password: str) -> tuple[dict[str, str], Path]:
    """$BROWSER for `sf org login web`: tests/sf_browser.py, which fills the login and approval forms."""
    log = tmp_path / "browser.log"
    script = tmp_path / "browser"
    # A browser returns at once and goes on by itself: the CLI handles the redirect only once it has.
    browser = ROOT / "tests" / "sf_browser.py"
    script.write_text(f'#!/bin/sh\n"{sys.executable}" "{browser}" "$1" >/dev/null 2>&1 &\nexit 0\n')
    script.chmod(0o755)
    env = {
        "BROWSER": str(script),
        "ORGLINK_BROWSER_USERNAME": username,
        "ORGLINK_BROWSER_PASSWORD": password,
        "ORGLINK_BROWSER_CA": sf_cli.ca_bundle,
        "ORGLINK_BROWSER_LOG": str(log),
    }
    return env, log


def wait_for_text(path: Path, timeout_s: float = 20) -> str:
    """The browser writes its log when it is done, a moment after the CLI has its answer."""
    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.read_text() if path.exists() else ""


def test_web_login_through_the_emulator_login_and_approval_pages(
    sf_cli: SfCli, emulator: Any, tmp_path: Path
):
    org = emulator.org("orgB")
    env, log = browser_for(sf_cli, tmp_path, org["admin_username"], org["admin_password"])
    login = sf_cli.run(
        "org", "login", "web", "--instance-url", org["instance_url"], "--alias", "b-web", env=env, timeout=120
    )
    assert wait_for_text(log).splitlines() == [
        "login page 200 Login",
        "approval page 200 Allow Access?",
        "approved 302 to http://localhost:1717/OauthRedirect",
        "callback 200",
    ]
    assert login.result["username"] == org["admin_username"]
    # A web login has a refresh token: the CLI prints the SFDX auth URL of it (the usual CI secret).
    url = sf_cli.run("org", "auth", "show-sfdx-auth-url", "-o", "b-web").result["sfdxAuthUrl"]
    assert url.startswith("force://PlatformCLI::") and url.endswith(
        "@" + urlsplit(org["instance_url"]).netloc
    )
    listed = sf_cli.run("org", "list").result
    assert "b-web" in [o.get("alias") for o in listed.get("nonScratchOrgs", [])]


def test_jwt_login_is_answered_at_the_first_login_and_audience_pair(
    sf_cli: SfCli, emulator: Any, connected_app: Any, tmp_path: Path
):
    cert = self_signed_certificate("orglink-sf-jwt")
    app: AppInfo = connected_app(
        org="orgB",
        extra={"profileName": ["System Administrator"]},
        certificate=cert.pem,
        isAdminApproved=True,
    )
    key_file = tmp_path / "server.key"
    key_file.write_text(cert.key_pem)
    org = emulator.org("orgB")
    emulator.admin.mark("orgB")
    # The CLI tries (instance URL, instance URL) first, then login/test.salesforce.com pairs: the
    # org must take its own URL as audience, or the CLI would go on to the internet.
    sf_cli.run(
        "org",
        "login",
        "jwt",
        "--username",
        org["admin_username"],
        "--jwt-key-file",
        str(key_file),
        "--client-id",
        app.consumer_key,
        "--instance-url",
        org["instance_url"],
        "--alias",
        "b-jwt",
    )
    assert emulator.admin.counters("orgB")["oauth.write"] == 1
    display = sf_cli.run("org", "display", "-o", "b-jwt").result
    assert display["username"] == org["admin_username"]
    assert display["connectedStatus"] == "Connected"
