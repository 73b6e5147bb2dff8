"""ExternalClientAppProfileAssignment against the emulator: SetupEntityAccess on the ECA's record."""

from __future__ import annotations

from typing import Any

import pytest

from providers import salesforce
from providers.org_b.external_client_app.profile_assignment import ExternalClientAppProfileAssignmentProvider
from tests.eca_support import (
    ORG,
    access_rows,
    eca_env,
    made_app,
)
from tests.support import create, update

__all__ = ["eca_env", "made_app"]


def test_profile_and_permission_set_assignments(eca_env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    app_id, app_outs = made_app
    assign = ExternalClientAppProfileAssignmentProvider()
    base = {"org": ORG, "app": app_outs["api_name"], "app_id": app_id}

    with pytest.raises(salesforce.SalesforceError, match="no profile 'Sys Admin'") as err:
        create(assign, {**base, "profile": "Sys Admin"})
    assert err.value.field == "profile"

    profile_id, profile_outs = create(assign, {**base, "profile": "System Administrator"})
    set_id, set_outs = create(assign, {**base, "permission_set": "Orglink_Integration_Access"})
    assert profile_outs["setup_entity_id"] == app_id
    assert {r["Id"] for r in access_rows(eca_env, app_id)} == {profile_id, set_id}
    assert assign.read(profile_id, profile_outs).id == profile_id

    changed, profile_outs = update(assign, profile_id, profile_outs, {**base, "profile": "Standard User"})
    assert changed and profile_outs["access_id"] != profile_id
    assert {r["Id"] for r in access_rows(eca_env, app_id)} == {profile_outs["access_id"], set_id}

    assign.delete(set_id, set_outs)
    assign.delete(profile_outs["access_id"], profile_outs)
    assert access_rows(eca_env, app_id) == []
    assert assign.read(profile_id, profile_outs).id == ""


def test_app_found_by_name_and_missing_app_named(eca_env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    app_id, app_outs = made_app
    assign = ExternalClientAppProfileAssignmentProvider()
    id_, outs = create(assign, {"org": ORG, "app": app_outs["api_name"], "profile": "System Administrator"})
    assert outs["setup_entity_id"] == app_id  # looked up with listMetadata
    assign.delete(id_, outs)
    with pytest.raises(salesforce.SalesforceError, match="no External Client App 'Nope_App'"):
        create(assign, {"org": ORG, "app": "Nope_App", "profile": "System Administrator"})


def test_pre_existing_access_is_adopted_and_kept(eca_env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    app_id, app_outs = made_app
    assign = ExternalClientAppProfileAssignmentProvider()
    news = {"org": ORG, "app": app_outs["api_name"], "app_id": app_id, "profile": "System Administrator"}
    first_id, first_outs = create(assign, news)
    second_id, second_outs = create(assign, news)
    assert second_id == first_id and second_outs["pre_existing"] is True
    assign.delete(second_id, second_outs)
    assert [r["Id"] for r in access_rows(eca_env, app_id)] == [first_id]
    assign.delete(first_id, first_outs)


def test_needs_exactly_one_holder() -> None:
    provider = ExternalClientAppProfileAssignmentProvider()
    both = {"org": ORG, "app": "A_App", "profile": "System Administrator", "permission_set": "X_Set"}
    for news in (both, {"org": ORG, "app": "A_App"}):
        reasons = [f.reason for f in provider.check({}, news).failures]
        assert any("exactly one of `profile`" in r for r in reasons)


def test_assignment_survives_faults(eca_env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    app_id, app_outs = made_app
    assign = ExternalClientAppProfileAssignmentProvider()
    eca_env.admin.inject_fault(ORG, "rest", "503", count=2)
    id_, outs = create(assign, {"org": ORG, "app": app_outs["api_name"], "profile": "Standard User"})
    eca_env.admin.expire_sessions(ORG)
    assign.delete(id_, outs)
    assert access_rows(eca_env, app_id) == []
