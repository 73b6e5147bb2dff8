"""The emulator's file-based Metadata API deploy, driven through unmodified simple-salesforce 1.12.10.

`Salesforce.deploy(zip, sandbox, checkOnly=...)` posts `deploy` to `.../deployRequest` and reads the
AsyncResult's id and state; `checkDeployStatus(id)` posts `checkDeployStatus` and reads the
DeployResult's status, numberComponentErrors and componentFailures (problem, problemType,
componentType, fileName). The raw-envelope test checks the rest of Salesforce's wire format.

The `emulator` fixture is shared by the session: names are unique per test, and a test that changes
the connected-app creation setting puts it back.
"""

from __future__ import annotations

import io
import secrets
from typing import Any

import pytest
import requests
from lxml import etree
from simple_salesforce import Salesforce

from tests.emulator_fixtures import API_VERSION, CREATION_SETTING, EmulatorHandle
from tests.metadata_zip import MD_NS
from tests.metadata_zip import app_xml as _app_xml
from tests.metadata_zip import deploy as _deploy
from tests.metadata_zip import package as _package
from tests.metadata_zip import zip_of as _zip

ORG = "orgB"
BAN = "New connected apps can't be created in this org."


def _name() -> str:
    return "Deploy_App_" + secrets.token_hex(4)


def _apps_zip(*names: str) -> io.BytesIO:
    files: dict[str, str | bytes] = {"package.xml": _package({"ConnectedApp": list(names)})}
    files.update({f"connectedApps/{n}.connectedApp": _app_xml(n) for n in names})
    return _zip(files)


def test_check_only_deploy_of_a_valid_app_succeeds_stores_nothing_and_counts_as_reads(
    emulator: EmulatorHandle, sf: Salesforce, creation_allowed: None
) -> None:
    name = _name()
    before = emulator.admin.snapshot(ORG)
    emulator.admin.mark(ORG)
    result = _deploy(sf, _apps_zip(name), checkOnly="true")
    assert result["state"] == "Succeeded"
    assert result["deployment_detail"]["total_count"] == "1"
    assert result["deployment_detail"]["failed_count"] == "0"
    assert result["deployment_detail"]["deployed_count"] == "1"
    assert emulator.admin.get_component(ORG, "ConnectedApp", name) is None
    assert emulator.admin.snapshot(ORG) == before
    counts = {k: n for k, n in emulator.admin.counters(ORG).items() if n}
    assert counts == {"metadata.read": 2}  # deploy (checkOnly) + checkDeployStatus


def test_check_only_deploy_under_the_creation_ban_fails_with_the_component_failure(
    emulator: EmulatorHandle, sf: Salesforce
) -> None:
    assert emulator.admin.settings(ORG)[CREATION_SETTING] is False  # Spring '26 default
    name = _name()
    before = emulator.admin.snapshot(ORG)
    result = _deploy(sf, _apps_zip(name), checkOnly=True)  # simple-salesforce sends "True"
    assert result["state"] == "Failed"
    assert result["deployment_detail"]["failed_count"] == "1"
    [failure] = result["deployment_detail"]["errors"]
    assert failure["type"] == "ConnectedApp"
    assert failure["file"] == f"connectedApps/{name}.connectedApp"
    assert failure["status"] == "Error"
    # The same words createMetadata answers (statusCode INSUFFICIENT_ACCESS there).
    with pytest.raises(Exception, match="INSUFFICIENT_ACCESS") as created:
        sf.mdapi.ConnectedApp.create(
            sf.mdapi.ConnectedApp(
                fullName=name, label=name, contactEmail="ops@example.com",
                oauthConfig={"callbackUrl": "https://localhost/cb", "scopes": ["Api"]},
            )
        )  # fmt: skip
    assert failure["message"].startswith(BAN) and failure["message"] in str(created.value)
    assert emulator.admin.snapshot(ORG) == before


