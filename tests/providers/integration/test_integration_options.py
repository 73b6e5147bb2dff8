"""The integration's stack config: parsing, naming rules, and errors that name the config key to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from providers.integration.app_models import APP_MODELS, APP_TYPES
from providers.integration.component import ORG_B_BUILDERS
from providers.integration.config import (
    IntegrationConfigError,
    api_name_from,
    integration_org_b_url,
    org_my_domain,
    parse_integrations,
    with_callout_users,
)
from tests.engine import ROOT

MINIMAL = {"name": "CarrierAPI App", "run_as_user": "admin@orgb.orglink.test"}


def test_names_carry_integration_and_stack() -> None:
    [options] = parse_integrations([MINIMAL], "local-assess")
    assert options.base_name == "CarrierAPI_App_local_assess"
    assert options.label == "CarrierAPI App (local-assess)"
    assert options.access_permission_set == "CarrierAPI_App_local_assess_Access"


def test_two_stacks_on_the_same_orgs_get_different_names() -> None:
    [dev] = parse_integrations([MINIMAL], "dev")
    [uat] = parse_integrations([MINIMAL], "uat")
    assert dev.base_name != uat.base_name


def test_empty_suffix_gives_bare_names() -> None:
    [options] = parse_integrations([{**MINIMAL, "name_suffix": ""}], "prod")
    assert options.base_name == "CarrierAPI_App" and options.label == "CarrierAPI App"


def test_api_name_from_text() -> None:
    assert api_name_from("CarrierAPI App") == "CarrierAPI_App"
    assert api_name_from("  my--stack ") == "my_stack"
    assert api_name_from("2024 app") == "X2024_app"


def test_a_single_object_and_json_text_are_accepted() -> None:
    assert parse_integrations(MINIMAL, "dev")[0].name == "CarrierAPI App"
    assert parse_integrations(json.dumps([MINIMAL]), "dev")[0].name == "CarrierAPI App"


@pytest.mark.parametrize(
    ("raw", "key", "words"),
    [
        (None, "orglink:integrations", "missing"),
        ([], "orglink:integrations", "list"),
        ([{"run_as_user": "a@b.cd"}], "orglink:integrations[0].name", "required"),
        ([{**MINIMAL, "colour": "blue"}], "orglink:integrations[0].colour", "not an integration setting"),
        (
            [{**MINIMAL, "app": {"trusted_ip_ranges": ["10.0.0.1"]}}],
            "orglink:integrations[0].app",
            "'trusted_ip_ranges' is a setting of app_type external_client_app only, and this "
            "integration has app_type connected_app",
        ),
        (
            [{**MINIMAL, "app_type": "external_client_app", "app": {"adopt": True}}],
            "orglink:integrations[0].app",
            "'adopt' is a setting of app_type connected_app only, and this "
            "integration has app_type external_client_app",
        ),
        (
            [{**MINIMAL, "app_type": "external_client_app", "app": {"consumer_key": "x"}}],
            "orglink:integrations[0].app",
            "'consumer_key' is a setting of app_type connected_app only",
        ),
        ([{**MINIMAL, "app_type": "web_app"}], "orglink:integrations[0].app_type", "not an app type"),
        ([{**MINIMAL, "flow": "jwt"}], "orglink:integrations[0].flow", "client_credentials"),
        ([{**MINIMAL, "verify": "maybe"}], "orglink:integrations[0].verify", "required, report, off"),
        ([{**MINIMAL, "org_b": "orgA"}], "orglink:integrations[0].org_b", "another org"),
        ([{"name": "X"}], "orglink:integrations[0].run_as_user", "run-as user"),
        ([{**MINIMAL, "run_as_user": "admin"}], "orglink:integrations[0].run_as_user", "e-mail"),
        (
            [{**MINIMAL, "app": {"api_name": "Other"}}],
            "orglink:integrations[0].app",
            "set by the integration",
        ),
        ([{**MINIMAL, "app": {"owner": "x"}}], "orglink:integrations[0].app", "set by the integration"),
        ([{**MINIMAL, "app": {"scope": ["api"]}}], "orglink:integrations[0].app", "not a setting"),
        ([{**MINIMAL, "policy": {"ip": "BYPASS"}}], "orglink:integrations[0].policy", "not a setting"),
        ([{**MINIMAL, "certificate": {"size": 2048}}], "orglink:integrations[0].certificate", "key_size"),
        ([{**MINIMAL, "org_b_url": "http://x"}], "orglink:integrations[0].org_b_url", "https"),
        ([{**MINIMAL, "api_name": "Bad-Name"}], "orglink:integrations[0].api_name", "API name"),
        ([MINIMAL, {**MINIMAL}], "orglink:integrations[1].name", "same API names"),
        ([{**MINIMAL, "name": "A" * 75}], "orglink:integrations[0].api_name", "longer than"),
    ],
)
def test_mistakes_name_the_config_key(raw: Any, key: str, words: str) -> None:
    with pytest.raises(IntegrationConfigError) as caught:
        parse_integrations(raw, "dev")
    message = str(caught.value)
    assert message.startswith(key) and words in message, message


def test_app_type_external_client_app_takes_its_own_settings() -> None:
    eca_only = {"trusted_ip_ranges": ["10.0.0.1"], "enable_secret_in_rest_api": True}
    [options] = parse_integrations([{**MINIMAL, "app_type": "external_client_app", "app": eca_only}], "dev")
    assert options.app_type == "external_client_app" and dict(options.app) == eca_only


def test_org_b_builders_cover_every_app_type() -> None:
    both = {"connected_app", "external_client_app"}
    assert set(ORG_B_BUILDERS) == set(APP_MODELS) == set(APP_TYPES) == both
    # The ECA's Org B resources are named apart from the connected app's: a switch is create + delete.
    assert APP_MODELS["connected_app"].name_prefix != APP_MODELS["external_client_app"].name_prefix


def test_org_b_my_domain_from_the_connections(tmp_path: Path) -> None:
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "orgs.json").write_text(
        json.dumps({"orgB": {"instance_url": "https://127.0.0.1:9/"}})
    )
    emulator = {"orgB": {"auth": "emulator", "state_dir": "emu"}}
    assert org_my_domain(emulator, "orgB", tmp_path) == "https://127.0.0.1:9"
    explicit = {"orgB": {"auth": "jwt", "instance_url": "https://b.my.salesforce.com/"}}
    assert org_my_domain(explicit, "orgB", tmp_path) == "https://b.my.salesforce.com"
    my_domain_login = {"orgB": {"auth": "jwt", "login_url": "https://b.my.salesforce.com"}}
    assert org_my_domain(my_domain_login, "orgB", tmp_path) == "https://b.my.salesforce.com"
    auth_url = {
        "orgB": {"auth": "sfdx_auth_url", "sfdx_auth_url": "force://id:secret:token@b.my.salesforce.com"}
    }
    assert org_my_domain(auth_url, "orgB", tmp_path) == "https://b.my.salesforce.com"


@pytest.mark.parametrize(
    ("orgs", "key"),
    [
        ({}, "orglink:orgs.orgB"),
        (
            {"orgB": {"auth": "jwt", "login_url": "https://login.salesforce.com"}},
            "orglink:orgs.orgB.instance_url",
        ),
        ({"orgB": {"auth": "emulator", "state_dir": "missing"}}, "orglink:orgs.orgB.state_dir"),
        (
            {"orgB": {"auth": "sfdx_auth_url", "sfdx_auth_url": "force://token-only"}},
            "orglink:orgs.orgB.sfdx_auth_url",
        ),
    ],
)
def test_org_b_my_domain_errors_name_the_key(orgs: dict[str, Any], key: str, tmp_path: Path) -> None:
    with pytest.raises(IntegrationConfigError) as caught:
        org_my_domain(orgs, "orgB", tmp_path)
    assert str(caught.value).startswith(key)
    assert "token-only" not in str(caught.value)  # a malformed auth URL is still a secret


@pytest.mark.parametrize(
    ("setting", "orgs", "key"),
    [
        ({"org_b_url": "https://login.salesforce.com"}, {}, "orglink:integrations[0].org_b_url"),
        ({}, {"orgB": {"auth": "jwt", "instance_url": "https://test.salesforce.com"}},
         "orglink:orgs.orgB.instance_url"),
    ],
)  # fmt: skip
def test_an_eca_integration_on_a_generic_login_host_names_the_key(
    setting: dict[str, Any], orgs: dict[str, Any], key: str, tmp_path: Path
) -> None:
    [eca] = parse_integrations([{**MINIMAL, "app_type": "external_client_app", **setting}], "dev")
    with pytest.raises(IntegrationConfigError) as caught:
        integration_org_b_url(eca, orgs, tmp_path)
    assert str(caught.value).startswith(key)
    assert "app_not_found" in str(caught.value) and "My Domain" in str(caught.value)
    [on_my_domain] = parse_integrations([{**MINIMAL, "app_type": "external_client_app"}], "dev")
    my_domain = {"orgB": {"auth": "jwt", "instance_url": "https://b.my.salesforce.com"}}
    assert integration_org_b_url(on_my_domain, my_domain, tmp_path) == "https://b.my.salesforce.com"


@pytest.mark.parametrize("stack", ["local", "local-assess", "local-eca", "dev", "uat", "prod"])
def test_shipped_stack_files_parse(stack: str) -> None:
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    [options] = parse_integrations(config["orglink:integrations"], stack)
    assert options.org_a in config["orglink:orgs"] and options.org_b in config["orglink:orgs"]


@pytest.mark.parametrize("stack", ["local", "local-assess", "local-eca", "dev", "uat", "prod"])
def test_shipped_stack_files_hold_no_secret(stack: str) -> None:
    text = (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    for alias, connection in config["orglink:orgs"].items():
        for secret_field in ("password", "security_token", "consumer_secret", "private_key", "access_token"):
            assert secret_field not in connection, f"{stack}: orglink:orgs.{alias}.{secret_field} in the file"
    assert "secure:" not in text  # no secret value, not even encrypted


def test_callout_users_are_usernames_in_lower_case_each_once() -> None:
    raw = {**MINIMAL, "callout_users": ["Integration@Acme.com", "integration@acme.com", "batch@acme.com"]}
    [options] = parse_integrations([raw], "dev")
    assert options.callout_users == ("integration@acme.com", "batch@acme.com")
    [nobody] = parse_integrations([{**MINIMAL, "callout_users": []}], "dev")
    assert nobody.callout_users == ()
    with pytest.raises(IntegrationConfigError) as caught:
        parse_integrations([{**MINIMAL, "callout_users": ["integration"]}], "dev")
    assert str(caught.value).startswith("orglink:integrations[0].callout_users:")


def test_callout_users_default_to_the_user_orglinks_org_a_connection_runs_as(tmp_path: Path) -> None:
    [options] = parse_integrations([MINIMAL], "dev")
    jwt = {"orgA": {"auth": "jwt", "username": "Deploy@Acme.com", "consumer_key": "k", "private_key": "p"}}
    assert with_callout_users(options, jwt, tmp_path).callout_users == ("deploy@acme.com",)
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "orgs.json").write_text(
        json.dumps({"orgA": {"admin_username": "admin@orga.orglink.test"}})
    )
    emulator = {"orgA": {"auth": "emulator", "state_dir": "emu"}}
    assert with_callout_users(options, emulator, tmp_path).callout_users == ("admin@orga.orglink.test",)
    chosen = parse_integrations([{**MINIMAL, "callout_users": ["batch@acme.com"]}], "dev")[0]
    assert with_callout_users(chosen, jwt, tmp_path).callout_users == ("batch@acme.com",)


@pytest.mark.parametrize("auth", ["client_credentials", "access_token", "sfdx", "sfdx_auth_url"])
def test_callout_users_must_be_listed_when_the_connection_cannot_tell_its_user(
    auth: str, tmp_path: Path
) -> None:
    [options] = parse_integrations([MINIMAL], "dev")
    with pytest.raises(IntegrationConfigError) as caught:
        with_callout_users(options, {"orgA": {"auth": auth, "username": "my-alias"}}, tmp_path)
    message = str(caught.value)
    assert message.startswith("orglink:integrations[0].callout_users:")
    assert f"auth {auth}" in message and "callout_users: []" in message
