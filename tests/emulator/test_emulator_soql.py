"""SOQL as real orgs parse it, the `columns=true` variant of /query and sObject describe, through
HTTPS with unmodified simple-salesforce: what the Salesforce CLI reads."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.emulator_fixtures import API_VERSION


def columns(sf: Any, soql: str) -> dict[str, Any]:
    result: dict[str, Any] = sf.restful("query", params={"q": soql, "columns": "true"})
    return result


def test_relationship_paths_of_two_levels_nest_each_parent(sf_login, connected_app) -> None:
    app = connected_app(org="orgB")
    sf = sf_login("orgB")
    owned = sf.query(
        "SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true AND Profile.Name = 'Standard User'"
    )["records"][0]["Id"]
    app_id = sf.query(f"SELECT Id FROM ConnectedApplication WHERE Name = '{app.name}'")["records"][0]["Id"]
    sf.SetupEntityAccess.create({"ParentId": owned, "SetupEntityId": app_id})
    rows = sf.query(
        "SELECT Parent.Profile.Name, Parent.IsOwnedByProfile, SetupEntityType FROM SetupEntityAccess "
        f"WHERE SetupEntityId = '{app_id}'"
    )["records"]
    assert len(rows) == 1
    parent = rows[0]["Parent"]
    assert parent["attributes"]["type"] == "PermissionSet"
    assert parent["IsOwnedByProfile"] is True
    assert parent["Profile"]["attributes"]["type"] == "Profile"
    assert parent["Profile"]["Name"] == "Standard User"
    assert rows[0]["SetupEntityType"] == "ConnectedApplication"
    filtered = sf.query(
        "SELECT Id FROM SetupEntityAccess WHERE Parent.Profile.Name = 'Standard User' "
        f"AND SetupEntityId = '{app_id}'"
    )
    assert filtered["totalSize"] == 1


def test_a_missing_parent_on_the_way_is_null_not_an_empty_object(sf_login) -> None:
    sf = sf_login("orgA")
    rows = sf.query(
        "SELECT Name, Profile.Name FROM PermissionSet WHERE IsOwnedByProfile = false AND Name = "
        "'Orglink_Integration_Access'"
    )["records"]
    assert rows[0]["Profile"] is None


def test_unknown_field_deep_in_a_path_is_invalid_field(sf_login) -> None:
    sf = sf_login("orgA")
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Parent.Profile.Bogus FROM SetupEntityAccess")
    error: Any = raised.value.content
    assert error[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Parent.Profile.Bogus' on entity 'SetupEntityAccess'" in error[0]["message"]


def test_count_offset_semi_join_and_aggregate_count(sf_login) -> None:
    sf = sf_login("orgA")
    every = sf.query("SELECT COUNT() FROM User")
    assert every["totalSize"] == 4 and every["records"] == []
    active = sf.query("SELECT COUNT() FROM User WHERE IsActive = true")
    assert active["totalSize"] == 3
    page = sf.query("SELECT Username FROM User ORDER BY Username ASC LIMIT 2 OFFSET 1")["records"]
    assert [r["Username"] for r in page] == ["inactive@orga.orglink.test", "integration@orga.orglink.test"]
    # The sf CLI finds a user's profile this way.
    profile = sf.query(
        "SELECT Name FROM Profile WHERE Id IN (SELECT ProfileId FROM User WHERE Username = "
        "'integration@orga.orglink.test')"
    )["records"]
    assert [p["Name"] for p in profile] == ["Minimum Access - API Only Integrations"]
    aggregate = sf.query("SELECT COUNT(Id) total FROM User WHERE IsActive = false")
    assert aggregate["totalSize"] == 1
    assert aggregate["records"] == [{"attributes": {"type": "AggregateResult"}, "total": 1}]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Name, COUNT(Id) FROM User")
    error: Any = raised.value.content
    assert error[0]["message"] == "Field must be grouped or aggregated: Name"


def test_columns_true_describes_the_columns_with_join_columns(sf_login) -> None:
    sf = sf_login("orgA")
    answer = columns(sf, "SELECT Id, Username, IsActive, Profile.Name, Profile.UserType FROM User")
    assert answer["entityName"] == "User"
    assert answer["idSelected"] is True
    assert answer["keyPrefix"] == "005"
    assert answer["groupBy"] is False
    by_name = {c["columnName"]: c for c in answer["columnMetadata"]}
    assert list(by_name) == ["Id", "Username", "IsActive", "Profile"]
    assert by_name["Id"]["apexType"] == "Id"
    assert by_name["Username"]["apexType"] == "String" and by_name["Username"]["textType"] is True
    assert by_name["IsActive"]["booleanType"] is True
    profile = by_name["Profile"]
    assert profile["foreignKeyName"] == "ProfileId" and profile["apexType"] is None
    assert [c["columnName"] for c in profile["joinColumns"]] == ["Name", "UserType"]
    deep = columns(sf, "SELECT Parent.Profile.Name FROM SetupEntityAccess")["columnMetadata"]
    assert deep[0]["columnName"] == "Parent"
    assert deep[0]["joinColumns"][0]["columnName"] == "Profile"
    assert deep[0]["joinColumns"][0]["joinColumns"][0]["columnName"] == "Name"
    assert columns(sf, "SELECT COUNT() FROM User")["columnMetadata"] == []
    counted = columns(sf, "SELECT COUNT(Id) FROM User")["columnMetadata"]
    assert counted[0]["aggregate"] is True and counted[0]["columnName"] == "expr0"
    assert counted[0]["displayName"] == "count(Id)"


def test_describe_of_a_served_type_and_the_global_describe(sf_login) -> None:
    sf = sf_login("orgA")
    described = sf.User.describe()
    assert described["name"] == "User" and described["keyPrefix"] == "005"
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Id"]["type"] == "id" and fields["Id"]["nillable"] is False
    assert fields["IsActive"]["type"] == "boolean" and fields["IsActive"]["soapType"] == "xsd:boolean"
    assert fields["CreatedDate"]["type"] == "datetime"
    assert fields["ProfileId"]["type"] == "reference"
    assert fields["ProfileId"]["referenceTo"] == ["Profile"]
    assert fields["ProfileId"]["relationshipName"] == "Profile"
    assert {"childSObject": "PermissionSetAssignment", "field": "AssigneeId"}.items() <= next(
        c for c in described["childRelationships"] if c["childSObject"] == "PermissionSetAssignment"
    ).items()
    organization = {f["name"] for f in sf.Organization.describe()["fields"]}
    assert {"Name", "InstanceName", "IsSandbox", "TrialExpirationDate", "NamespacePrefix"} <= organization
    assert {"OrganizationType"} <= organization
    every = sf.describe()
    names = {s["name"]: s for s in every["sobjects"]}
    assert {"Organization", "User", "SetupEntityAccess", "PermissionSet"} <= set(names)
    assert names["SetupEntityAccess"]["createable"] is True
    assert names["SetupEntityAccess"]["urls"]["describe"] == (
        f"/services/data/v{API_VERSION}/sobjects/SetupEntityAccess/describe"
    )


def test_the_organization_fields_the_cli_reads_at_login(sf_login) -> None:
    sf = sf_login("orgA")
    row = sf.query(
        "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType "
        "FROM Organization"
    )["records"][0]
    assert row["IsSandbox"] is False
    assert row["TrialExpirationDate"] is None
    assert row["OrganizationType"] == "Developer Edition"
    assert row["InstanceName"]
