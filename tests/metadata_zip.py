"""Metadata-format zips for the deploy and retrieve tests, the calls that send them, and their `sf` and
`creation_allowed` fixtures (a pytest plugin, loaded from tests/conftest.py).

Files are laid out as the Salesforce CLI's source-deploy-retrieve registry says (the directories and
suffixes written out here on purpose, not taken from the emulator's type table, so that a wrong
entry there fails a test).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from simple_salesforce import Salesforce

from tests.emulator_fixtures import API_VERSION, EmulatorHandle, connected_app_creation

MD_NS = "http://soap.sforce.com/2006/04/metadata"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


ORG = "orgB"  # the org the metadata API tests deploy to and retrieve from


@pytest.fixture
def sf(emulator: EmulatorHandle) -> Salesforce:
    """A simple-salesforce session in the metadata tests' org."""
    return emulator.login(ORG)


@pytest.fixture
def creation_allowed(emulator: EmulatorHandle) -> Iterator[None]:
    """The metadata tests' org may create connected apps while the test runs."""
    with connected_app_creation(emulator.admin, org=ORG):
        yield


def package(members: dict[str, list[str]] | None = None, version: str = API_VERSION) -> str:
    types = "".join(
        "<types>" + "".join(f"<members>{m}</members>" for m in names) + f"<name>{t}</name></types>"
        for t, names in (members or {}).items()
    )
    return f'{XML_DECLARATION}<Package xmlns="{MD_NS}">{types}<version>{version}</version></Package>'


def zip_of(files: Mapping[str, str | bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    buffer.seek(0)
    return buffer


def document(root: str, inner: str) -> str:
    return f'{XML_DECLARATION}<{root} xmlns="{MD_NS}">{inner}</{root}>'


def app_xml(label: str, scope: str = "Api") -> str:
    return document(
        "ConnectedApp",
        f"<contactEmail>ops@example.com</contactEmail><label>{label}</label>"
        "<oauthConfig><callbackUrl>https://login.salesforce.com/services/oauth2/success</callbackUrl>"
        f"<scopes>{scope}</scopes></oauthConfig>",
    )


def eca_files(name: str, label: str) -> dict[str, str]:
    """An External Client App with its OAuth and global OAuth settings, by zip path."""
    return {
        f"externalClientApps/{name}.eca": document(
            "ExternalClientApplication",
            f"<contactEmail>ops@example.com</contactEmail><distributionState>Local</distributionState>"
            f"<isProtected>false</isProtected><label>{label}</label>",
        ),
        f"extlClntAppOauthSettings/{name}_oauth.ecaOauth": document(
            "ExtlClntAppOauthSettings",
            "<commaSeparatedOauthScopes>Api, RefreshToken</commaSeparatedOauthScopes>"
            f"<externalClientApplication>{name}</externalClientApplication><label>{label}</label>",
        ),
        f"extlClntAppGlobalOauthSets/{name}_glbloauth.ecaGlblOauth": document(
            "ExtlClntAppGlobalOauthSettings",
            "<callbackUrl>https://login.salesforce.com/services/oauth2/success</callbackUrl>"
            f"<externalClientApplication>{name}</externalClientApplication>"
            f"<isConsumerSecretOptional>false</isConsumerSecretOptional><label>{label}</label>",
        ),
    }


def eca_members(name: str) -> dict[str, list[str]]:
    return {
        "ExternalClientApplication": [name],
        "ExtlClntAppOauthSettings": [f"{name}_oauth"],
        "ExtlClntAppGlobalOauthSettings": [f"{name}_glbloauth"],
    }


def deploy(sf: Salesforce, archive: io.BytesIO, **options: Any) -> dict[str, Any]:
    """simple-salesforce's deploy + checkDeployStatus; `asyncId` added to its summary."""
    started = sf.deploy(archive, sandbox=options.pop("sandbox", False), **options)
    assert started["state"] == "Queued" and started["asyncId"]
    result = dict(sf.checkDeployStatus(str(started["asyncId"])))
    result["asyncId"] = started["asyncId"]
    return result


def deploy_details(sf: Salesforce, async_id: str) -> Any:
    """checkDeployStatus with includeDetails through zeep: the DeployResult as the WSDL types it."""
    return zeep_call(sf, "checkDeployStatus", async_id, True)


def zeep_call(sf: Salesforce, operation: str, *args: Any) -> Any:
    """A Metadata API operation through the zeep service and session header simple-salesforce uses,
    for the answers its own methods do not return whole; the result as the WSDL types it."""
    md = sf.mdapi
    service = md._service  # noqa: SLF001 - the zeep service simple-salesforce calls
    answer = getattr(service, operation)(*args, _soapheaders=[md._session_header])  # noqa: SLF001
    return result_of(answer)


def result_of(answer: Any) -> Any:
    """zeep answers `{header, body}` for operations whose WSDL output declares a header (the
    DebuggingInfo of checkDeployStatus), else the result itself."""
    return answer.body.result if "body" in answer else answer


def messages_by_name(result: Any) -> dict[str, Any]:
    details = result.details
    return {m.fullName: m for m in [*details.componentSuccesses, *details.componentFailures]}