def test_an_existing_app_validates_as_an_update_which_the_ban_allows(
    emulator: EmulatorHandle, sf: Salesforce, connected_app: Any
) -> None:
    app = connected_app()
    before = emulator.admin.snapshot(ORG)
    result = _deploy(sf, _apps_zip(app.name), checkOnly=True)
    assert result["state"] == "Succeeded"
    assert emulator.admin.snapshot(ORG) == before


def test_deploy_result_wire_format(emulator: EmulatorHandle, sf: Salesforce) -> None:
    """DeployResult as Salesforce sends it, element by element (includeDetails)."""
    name = _name()
    async_id = str(_deploy(sf, _apps_zip(name), checkOnly=True)["asyncId"])
    assert async_id.startswith("0Af") and len(async_id) == 18
    org = emulator.orgs[ORG]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        f'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:met="{MD_NS}"><soapenv:Header>'
        f"<met:SessionHeader><met:sessionId>{sf.session_id}</met:sessionId></met:SessionHeader>"
        "</soapenv:Header><soapenv:Body><met:checkDeployStatus>"
        f"<met:asyncProcessId>{async_id[:15]}</met:asyncProcessId><met:includeDetails>true</met:includeDetails>"
        "</met:checkDeployStatus></soapenv:Body></soapenv:Envelope>"
    )
    resp = requests.post(
        f"{org['instance_url']}/services/Soap/m/{API_VERSION}/",
        data=body,
        headers={"Content-Type": "text/xml", "SOAPAction": "checkDeployStatus"},
        timeout=30,
    )
    assert resp.status_code == 200
    ns = {"m": MD_NS}
    result = etree.fromstring(resp.content).find(".//m:checkDeployStatusResponse/m:result", ns)
    assert result is not None

    def text(path: str) -> str | None:
        return result.findtext(path, None, ns)

    assert (text("m:id"), text("m:done"), text("m:status"), text("m:success")) == (
        async_id, "true", "Failed", "false",
    )  # fmt: skip
    assert (text("m:checkOnly"), text("m:rollbackOnError"), text("m:numberComponentErrors")) == (
        "true",
        "true",
        "1",
    )
    assert (text("m:numberComponentsTotal"), text("m:numberComponentsDeployed")) == ("1", "0")
    failure = result.find("m:details/m:componentFailures", ns)
    assert failure is not None
    assert failure.findtext("m:componentType", None, ns) == "ConnectedApp"
    assert failure.findtext("m:fullName", None, ns) == name
    assert failure.findtext("m:problemType", None, ns) == "Error"
    assert (failure.findtext("m:problem", "", ns) or "").startswith(BAN)
    assert (failure.findtext("m:success", None, ns), failure.findtext("m:created", None, ns)) == (
        "false",
        "false",
    )
    # WSDL order: details sits between createdDate and done.
    order = [etree.QName(child).localname for child in result]
    assert order.index("createdDate") < order.index("details") < order.index("done") < order.index("id")
    package = result.find("m:details/m:componentSuccesses", ns)
    assert package is not None and package.findtext("m:fullName", None, ns) == "package.xml"


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"connectedApps/X.connectedApp": "<x/>"}, "No package.xml found"),
        (
            {
                "package.xml": _package({"ConnectedApp": ["Bad_Xml"]}),
                "connectedApps/Bad_Xml.connectedApp": "<Conn",
            },
            "Error parsing file:",
        ),
        (
            {
                "package.xml": _package({"ConnectedApp": ["Bad_Enum"]}),
                "connectedApps/Bad_Enum.connectedApp": _app_xml("Bad_Enum", scope="Everything"),
            },
            "Error parsing file: 'Everything' is not a valid value for the enum 'ConnectedAppOauthAccess",
        ),
        (
            {"package.xml": _package({"ConnectedApp": ["Missing"]})},
            "An object 'Missing' of type ConnectedApp was named",
        ),
        (
            {"package.xml": _package({"ApexClass": ["Foo"]})},
            "Unknown type name 'ApexClass' specified in package.xml",
        ),
        ({"package.xml": "<Package"}, "Error parsing file:"),
    ],
    ids=["no-package-xml", "bad-xml", "bad-enum", "missing-file", "unknown-type", "bad-package-xml"],
)
def test_bad_packages_fail_as_component_failures(
    emulator: EmulatorHandle,
    sf: Salesforce,
    creation_allowed: None,
    files: dict[str, str | bytes],
    problem: str,
) -> None:
    before = emulator.admin.snapshot(ORG)
    result = _deploy(sf, _zip(files), checkOnly=True)
    assert result["state"] == "Failed"
    messages = [e["message"] for e in result["deployment_detail"]["errors"]]
    assert any(m.startswith(problem) for m in messages), messages
    assert emulator.admin.snapshot(ORG) == before


