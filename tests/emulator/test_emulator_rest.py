"""REST API of the emulator, driven by unmodified simple-salesforce and raw requests."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from tests.emulator_fixtures import API_VERSION


def _first_error(exc: SalesforceError) -> dict[str, Any]:
    """simple-salesforce annotates `content` as bytes but stores the parsed JSON error list."""
    content: Any = exc.content
    return dict(content[0])


def _ids(sf, cap_name: str) -> tuple[str, str]:
    ps = sf.query(
        "SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true AND Profile.Name = 'Standard User'"
    )["records"][0]["Id"]
    cap = sf.query(f"SELECT Id FROM ConnectedApplication WHERE Name = '{cap_name}'")["records"][0]["Id"]
    return ps, cap


def test_versions_list_and_resources(emulator) -> None:
    base = emulator.orgs["orgA"]["instance_url"]
    versions = requests.get(base + "/services/data/", verify=emulator.ca_bundle).json()
    assert {"label": "Spring '25", "url": "/services/data/v63.0", "version": "63.0"} in versions
    assert versions[-1]["version"] == "67.0"
    sf_resp = requests.get(base + f"/services/data/v{API_VERSION}/", verify=emulator.ca_bundle)
    assert sf_resp.status_code == 401  # resources need a session


def test_resources_of_a_version(sf_login) -> None:
    sf = sf_login("orgA")
    res = sf.restful("")
    assert res["query"] == f"/services/data/v{API_VERSION}/query"
    assert res["sobjects"] == f"/services/data/v{API_VERSION}/sobjects"


def test_query_with_relationship_in_like_or_order_limit(sf_login) -> None:
    sf = sf_login("orgA")
    rows = sf.query(
        "SELECT Username, Profile.Name FROM User WHERE (Username LIKE 'adm%' OR Username LIKE 'stand%') "
        "AND IsActive = true AND Profile.Name IN ('System Administrator', 'Standard User') "
        "ORDER BY Username DESC LIMIT 5"
    )["records"]
    assert [r["Username"] for r in rows] == ["standard@orga.orglink.test", "admin@orga.orglink.test"]
    assert rows[0]["attributes"]["type"] == "User"
    assert rows[1]["Profile"]["Name"] == "System Administrator"
    limited = sf.query("SELECT Id FROM User WHERE Username != 'x' ORDER BY Username LIMIT 1")
    assert limited["totalSize"] == 1 and limited["done"] is True


def test_query_all_answers_like_query(sf_login) -> None:
    sf = sf_login("orgA")
    assert sf.query_all("SELECT Id FROM Profile")["totalSize"] == 3


def test_query_unknown_field_is_invalid_field(sf_login) -> None:
    sf = sf_login("orgA")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Bogus FROM User")
    assert err.value.status == 400
    assert _first_error(err.value)["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Bogus' on entity 'User'" in _first_error(err.value)["message"]


def test_query_unknown_object_is_invalid_type(sf_login) -> None:
    sf = sf_login("orgA")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Bogus")
    assert _first_error(err.value)["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'Bogus' is not supported" in _first_error(err.value)["message"]


def test_setup_entity_access_create_get_query_delete(sf_login, connected_app) -> None:
    app = connected_app("orgA")
    sf = sf_login("orgA")
    ps, cap = _ids(sf, app.name)
    created = sf.SetupEntityAccess.create({"ParentId": ps, "SetupEntityId": cap})
    assert created["success"] is True and created["errors"] == []
    record = sf.SetupEntityAccess.get(created["id"])
    assert record["SetupEntityType"] == "ConnectedApplication" and record["ParentId"] == ps
    rows = sf.query(f"SELECT Id, Parent.Name FROM SetupEntityAccess WHERE SetupEntityId = '{cap}'")["records"]
    assert len(rows) == 1 and rows[0]["Parent"]["Name"].startswith("X")
    assert sf.SetupEntityAccess.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.SetupEntityAccess.get(created["id"])


def test_setup_entity_access_duplicate_is_rejected(sf_login, connected_app) -> None:
    app = connected_app("orgA")
    sf = sf_login("orgA")
    ps, cap = _ids(sf, app.name)
    first = sf.SetupEntityAccess.create({"ParentId": ps, "SetupEntityId": cap})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.SetupEntityAccess.create({"ParentId": ps, "SetupEntityId": cap})
    assert _first_error(err.value)["errorCode"] == "DUPLICATE_VALUE"
    assert _first_error(err.value)["message"] == (
        f"duplicate value found: <unknown> duplicates value on record with id: {first}"
    )


def test_setup_entity_access_needs_parent_and_entity(sf_login) -> None:
    sf = sf_login("orgA")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.SetupEntityAccess.create({"ParentId": "0PS000000000000AAA"})
    assert _first_error(err.value) == {
        "message": "Required fields are missing: [SetupEntityId]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["SetupEntityId"],
    }


def test_read_only_objects_refuse_create(sf_login) -> None:
    sf = sf_login("orgA")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.ConnectedApplication.create({"Name": "x"})
    assert _first_error(err.value)["errorCode"] == "INVALID_TYPE_FOR_OPERATION"


def test_reads_of_setup_objects(sf_login, connected_app) -> None:
    app = connected_app("orgA")
    sf = sf_login("orgA")
    cap = sf.query(f"SELECT Id, Name FROM ConnectedApplication WHERE Name = '{app.name}'")["records"][0]
    assert sf.ConnectedApplication.get(cap["Id"])["Name"] == app.name
    profile = sf.query("SELECT Id FROM Profile WHERE Name = 'Standard User'")["records"][0]["Id"]
    assert sf.Profile.get(profile)["Name"] == "Standard User"
    user = sf.query("SELECT Id FROM User WHERE Username = 'admin@orga.orglink.test'")["records"][0]["Id"]
    assert sf.User.get(user[:15])["Id"] == user  # 15-char Ids are accepted
    assert sf.query("SELECT Id FROM ExternalClientApplication")["done"] is True
    assert sf.query("SELECT Id FROM OauthToken")["done"] is True


def test_json_body_is_parsed_whatever_the_content_type(emulator, sf_login, connected_app) -> None:
    app = connected_app("orgA")
    sf = sf_login("orgA")
    ps, cap = _ids(sf, app.name)
    resp = requests.post(
        emulator.orgs["orgA"]["instance_url"] + f"/services/data/v{API_VERSION}/sobjects/SetupEntityAccess/",
        data=f'{{"ParentId": "{ps}", "SetupEntityId": "{cap}"}}',
        headers={"Authorization": f"Bearer {sf.session_id}", "Content-Type": "text/xml"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 201 and resp.json()["success"] is True


def test_expired_session_is_invalid_session_id(emulator, sf_login) -> None:
    sf = sf_login("orgB")
    emulator.admin.expire_sessions("orgB")
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT Id FROM User")
    assert err.value.status == 401
    assert _first_error(err.value)["errorCode"] == "INVALID_SESSION_ID"


def test_unknown_version_and_sobject_are_not_found(emulator, sf_login) -> None:
    sf = sf_login("orgA")
    base = emulator.orgs["orgA"]["instance_url"]
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    resp = requests.get(base + "/services/data/v99.0/", headers=headers, verify=emulator.ca_bundle)
    assert resp.status_code == 404 and resp.json()[0]["errorCode"] == "NOT_FOUND"
    resp = requests.get(
        base + f"/services/data/v{API_VERSION}/sobjects/Bogus/describe",
        headers=headers,
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 404


def _user_and_plain_set(sf, username: str) -> tuple[str, str]:
    user = sf.query(f"SELECT Id FROM User WHERE Username = '{username}'")["records"][0]["Id"]
    plain = "SELECT Id FROM PermissionSet WHERE Name = 'Orglink_Integration_Access'"
    return user, sf.query(plain)["records"][0]["Id"]


def test_permission_set_assignment_create_query_duplicate_delete(emulator, sf_login) -> None:
    sf = sf_login("orgA")
    user, ps = _user_and_plain_set(sf, "standard@orga.orglink.test")
    created = sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": ps})
    assert created["success"] is True and created["id"].startswith("0Pa")
    rows = sf.query(
        "SELECT Id, Assignee.Username, PermissionSet.Name FROM PermissionSetAssignment "
        f"WHERE AssigneeId = '{user}' AND PermissionSetId = '{ps}'"
    )["records"]
    assert [(r["Id"], r["Assignee"]["Username"], r["PermissionSet"]["Name"]) for r in rows] == [
        (created["id"], "standard@orga.orglink.test", "Orglink_Integration_Access")
    ]
    with pytest.raises(SalesforceMalformedRequest) as dup:
        sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": ps})
    assert _first_error(dup.value)["errorCode"] == "DUPLICATE_VALUE"
    assert "Duplicate PermissionSetAssignment" in _first_error(dup.value)["message"]
    assert sf.PermissionSetAssignment.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.PermissionSetAssignment.delete(created["id"])


def test_permission_set_assignment_refusals(emulator, sf_login) -> None:
    sf = sf_login("orgA")
    user, ps = _user_and_plain_set(sf, "standard@orga.orglink.test")
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.PermissionSetAssignment.create({"AssigneeId": user})
    assert _first_error(missing.value)["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as no_user:
        sf.PermissionSetAssignment.create({"AssigneeId": ps, "PermissionSetId": ps})
    assert _first_error(no_user.value)["fields"] == ["AssigneeId"]
    # A profile's own permission set follows the profile: neither assigned nor unassigned directly.
    owned = sf.query(
        f"SELECT Id, PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = '{user}' "
        "AND PermissionSet.IsOwnedByProfile = true"
    )["records"][0]
    with pytest.raises(SalesforceMalformedRequest) as profile_owned:
        sf.PermissionSetAssignment.delete(owned["Id"])
    assert "associated with a profile" in _first_error(profile_owned.value)["message"]
    admin = sf.query("SELECT Id FROM User WHERE Username = 'admin@orga.orglink.test'")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest):
        sf.PermissionSetAssignment.create({"AssigneeId": admin, "PermissionSetId": owned["PermissionSetId"]})


def test_admin_side_removes_an_assignment_out_of_band(emulator, sf_login) -> None:
    sf = sf_login("orgA")
    user, ps = _user_and_plain_set(sf, "standard@orga.orglink.test")
    created = sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": ps})["id"]
    assert emulator.admin.delete_record("orgA", "PermissionSetAssignment", created) is True
    assert sf.query(f"SELECT Id FROM PermissionSetAssignment WHERE Id = '{created}'")["totalSize"] == 0
    assert emulator.admin.delete_record("orgA", "PermissionSetAssignment", created) is False


def test_ids_compare_case_sensitively_on_their_15_characters(emulator, sf_login) -> None:
    """Two records whose Ids differ only in the case of one letter are two records (18-char Ids
    carry the case in their suffix; 15-char Ids are case-sensitive)."""
    sf = sf_login("orgA")
    user, ps = _user_and_plain_set(sf, "standard@orga.orglink.test")
    created = sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": ps})["id"]
    try:
        short = created[:15]
        assert sf.query(f"SELECT Id FROM PermissionSetAssignment WHERE Id = '{short}'")["totalSize"] == 1
        letter = next(i for i in range(14, 2, -1) if short[i].isalpha())
        other = short[:letter] + short[letter].swapcase() + short[letter + 1 :]
        # `other` may well be another record's Id (base62 counters use both cases): never this one.
        found = [
            r["Id"]
            for r in sf.query(f"SELECT Id FROM PermissionSetAssignment WHERE Id = '{other}'")["records"]
        ]
        assert all(found_id[:15] == other for found_id in found) and created not in found
    finally:
        sf.PermissionSetAssignment.delete(created)
