"""The real Salesforce CLI, unmodified, against the emulator: what a platform engineer types.

Each test makes one login and runs several commands on it (the CLI takes a second or more per
command). Tokens never reach an assertion message: they are compared, not printed.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.emulator_fixtures import AppInfo
from tests.sf_cli import SF_CLI_VERSION, SfCli

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
