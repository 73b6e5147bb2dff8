"""The four Org B resources against the emulator over real HTTPS, calling the providers directly
(as the engine would: check, diff, create, read, update, delete). Nothing is mocked.

REQUESTS_CA_BUNDLE is removed for these tests: the providers must trust the emulator through the
connection's own CA bundle (emulator mode takes it from orgs.json).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from providers import salesforce
from providers.framework.provider import OrglinkProvider
from providers.org_b.connected_app.app import ConnectedAppProvider, owner_tag
from providers.org_b.connected_app.policy import ConnectedAppPolicyProvider
from providers.org_b.connected_app.profile_assignment import ConnectedAppProfileAssignmentProvider
from providers.org_b.connected_app.run_as_user import ClientCredentialsRunAsUserProvider
from tests.emulator_fixtures import CREATION_SETTING, connected_app_creation
from tests.support import apply_in_rounds, checked, create, providers_on_emulator, run_together, update

ORG = "orgB"


@pytest.fixture
def env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Both orgs configured in emulator mode; connected app creation allowed in orgB."""
    with providers_on_emulator(emulator, monkeypatch), connected_app_creation(emulator.admin, org=ORG):
        yield emulator
    emulator.admin.clear_faults(ORG)


def app_inputs(**overrides: Any) -> dict[str, Any]:
    return {
        "org": ORG,
        "api_name": "Orglink_Test_" + secrets.token_hex(4),
        "contact_email": "ops@example.com",
        "callback_urls": ["http://localhost:8081/callback"],
        "scopes": ["api", "Perform requests at any time (refresh token, offline_access)"],
        **overrides,
    }


def live(emulator: Any, name: str) -> dict[str, Any] | None:
    return emulator.admin.get_component(ORG, "ConnectedApp", name)


# -- ConnectedApp ---------------------------------------------------------------------------------


def test_create_then_no_op_preview_makes_no_call(env: Any) -> None:
    app = ConnectedAppProvider()
    news = app_inputs(refresh_token_rotation=True)
    id_, outs = create(app, news)
    component = live(env, news["api_name"])
    assert component is not None
    assert id_.startswith("0H4") and outs["app_id"] == id_
    assert outs["scopes"] == ["Api", "RefreshToken"]
    assert component["oauthConfig"]["isRefreshTokenRotationEnabled"] is True
    assert component["oauthConfig"]["consumerKey"] == outs["consumer_key"]
    # The generated secret is what the org holds, and only create ever sees it.
    assert component["oauthConfig"]["consumerSecret"] == outs["consumer_secret"]
    assert len(outs["consumer_secret"]) >= 32

    env.admin.mark(ORG)
    inputs = checked(app, news, outs)
    assert app.diff(id_, outs, inputs).changes is False
    counts = env.admin.counters(ORG)
    assert sum(counts.values()) == 0, counts
    app.delete(id_, outs)


def test_in_place_update_keeps_key_secret_and_other_fields(env: Any) -> None:
    app = ConnectedAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    # Something another resource owns, to prove the update keeps it.
    body = live(env, news["api_name"]) or {}
    body["oauthPolicy"] = {"ipRelaxation": "BYPASS", "refreshTokenPolicy": "zero"}
    env.admin.put_component(ORG, "ConnectedApp", news["api_name"], body)

    changed, new_outs = update(
        app, id_, outs, {**news, "label": "Carrier", "scopes": ["Api", "Web", "RefreshToken"]}
    )
    assert changed
    component = live(env, news["api_name"]) or {}
    assert component["label"] == "Carrier"
    assert sorted(component["oauthConfig"]["scopes"]) == ["Api", "RefreshToken", "Web"]
    assert component["oauthPolicy"]["ipRelaxation"] == "BYPASS"
    assert component["oauthConfig"]["consumerKey"] == outs["consumer_key"]
    assert component["oauthConfig"]["consumerSecret"] == outs["consumer_secret"]
    assert new_outs["consumer_secret"] == outs["consumer_secret"]
    assert new_outs["label"] == "Carrier"
    app.delete(id_, new_outs)


