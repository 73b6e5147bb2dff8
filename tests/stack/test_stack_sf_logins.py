"""The `local` stack through the real Pulumi CLI, its orgs reached through Salesforce CLI logins
made by the real `sf`: Org A with `auth: sfdx` (a web login), Org B with `auth: sfdx_auth_url`
(the force:// URL of another web login, a secret config value). Up, verify, destroy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.clients.test_sf_cli import browser_for, wait_for_text
from tests.emulator_fixtures import connected_app_creation
from tests.sf_cli import SfCli
from tests.stack_project import StackProject, org_snapshots, shipped_stack_settings

STACK = "local"
# What the providers' `sf` needs from the engine's environment (PATH: .tools/bin's sf first).
SF_ENV_NAMES = {"HOME", "PATH", "NODE_EXTRA_CA_CERTS", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"}


def web_login(sf_cli: SfCli, emulator: Any, tmp_path: Path, alias: str, sf_alias: str) -> None:
    org = emulator.org(alias)
    (tmp_path / alias).mkdir()
    env, log = browser_for(sf_cli, tmp_path / alias, org["admin_username"], org["admin_password"])
    sf_cli.run("org", "login", "web", "--instance-url", org["instance_url"], "--alias", sf_alias, env=env)
    assert wait_for_text(log).endswith("callback 200\n")


def test_stack_on_sf_logins_goes_up_verifies_and_is_destroyed(sf_cli: SfCli, emulator: Any, tmp_path: Path):
    web_login(sf_cli, emulator, tmp_path, "orgA", "emu-a")
    web_login(sf_cli, emulator, tmp_path, "orgB", "emu-b")
    auth_url = sf_cli.run("org", "auth", "show-sfdx-auth-url", "-o", "emu-b").result["sfdxAuthUrl"]
    refresh_token = auth_url.split(":")[3].split("@")[0]

    config = shipped_stack_settings(STACK)
    config["orglink:orgs"] = {
        "orgA": {"auth": "sfdx", "username": "emu-a", "ca_bundle": emulator.ca_bundle},
        "orgB": {"auth": "sfdx_auth_url", "ca_bundle": emulator.ca_bundle},
    }
    # Which user an sf login runs as is the org's to say: name it (the verification callout's user).
    for integration in config["orglink:integrations"]:
        integration["callout_users"] = [emulator.org("orgA")["admin_username"]]
    project = StackProject(tmp_path / "project", emulator.state_dir, tmp_path / "pulumi-state")
    # The providers run `sf` with the engine's environment: this test's CLI and its logins.
    sf_env = sf_cli.env()
    project.pulumi.extra_env.update(
        {k: v for k, v in sf_env.items() if k in SF_ENV_NAMES or k.startswith("SF_")}
    )
    project.init_stack(STACK, config)
    pulumi = project.pulumi
    pulumi.run(
        "config", "set", "--secret", "--path", "orglink:orgs.orgB.sfdx_auth_url", auth_url, "--stack", STACK
    )

    with connected_app_creation(emulator.admin):
        before = org_snapshots(emulator.admin)
        up = pulumi.up(STACK)
        outputs = pulumi.outputs(STACK)
        assert outputs["verification"]["ok"] is True, outputs["verification"]
        assert outputs["token_url"] == f"{emulator.org('orgB')['instance_url']}/services/oauth2/token"
        state = json.dumps(pulumi.export_state(STACK))
        leaked = [refresh_token in text for text in (state, json.dumps(outputs), up.stdout + up.stderr)]
        assert leaked == [False, False, False], "the refresh token reached state, outputs or the up log"

        pulumi.run("destroy", "--yes", "--stack", STACK)
        assert org_snapshots(emulator.admin) == before
