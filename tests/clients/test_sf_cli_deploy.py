"""The real Salesforce CLI rehearsing a deploy against the emulator: `sf project deploy start`,
`sf project retrieve start` and `sf project delete source` of a connected app and of an External
Client App, in source format, in an sfdx project made in a temporary directory.

Each test makes one access-token login and runs the whole round trip on it (the CLI takes a second
or more per command).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.clients.test_sf_cli import login_with_access_token
from tests.emulator_fixtures import API_VERSION, connected_app_creation
from tests.sf_cli import SfCli

ORG = "orgB"
SF_ALIAS = "b"
MD_NS = "http://soap.sforce.com/2006/04/metadata"
SOURCE = Path("force-app/main/default")


def _document(root: str, inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{MD_NS}">{inner}</{root}>\n'


@pytest.fixture
def project(sf_cli: SfCli) -> Path:
    """An sfdx project, as `sf project generate` lays one out (the parts deploys read)."""
    directory = sf_cli.home / "rehearsal"
    (directory / SOURCE).mkdir(parents=True)
    (directory / "sfdx-project.json").write_text(
        json.dumps({
            "packageDirectories": [{"path": "force-app", "default": True}],
            "name": "rehearsal",
            "namespace": "",
            "sourceApiVersion": API_VERSION,
        })
    )  # fmt: skip
    return directory


@pytest.fixture
def logged_in(sf_cli: SfCli, emulator: Any) -> str:
    return login_with_access_token(sf_cli, emulator, ORG, SF_ALIAS)


@pytest.fixture
def creation_allowed(emulator: Any) -> Iterator[None]:
    with connected_app_creation(emulator.admin, org=ORG):
        yield


def _write(project: Path, relative: str, text: str) -> Path:
    path = project / SOURCE / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _states(files: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(type, fullName) -> state of the CLI's per-file report, one entry per component."""
    return {(f["type"], f["fullName"]): f["state"] for f in files}


def _deploy(sf_cli: SfCli, project: Path, *selection: str) -> Any:
    command = ("project", "deploy", "start", *selection, "-o", SF_ALIAS, "--wait", "5")
    deployed = sf_cli.run(*command, cwd=project)
    assert deployed.result["status"] == "Succeeded", deployed.result
    return deployed.result


def _connected_app(label: str) -> str:
    return _document(
        "ConnectedApp",
        f"<contactEmail>ops@example.com</contactEmail><label>{label}</label><oauthConfig>"
        "<callbackUrl>https://login.salesforce.com/services/oauth2/success</callbackUrl>"
        "<scopes>Api</scopes></oauthConfig>",
    )


def test_sf_deploys_retrieves_and_deletes_a_connected_app_in_source_format(
    sf_cli: SfCli, emulator: Any, project: Path, logged_in: str, creation_allowed: None
) -> None:
    name = "Cli_App_" + secrets.token_hex(4)
    source = _write(project, f"connectedApps/{name}.connectedApp-meta.xml", _connected_app("From the CLI"))

    created = _deploy(sf_cli, project, "--source-dir", str(SOURCE / "connectedApps"))
    assert _states(created["files"])[("ConnectedApp", name)] == "Created"
    stored = emulator.admin.get_component(ORG, "ConnectedApp", name)
    assert stored is not None and stored["label"] == "From the CLI"

    source.write_text(_connected_app("Changed in the CLI"))
    changed = _deploy(sf_cli, project, "--metadata", f"ConnectedApp:{name}")
    assert _states(changed["files"])[("ConnectedApp", name)] == "Changed"
    assert emulator.admin.get_component(ORG, "ConnectedApp", name)["label"] == "Changed in the CLI"

    source.unlink()
    retrieved = sf_cli.run(
        "project", "retrieve", "start", "--metadata", f"ConnectedApp:{name}", "-o", SF_ALIAS, "--wait", "5",
        cwd=project,
    ).result  # fmt: skip
    assert retrieved["status"] == "Succeeded", retrieved
    assert source.exists(), "the retrieve did not write the app back where the project keeps it"
    root = etree.fromstring(source.read_bytes())
    assert root.findtext(f"{{{MD_NS}}}label") == "Changed in the CLI"
    secret = emulator.admin.get_component(ORG, "ConnectedApp", name)["oauthConfig"]["consumerSecret"]
    assert secret not in source.read_text()

    deleted = sf_cli.run(
        "project", "delete", "source", "--metadata", f"ConnectedApp:{name}", "-o", SF_ALIAS, "--no-prompt",
        "--wait", "5", cwd=project,
    ).result  # fmt: skip
    assert _states(deleted["deletedSource"])[("ConnectedApp", name)] == "Deleted"
    assert emulator.admin.get_component(ORG, "ConnectedApp", name) is None
    assert not source.exists()  # the CLI deletes the local source of what it deleted