def test_replace_when_the_consumer_key_changes(env: Any) -> None:
    app = ConnectedAppProvider()
    news = app_inputs(consumer_key="FirstKey" + secrets.token_hex(8))
    id_, outs = create(app, news)
    replaced = {**news, "consumer_key": "SecondKey" + secrets.token_hex(8)}
    diff = app.diff(id_, outs, checked(app, replaced, outs))
    assert diff.replaces == ["consumer_key"] and diff.delete_before_replace is True
    app.delete(id_, outs)  # delete-before-replace, as the engine does
    new_id, new_outs = create(app, replaced)
    assert new_id != id_
    assert (live(env, news["api_name"]) or {})["oauthConfig"]["consumerKey"] == replaced["consumer_key"]
    app.delete(new_id, new_outs)


def test_rename_keeps_the_app(env: Any) -> None:
    app = ConnectedAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    renamed = {**news, "api_name": news["api_name"] + "_2", "label": "Renamed"}
    changed, new_outs = update(app, id_, outs, renamed)
    assert changed
    assert live(env, news["api_name"]) is None
    component = live(env, renamed["api_name"]) or {}
    assert component["label"] == "Renamed"
    assert component["oauthConfig"]["consumerKey"] == outs["consumer_key"]
    assert new_outs["app_id"] == id_ and new_outs["api_name"] == renamed["api_name"]
    app.delete(id_, new_outs)
    assert live(env, renamed["api_name"]) is None


def test_refresh_shows_setup_changes_and_deletion(env: Any) -> None:
    app = ConnectedAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    body = live(env, news["api_name"]) or {}
    body["label"] = "Changed in Setup"
    body["oauthConfig"]["scopes"] = ["Api"]
    body["oauthConfig"]["isPkceRequired"] = False
    env.admin.put_component(ORG, "ConnectedApp", news["api_name"], body)

    read = app.read(id_, outs)
    assert read.id == id_ and read.outs is not None
    assert read.outs["label"] == "Changed in Setup" and read.outs["scopes"] == ["Api"]
    assert read.outs["pkce_required"] is False
    assert read.outs["consumer_secret"] == outs["consumer_secret"]
    # The next `up` puts the declared values back.
    changed, restored = update(app, id_, read.outs, news)
    assert changed and restored["scopes"] == ["Api", "RefreshToken"] and restored["pkce_required"] is True

    env.admin.delete_component(ORG, "ConnectedApp", news["api_name"])
    gone = app.read(id_, restored)
    assert gone.id == ""
    app.delete(id_, restored)  # deleting what is already gone is fine


def test_creation_ban_names_both_ways_out_and_leaves_nothing(env: Any) -> None:
    env.admin.set_setting(ORG, CREATION_SETTING, False)
    app = ConnectedAppProvider()
    news = app_inputs()
    with pytest.raises(salesforce.SalesforceError) as err:
        create(app, news)
    message = str(err.value)
    assert "adopt: true" in message and "app_type: external_client_app" in message
    assert f"ConnectedApp '{news['api_name']}'" in message and "org 'orgB'" in message
    assert err.value.status_code == "INSUFFICIENT_ACCESS"
    assert live(env, news["api_name"]) is None


def put_existing_app(emulator: Any, name: str, **oauth: Any) -> dict[str, Any]:
    """An app made 'in Setup' before orglink manages it."""
    body = {
        "label": name,
        "contactEmail": "setup@example.com",
        "oauthConfig": {
            "callbackUrl": "https://example.com/cb",
            "consumerKey": "Existing" + secrets.token_hex(10),
            "consumerSecret": "ExistingSecret" + secrets.token_hex(10),
            "scopes": ["Api"],
            **oauth,
        },
        "oauthPolicy": {"ipRelaxation": "BYPASS", "refreshTokenPolicy": "infinite"},
    }
    emulator.admin.put_component(ORG, "ConnectedApp", name, body)
    return body


