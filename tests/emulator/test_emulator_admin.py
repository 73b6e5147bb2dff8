"""The admin side: counters, fault injection, out-of-band edits, snapshots; Metadata session checks."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceError

from tests.emulator_fixtures import API_VERSION

METADATA_READ = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://soap.sforce.com/2006/04/metadata">
<soapenv:Header><m:SessionHeader><m:sessionId>{sid}</m:sessionId></m:SessionHeader></soapenv:Header>
<soapenv:Body><m:readMetadata><m:type>ConnectedApp</m:type><m:fullNames>Nope</m:fullNames></m:readMetadata>
</soapenv:Body></soapenv:Envelope>"""


def _first_error(exc: SalesforceError) -> dict[str, Any]:
    """simple-salesforce annotates `content` as bytes but stores the parsed JSON error list."""
    content: Any = exc.content
    return dict(content[0])


def _metadata(emulator, alias: str, sid: str) -> requests.Response:
    return requests.post(
        emulator.orgs[alias]["instance_url"] + f"/services/Soap/m/{API_VERSION}/",
        data=METADATA_READ.format(sid=sid),
        headers={"Content-Type": "text/xml", "SOAPAction": '""'},
        verify=emulator.ca_bundle,
    )


def test_counters_by_api_and_read_write_since_mark(emulator, sf_login, connected_app) -> None:
    app = connected_app("orgA")
    emulator.admin.mark("orgA")
    sf = sf_login("orgA")  # oauth.write (JWT bearer)
    sf.query("SELECT Id FROM User")  # rest.read
    ps = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'Orglink_Integration_Access'")["records"][0][
        "Id"
    ]
    cap = sf.query(f"SELECT Id FROM ConnectedApplication WHERE Name = '{app.name}'")["records"][0]["Id"]
    sf.SetupEntityAccess.delete(sf.SetupEntityAccess.create({"ParentId": ps, "SetupEntityId": cap})["id"])
    _metadata(emulator, "orgA", sf.session_id)  # metadata.read
    counts = emulator.admin.counters("orgA")
    assert counts["oauth.write"] == 1
    assert counts["rest.read"] == 3 and counts["rest.write"] == 2
    assert counts["metadata.read"] == 1 and counts["metadata.write"] == 0
    assert counts["soap_login.write"] == 0
    emulator.admin.mark("orgA")
    assert sum(emulator.admin.counters("orgA").values()) == 0


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("503", 503, "SERVER_UNAVAILABLE"),
        ("UNKNOWN_EXCEPTION", 500, "UNKNOWN_EXCEPTION"),
        ("REQUEST_LIMIT_EXCEEDED", 403, "REQUEST_LIMIT_EXCEEDED"),
        ("UNABLE_TO_LOCK_ROW", 400, "UNABLE_TO_LOCK_ROW"),
        ("ALREADY_IN_PROCESS", 400, "ALREADY_IN_PROCESS"),
    ],
)
def test_rest_faults_are_consumed_before_normal_handling(emulator, sf_login, fault, status, code) -> None:
    sf = sf_login("orgB")
    emulator.admin.inject_fault("orgB", "rest", fault, count=1)
    try:
        with pytest.raises(SalesforceError) as err:
            sf.query("SELECT Id FROM User")
        assert err.value.status == status
        assert _first_error(err.value)["errorCode"] == code
    finally:
        emulator.admin.clear_faults("orgB")
    assert sf.query("SELECT Id FROM User")["totalSize"] == 4  # consumed: the next request is normal


def test_metadata_fault_is_a_soap_fault(emulator, sf_login) -> None:
    sf = sf_login("orgB")
    emulator.admin.inject_fault("orgB", "metadata", "UNKNOWN_EXCEPTION")
    resp = _metadata(emulator, "orgB", sf.session_id)
    assert resp.status_code == 500
    assert "<faultcode>sf:UNKNOWN_EXCEPTION</faultcode>" in resp.text


def test_reset_fault_drops_the_connection(emulator, sf_login) -> None:
    sf = sf_login("orgB")
    emulator.admin.inject_fault("orgB", "any", "reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(
            emulator.orgs["orgB"]["instance_url"] + f"/services/data/v{API_VERSION}/limits",
            headers={"Authorization": f"Bearer {sf.session_id}"},
            verify=emulator.ca_bundle,
        )


def test_delay_fault_delays_then_answers(emulator, sf_login) -> None:
    sf = sf_login("orgB")
    emulator.admin.inject_fault("orgB", "rest", "delay", delay_s=0.3)
    started = time.monotonic()
    assert sf.query("SELECT Id FROM Profile")["totalSize"] == 3
    assert time.monotonic() - started >= 0.3


def test_fault_on_oauth(emulator) -> None:
    emulator.admin.inject_fault("orgB", "oauth", "UNKNOWN_EXCEPTION")
    resp = requests.post(
        emulator.orgs["orgB"]["token_url"], data={"grant_type": "password"}, verify=emulator.ca_bundle
    )
    assert resp.status_code == 500 and resp.json()["error"] == "unknown_error"


def test_out_of_band_component_edit_and_delete(emulator, connected_app, sf_login) -> None:
    app = connected_app("orgA")
    admin = emulator.admin
    comp = admin.get_component("orgA", "ConnectedApp", app.name)
    assert comp is not None and comp["oauthConfig"]["consumerKey"] == app.consumer_key
    comp["label"] = app.name + " Renamed"
    admin.put_component("orgA", "ConnectedApp", app.name, comp)
    sf = sf_login("orgA")
    names = [r["Name"] for r in sf.query("SELECT Name FROM ConnectedApplication")["records"]]
    assert app.name + " Renamed" in names and app.name not in names
    assert admin.delete_component("orgA", "ConnectedApp", app.name) is True
    assert admin.get_component("orgA", "ConnectedApp", app.name) is None
    names = [r["Name"] for r in sf.query("SELECT Name FROM ConnectedApplication")["records"]]
    assert app.name + " Renamed" not in names


def test_snapshot_has_components_records_settings_but_no_sessions(emulator, connected_app) -> None:
    app = connected_app("orgA")
    snap = emulator.admin.snapshot("orgA")
    assert app.name in snap["components"]["ConnectedApp"]
    assert {"User", "Profile", "PermissionSet"} <= set(snap["records"])
    assert snap["settings"]["allow-connected-app-creation"] is False
    assert "tokens" not in snap and "sessions" not in snap


def test_admin_query(emulator) -> None:
    result = emulator.admin.query("orgB", "SELECT Username FROM User WHERE IsActive = false")
    assert [r["Username"] for r in result["records"]] == ["inactive@orgb.orglink.test"]


def test_admin_port_requires_the_token(emulator) -> None:
    resp = requests.get(emulator.admin.url + "/status", verify=emulator.ca_bundle)
    assert resp.status_code == 403


def test_metadata_with_invalid_session_is_a_soap_fault(emulator) -> None:
    resp = _metadata(emulator, "orgA", "00Dbogus!session")
    assert resp.status_code == 500
    assert "<faultcode>sf:INVALID_SESSION_ID</faultcode>" in resp.text
    assert "<sf:exceptionCode>INVALID_SESSION_ID</sf:exceptionCode>" in resp.text