def _eca_sources(name: str, label: str) -> dict[str, str]:
    return {
        f"externalClientApps/{name}.eca-meta.xml": _document(
            "ExternalClientApplication",
            "<contactEmail>ops@example.com</contactEmail><distributionState>Local</distributionState>"
            f"<isProtected>false</isProtected><label>{label}</label>",
        ),
        f"extlClntAppOauthSettings/{name}_oauth.ecaOauth-meta.xml": _document(
            "ExtlClntAppOauthSettings",
            "<commaSeparatedOauthScopes>Api, RefreshToken</commaSeparatedOauthScopes>"
            f"<externalClientApplication>{name}</externalClientApplication><label>{label}</label>",
        ),
        f"extlClntAppGlobalOauthSets/{name}_glbloauth.ecaGlblOauth-meta.xml": _document(
            "ExtlClntAppGlobalOauthSettings",
            "<callbackUrl>https://login.salesforce.com/services/oauth2/success</callbackUrl>"
            f"<externalClientApplication>{name}</externalClientApplication>"
            f"<isConsumerSecretOptional>false</isConsumerSecretOptional><label>{label}</label>",
        ),
    }


def test_sf_deploys_retrieves_and_deletes_an_external_client_app_in_source_format(
    sf_cli: SfCli, emulator: Any, project: Path, logged_in: str
) -> None:
    name = "Cli_Eca_" + secrets.token_hex(4)
    for relative, text in _eca_sources(name, "From the CLI").items():
        _write(project, relative, text)

    created = _deploy(sf_cli, project, "--source-dir", str(SOURCE))
    states = _states(created["files"])
    assert states[("ExternalClientApplication", name)] == "Created"
    assert states[("ExtlClntAppOauthSettings", f"{name}_oauth")] == "Created"
    assert states[("ExtlClntAppGlobalOauthSettings", f"{name}_glbloauth")] == "Created"
    stored = emulator.admin.get_component(ORG, "ExtlClntAppGlobalOauthSettings", f"{name}_glbloauth")
    assert stored is not None and stored["consumerKey"]

    header = project / SOURCE / f"externalClientApps/{name}.eca-meta.xml"
    header.unlink()
    retrieved = sf_cli.run(
        "project", "retrieve", "start", "--metadata", f"ExternalClientApplication:{name}",
        "--metadata", f"ExtlClntAppOauthConfigurablePolicies:{name}_oauthPlcy", "-o", SF_ALIAS,
        "--wait", "5", cwd=project,
    ).result  # fmt: skip
    assert retrieved["status"] == "Succeeded", retrieved
    assert etree.fromstring(header.read_bytes()).findtext(f"{{{MD_NS}}}label") == "From the CLI"
    # The policies Salesforce made with the header come down too, as source files.
    policies = project / SOURCE / f"extlClntAppOauthPolicies/{name}_oauthPlcy.ecaOauthPlcy-meta.xml"
    assert etree.fromstring(policies.read_bytes()).findtext(f"{{{MD_NS}}}externalClientApplication") == name

    deleted = sf_cli.run(
        "project", "delete", "source", "--metadata", f"ExternalClientApplication:{name}", "-o", SF_ALIAS,
        "--no-prompt", "--wait", "5", cwd=project,
    ).result  # fmt: skip
    assert _states(deleted["deletedSource"])[("ExternalClientApplication", name)] == "Deleted"
    assert emulator.admin.get_component(ORG, "ExternalClientApplication", name) is None
    assert emulator.admin.get_component(ORG, "ExtlClntAppGlobalOauthSettings", f"{name}_glbloauth") is None