def test_adopt_takes_over_and_releases_an_existing_app(env: Any) -> None:
    env.admin.set_setting(ORG, CREATION_SETTING, False)  # adoption must work where creation is banned
    app = ConnectedAppProvider()
    news = app_inputs(adopt=True)
    existing = put_existing_app(env, news["api_name"])
    id_, outs = create(app, news)
    assert id_.startswith("0H4")
    assert outs["consumer_key"] == existing["oauthConfig"]["consumerKey"]
    assert "consumer_secret" not in outs  # Salesforce never returns it
    component = live(env, news["api_name"]) or {}
    assert component["contactEmail"] == "ops@example.com"
    assert component["oauthConfig"]["scopes"] == ["Api", "RefreshToken"]
    assert component["oauthPolicy"]["ipRelaxation"] == "BYPASS"  # not ours: untouched
    assert component["oauthConfig"]["consumerSecret"] == existing["oauthConfig"]["consumerSecret"]

    app.delete(id_, outs)
    released = live(env, news["api_name"]) or {}  # released, not deleted
    assert released["contactEmail"] == "setup@example.com"  # what Setup had before the adoption
    assert released["oauthConfig"]["callbackUrl"] == "https://example.com/cb"
    assert released["oauthConfig"]["scopes"] == ["Api"]
    assert released["oauthPolicy"]["ipRelaxation"] == "BYPASS"
    assert released["oauthConfig"]["consumerKey"] == existing["oauthConfig"]["consumerKey"]

    _, outs = create(app, {**news, "delete_on_destroy": True})
    app.delete(id_, outs)
    assert live(env, news["api_name"]) is None


def test_a_released_app_gets_back_the_values_before_orglinks_first_change(env: Any) -> None:
    app = ConnectedAppProvider()
    news = app_inputs(adopt=True)
    put_existing_app(env, news["api_name"])
    id_, outs = create(app, news)
    assert outs["previous_values"]["had"]["contact_email"] == "setup@example.com"
    changed = {**news, "contact_email": "team@example.com", "description": "Managed by orglink"}
    did_change, outs = update(app, id_, outs, changed)
    assert did_change
    assert outs["previous_values"]["had"]["contact_email"] == "setup@example.com"  # not ops@: the first
    assert "description" in outs["previous_values"]["absent"]  # Setup had none
    refreshed = app.read(id_, outs).outs or {}
    assert refreshed["previous_values"] == outs["previous_values"]  # refresh keeps it

    app.delete(id_, outs)
    released = live(env, news["api_name"]) or {}
    assert released["contactEmail"] == "setup@example.com"
    assert "description" not in released
    env.admin.delete_component(ORG, "ConnectedApp", news["api_name"])


def test_adopt_of_a_missing_app_says_so(env: Any) -> None:
    with pytest.raises(salesforce.SalesforceError, match="no connected app .* to take over"):
        create(ConnectedAppProvider(), app_inputs(adopt=True))


def test_creating_over_an_existing_app_points_to_adopt(env: Any) -> None:
    news = app_inputs()
    put_existing_app(env, news["api_name"])
    with pytest.raises(salesforce.SalesforceError, match="set `adopt: true`") as err:
        create(ConnectedAppProvider(), news)
    assert err.value.field == "api_name"
    env.admin.delete_component(ORG, "ConnectedApp", news["api_name"])


def test_an_app_left_by_an_interrupted_create_is_made_again(env: Any) -> None:
    # `pulumi up` killed after Salesforce created the app but before Pulumi recorded it: the
    # app's secret is lost. The next create of the same resource knows the app by its tagged
    # consumer key, deletes it and creates it again, with new credentials.
    app = ConnectedAppProvider()
    news = app_inputs(owner="orglink/dev/ConnectedApp/test-app")
    _lost_id, lost = create(app, news)
    id_, outs = create(app, news)
    assert outs["consumer_key"].startswith(owner_tag(news["owner"], news["api_name"]))
    assert outs["consumer_key"] != lost["consumer_key"]
    component = live(env, news["api_name"]) or {}
    assert component["oauthConfig"]["consumerKey"] == outs["consumer_key"]
    assert component["oauthConfig"]["consumerSecret"] == outs["consumer_secret"]
    app.delete(id_, outs)