def test_a_zip_that_is_not_a_zip_fails_and_bad_base64_is_a_fault(
    emulator: EmulatorHandle, sf: Salesforce
) -> None:
    result = _deploy(sf, io.BytesIO(b"not a zip at all"), checkOnly=True)
    assert result["state"] == "Failed"
    assert result["deployment_detail"]["errors"][0]["message"].startswith("Unable to read the zip file")
    org = emulator.orgs[ORG]
    body = (
        f'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:met="{MD_NS}">'
        f"<soapenv:Header><met:SessionHeader><met:sessionId>{sf.session_id}</met:sessionId>"
        "</met:SessionHeader></soapenv:Header><soapenv:Body><met:deploy><met:zipFile>%%%</met:zipFile>"
        "<met:deployOptions><met:checkOnly>true</met:checkOnly></met:deployOptions></met:deploy>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    resp = requests.post(f"{org['instance_url']}/services/Soap/m/{API_VERSION}/", data=body, timeout=30)
    assert resp.status_code == 500 and b"soapenv:Client" in resp.content and b"base64Binary" in resp.content


def test_check_deploy_status_of_an_unknown_id_is_a_fault(sf: Salesforce) -> None:
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY"):
        sf.checkDeployStatus("0Af000000000000AAA")


def test_a_real_deploy_applies_and_rollback_on_error_undoes_every_component(
    emulator: EmulatorHandle, sf: Salesforce, creation_allowed: None
) -> None:
    name = _name()
    emulator.admin.mark(ORG)
    result = _deploy(sf, _apps_zip(name), sandbox=True)
    assert result["state"] == "Succeeded"
    stored = emulator.admin.get_component(ORG, "ConnectedApp", name)
    assert stored is not None and stored["oauthConfig"]["consumerKey"].startswith("3MVG9")
    assert emulator.admin.counters(ORG)["metadata.write"] == 1
    try:
        # Two apps, one bad: with rollbackOnError (forced for a non-sandbox org) neither stays.
        good, bad = _name(), _name()
        files: dict[str, str | bytes] = {"package.xml": _package({"ConnectedApp": [good, bad]})}
        files[f"connectedApps/{good}.connectedApp"] = _app_xml(good)
        files[f"connectedApps/{bad}.connectedApp"] = _app_xml(bad).replace(
            "<label>", "<profileName>No Such Profile</profileName><label>"
        )
        result = _deploy(sf, _zip(files), sandbox=False)
        assert result["state"] == "Failed"
        [failure] = result["deployment_detail"]["errors"]
        assert failure["file"] == f"connectedApps/{bad}.connectedApp"
        assert emulator.admin.get_component(ORG, "ConnectedApp", good) is None
        # Without rollbackOnError the good one stays (SucceededPartial).
        result = _deploy(sf, _zip(files), sandbox=True)
        assert result["state"] == "SucceededPartial"
        assert emulator.admin.get_component(ORG, "ConnectedApp", good) is not None
        emulator.admin.delete_component(ORG, "ConnectedApp", good)
    finally:
        emulator.admin.delete_component(ORG, "ConnectedApp", name)


def test_an_expired_session_is_a_soap_fault(emulator: EmulatorHandle) -> None:
    sf = Salesforce(instance_url=emulator.orgs[ORG]["instance_url"], session_id="nope", version=API_VERSION)
    with pytest.raises(Exception, match="INVALID_SESSION_ID"):
        sf.deploy(_apps_zip(_name()), sandbox=False, checkOnly="true")