def test_another_owners_app_of_the_same_name_is_never_taken(env: Any) -> None:
    app = ConnectedAppProvider()
    news = app_inputs(owner="orglink/prod/ConnectedApp/test-app")
    _id, theirs = create(app, {**news, "owner": "other-project/prod/ConnectedApp/test-app"})
    for mine in (news, {**news, "owner": None}):
        with pytest.raises(salesforce.SalesforceError, match="set `adopt: true`"):
            create(app, mine)
    assert (live(env, news["api_name"]) or {})["oauthConfig"]["consumerKey"] == theirs["consumer_key"]
    env.admin.delete_component(ORG, "ConnectedApp", news["api_name"])


def test_owner_is_provenance_not_a_change(env: Any) -> None:
    # State written before `owner` existed, or a renamed stack, must not update the app.
    app = ConnectedAppProvider()
    news = app_inputs(owner="orglink/dev/ConnectedApp/test-app", consumer_key="K" * 20)
    inputs = checked(app, news)
    assert app.diff("id", {**inputs, "owner": None}, inputs).changes is False
    assert app.diff("id", {**inputs, "owner": "orglink/renamed/ConnectedApp/x"}, inputs).changes is False


def test_duplicate_consumer_key_names_the_field(env: Any) -> None:
    existing = put_existing_app(env, "Orglink_Existing_" + secrets.token_hex(4))
    news = app_inputs(consumer_key=existing["oauthConfig"]["consumerKey"])
    with pytest.raises(salesforce.SalesforceError) as err:
        create(ConnectedAppProvider(), news)
    assert err.value.field == "consumer_key" and err.value.status_code == "DUPLICATE_VALUE"
    assert live(env, news["api_name"]) is None


# -- policy, run-as user, profile assignment -----------------------------------------------------


@pytest.fixture
def made_app(env: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    app = ConnectedAppProvider()
    id_, outs = create(app, app_inputs())
    yield id_, outs
    app.delete(id_, outs)


def test_policy_lifecycle_restores_defaults(env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    app_id, app_outs = made_app
    name = app_outs["api_name"]
    policy = ConnectedAppPolicyProvider()
    assert "oauthPolicy" not in (live(env, name) or {})  # so Salesforce's defaults come back on delete
    news = {
        "org": ORG,
        "app": name,
        "app_id": app_id,
        "permitted_users": "AdminApprovedPreAuthorized",
        "ip_relaxation": "BYPASS",
        "refresh_token_policy": "infinite",
        "session_timeout": "24h",
    }
    id_, outs = create(policy, news)
    component = live(env, name) or {}
    assert component["oauthConfig"]["isAdminApproved"] is True
    assert component["oauthPolicy"] == {
        "ipRelaxation": "BYPASS",
        "refreshTokenPolicy": "infinite",
        "isTokenExchangeFlowEnabled": False,
    }
    assert component["sessionPolicy"] == {"sessionTimeout": 1440}
    assert update(policy, id_, outs, news)[0] is False

    changed, outs = update(policy, id_, outs, {**news, "refresh_token_policy": "specific_lifetime:12:HOURS"})
    assert (
        changed
        and (live(env, name) or {})["oauthPolicy"]["refreshTokenPolicy"] == "specific_lifetime:12:HOURS"
    )

    # A change in Setup shows on refresh; delete still puts back the default from before create, so
    # the Setup value differs from it for the restore to show.
    body = live(env, name) or {}
    body["oauthPolicy"]["ipRelaxation"] = "BYPASS_2FACTOR"
    env.admin.put_component(ORG, "ConnectedApp", name, body)
    refreshed = policy.read(id_, outs)
    assert refreshed.outs is not None and refreshed.outs["ip_relaxation"] == "BYPASS_2FACTOR"

    policy.delete(id_, refreshed.outs)
    component = live(env, name) or {}
    assert component["oauthConfig"]["isAdminApproved"] is False
    assert component["oauthPolicy"]["ipRelaxation"] == "ENFORCE"
    assert component["oauthPolicy"]["refreshTokenPolicy"] == "infinite"
    assert "sessionPolicy" not in component


def test_run_as_user_lifecycle_and_checks(
    env: Any, made_app: tuple[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, app_outs = made_app
    name = app_outs["api_name"]
    run_as = ClientCredentialsRunAsUserProvider()
    base = {"org": ORG, "app": name}

    with pytest.raises(salesforce.SalesforceError, match="no user with username") as err:
        create(run_as, {**base, "username": "nobody@orgb.orglink.test"})
    assert err.value.field == "username"
    with pytest.raises(salesforce.SalesforceError, match="is inactive"):
        create(run_as, {**base, "username": "inactive@orgb.orglink.test"})
    assert not (live(env, name) or {})["oauthConfig"].get("isClientCredentialEnabled")

    id_, outs = create(run_as, {**base, "username": "standard@orgb.orglink.test"})
    assert "does not have API Only" in capsys.readouterr().err
    changed, outs = update(run_as, id_, outs, {**base, "username": "integration@orgb.orglink.test"})
    assert changed and "API Only" not in capsys.readouterr().err
    oauth = (live(env, name) or {})["oauthConfig"]
    assert oauth["isClientCredentialEnabled"] is True
    assert oauth["oauthClientCredentialUser"] == "integration@orgb.orglink.test"

    run_as.delete(id_, outs)
    oauth = (live(env, name) or {})["oauthConfig"]
    assert not oauth.get("isClientCredentialEnabled") and "oauthClientCredentialUser" not in oauth


def access_rows(emulator: Any, app_id: str) -> list[dict[str, Any]]:
    return emulator.admin.query(
        ORG, f"SELECT Id, ParentId FROM SetupEntityAccess WHERE SetupEntityId = '{app_id}'"
    )["records"]


def test_profile_and_permission_set_assignments(env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    app_id, app_outs = made_app
    assign = ConnectedAppProfileAssignmentProvider()
    base = {"org": ORG, "app": app_outs["api_name"], "app_id": app_id}

    with pytest.raises(salesforce.SalesforceError, match="no profile 'Sys Admin'") as err:
        create(assign, {**base, "profile": "Sys Admin"})
    assert err.value.field == "profile"

    profile_id, profile_outs = create(assign, {**base, "profile": "System Administrator"})
    set_id, set_outs = create(assign, {**base, "permission_set": "Orglink_Integration_Access"})
    assert {r["Id"] for r in access_rows(env, app_id)} == {profile_id, set_id}
    assert assign.read(profile_id, profile_outs).id == profile_id

    # Moving to another profile grants the new access and removes only the old one.
    changed, profile_outs = update(assign, profile_id, profile_outs, {**base, "profile": "Standard User"})
    assert changed and profile_outs["access_id"] != profile_id
    assert {r["Id"] for r in access_rows(env, app_id)} == {profile_outs["access_id"], set_id}

    assign.delete(set_id, set_outs)
    assert {r["Id"] for r in access_rows(env, app_id)} == {profile_outs["access_id"]}
    assign.delete(profile_outs["access_id"], profile_outs)
    assert access_rows(env, app_id) == []
    assert assign.read(profile_id, profile_outs).id == ""


def test_pre_existing_access_is_adopted_and_kept(env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    app_id, app_outs = made_app
    assign = ConnectedAppProfileAssignmentProvider()
    news = {"org": ORG, "app": app_outs["api_name"], "profile": "System Administrator"}
    first_id, first_outs = create(assign, news)
    second_id, second_outs = create(assign, news)  # someone else's access to the same app
    assert second_id == first_id and second_outs["pre_existing"] is True
    assign.delete(second_id, second_outs)
    assert [r["Id"] for r in access_rows(env, app_id)] == [first_id]
    assign.delete(first_id, first_outs)


# -- the four together ----------------------------------------------------------------------------


def test_concurrent_changes_to_one_app_lose_nothing(env: Any) -> None:
    """All four resources apply to one app at the same time, round after round; every round's
    values must all be in the app afterwards (metadata updates replace the whole component)."""
    news = app_inputs()
    name = news["api_name"]
    app = ConnectedAppProvider()
    app_id, app_outs = create(app, news)
    part = {"org": ORG, "app": name, "app_id": app_id}
    parts: dict[str, OrglinkProvider] = {
        "policy": ConnectedAppPolicyProvider(),
        "run_as": ClientCredentialsRunAsUserProvider(),
        "assign": ConnectedAppProfileAssignmentProvider(),
    }
    users = ["standard@orgb.orglink.test", "integration@orgb.orglink.test"]

    def wanted(round_: int) -> dict[str, dict[str, Any]]:
        return {
            "app": {**news, "label": f"Round {round_}"},
            "policy": {
                **part,
                "ip_relaxation": ["ENFORCE", "BYPASS", "BYPASS_2FACTOR"][round_ % 3],
                "session_timeout": [15, 30, 60, 1440][round_ % 4],
            },
            "run_as": {**part, "username": users[round_ % 2]},
            "assign": {**part, "profile": ["Standard User", "System Administrator"][round_ % 2]},
        }

    def check(_round: int, want: dict[str, dict[str, Any]]) -> None:
        component = live(env, name) or {}
        assert component["label"] == want["app"]["label"]
        assert component["oauthPolicy"]["ipRelaxation"] == want["policy"]["ip_relaxation"]
        assert component["sessionPolicy"]["sessionTimeout"] == want["policy"]["session_timeout"]
        assert component["oauthConfig"]["oauthClientCredentialUser"] == want["run_as"]["username"]
        assert component["oauthConfig"]["isClientCredentialEnabled"] is True
        assert component["oauthConfig"]["scopes"] == ["Api", "RefreshToken"]
        assert len(access_rows(env, app_id)) == 1

    states = apply_in_rounds(app, (app_id, app_outs), parts, wanted, check)

    run_together({key: partial(parts[key].delete, *states[key]) for key in parts})
    component = live(env, name) or {}
    assert component["oauthPolicy"]["ipRelaxation"] == "ENFORCE" and "sessionPolicy" not in component
    assert not component["oauthConfig"].get("isClientCredentialEnabled")
    assert access_rows(env, app_id) == []
    app.delete(*states["app"])


def test_app_replacement_reapplies_dependents(env: Any) -> None:
    """A replaced app has a new record id: dependents passed `app_id` see a change and re-apply."""
    app, policy, assign = (
        ConnectedAppProvider(),
        ConnectedAppPolicyProvider(),
        ConnectedAppProfileAssignmentProvider(),
    )
    news = app_inputs(consumer_key="KeyOne" + secrets.token_hex(8))
    app_id, app_outs = create(app, news)
    pol_id, pol_outs = create(
        policy, {"org": ORG, "app": news["api_name"], "app_id": app_id, "ip_relaxation": "BYPASS"}
    )
    acc_id, acc_outs = create(
        assign, {"org": ORG, "app": news["api_name"], "app_id": app_id, "profile": "System Administrator"}
    )

    app.delete(app_id, app_outs)
    new_id, new_outs = create(app, {**news, "consumer_key": "KeyTwo" + secrets.token_hex(8)})
    part = {"org": ORG, "app": news["api_name"], "app_id": new_id}
    changed, pol_outs = update(policy, pol_id, pol_outs, {**part, "ip_relaxation": "BYPASS"})
    assert changed and (live(env, news["api_name"]) or {})["oauthPolicy"]["ipRelaxation"] == "BYPASS"
    changed, acc_outs = update(assign, acc_id, acc_outs, {**part, "profile": "System Administrator"})
    assert changed and [r["Id"] for r in access_rows(env, new_id)] == [acc_outs["access_id"]]
    assign.delete(acc_outs["access_id"], acc_outs)
    policy.delete(pol_id, pol_outs)
    app.delete(new_id, new_outs)


def test_secrets_stay_out_of_logs_and_errors(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    app = ConnectedAppProvider()
    given_secret = "GivenSecret" + secrets.token_hex(12)
    news = app_inputs(consumer_secret=given_secret)
    id_, outs = create(app, news)
    assert outs["consumer_secret"] == given_secret
    update(app, id_, outs, {**news, "label": "Other"})
    app.read(id_, outs)
    clash = app_inputs(consumer_key=outs["consumer_key"], consumer_secret=given_secret)
    with pytest.raises(salesforce.SalesforceError) as err:
        create(app, clash)
    app.delete(id_, outs)
    shown = capsys.readouterr()
    password = env.orgs[ORG]["admin_password"]
    for text in (shown.out, shown.err, str(err.value)):
        assert given_secret not in text and password not in text
