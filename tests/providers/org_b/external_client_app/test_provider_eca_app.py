"""ExternalClientApp against the emulator over HTTPS: lifecycle, the platform's quirks, faults."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from providers import salesforce
from providers.org_b.external_client_app.app import ExternalClientAppProvider, marker
from tests.eca_support import (
    GLOBAL,
    HEADER,
    OAUTH,
    ORG,
    SECRET_SETTING,
    app_inputs,
    component,
    eca_env,
    policy_of,
)
from tests.support import checked, create, self_signed_certificate, update

__all__ = ["eca_env"]  # the fixture, imported for pytest


def parts(env: Any, name: str) -> dict[str, dict[str, Any]]:
    return {
        "header": component(env, HEADER, name),
        "global": component(env, GLOBAL, f"{name}_glbloauth"),
        "oauth": component(env, OAUTH, f"{name}_oauth"),
        "policy": policy_of(env, name),
    }


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every component the providers send with update/upsert, as (type, component)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for method in ("update_metadata", "upsert_metadata"):
        original = getattr(salesforce.OrgClient, method)

        def recording(self: Any, mtype: str, components: list[dict[str, Any]], _o: Any = original) -> Any:
            calls.extend((mtype, dict(c)) for c in components)
            return _o(self, mtype, components)

        monkeypatch.setattr(salesforce.OrgClient, method, recording)
    yield calls


def test_create_no_op_update_and_delete(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs(refresh_token_rotation=True, trusted_ip_ranges=["10.0.0.1-10.0.0.9"])
    id_, outs = create(app, news)
    name = news["api_name"]
    live = parts(eca_env, name)
    assert id_.startswith("0xI") and outs["app_id"] == id_
    assert live["header"]["contactEmail"] == "ops@example.com"
    assert live["global"]["isRefreshTokenRotationEnabled"] is True
    assert live["global"]["isPkceRequired"] is True
    assert live["oauth"]["commaSeparatedOauthScopes"] == "Api, RefreshToken"
    assert live["oauth"]["trustedIpRanges"] == [{"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.9"}]
    # Salesforce generated the credentials; the outputs are what the org holds.
    assert outs["consumer_key"] == live["global"]["consumerKey"]
    assert outs["consumer_secret"] == live["global"]["consumerSecret"]
    assert live["policy"]["externalClientApplication"] == name  # made by Salesforce with the header
    assert outs["scopes"] == ["Api", "RefreshToken"] and outs["label"] == name.replace("_", " ")

    # A preview with no change makes no API call.
    eca_env.admin.mark(ORG)
    assert app.diff(id_, outs, checked(app, news, outs)).changes is False
    assert sum(eca_env.admin.counters(ORG).values()) == 0

    changed, new_outs = update(
        app,
        id_,
        outs,
        {**news, "label": "Renamed Label", "scopes": ["api"], "callback_urls": ["https://a.example/cb"]},
    )
    live = parts(eca_env, name)
    assert changed and live["header"]["label"] == "Renamed Label"
    assert live["oauth"]["commaSeparatedOauthScopes"] == "Api"
    assert live["global"]["callbackUrl"] == "https://a.example/cb"
    assert live["global"]["isRefreshTokenRotationEnabled"] is True  # kept
    assert (new_outs["consumer_key"], new_outs["consumer_secret"]) == (
        outs["consumer_key"],
        outs["consumer_secret"],
    )

    app.delete(id_, new_outs)
    assert all(not part for part in parts(eca_env, name).values())
    rows = eca_env.admin.query(ORG, f"SELECT Id FROM ExternalClientApplication WHERE Id = '{id_}'")
    assert rows["records"] == []


def test_api_name_change_replaces(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs()
    olds = {**checked(app, news), "app_id": "0xI000000000001AAA"}
    diff = app.diff("x", olds, checked(app, {**news, "api_name": news["api_name"] + "2"}, olds))
    assert diff.replaces == ["api_name"] and diff.delete_before_replace is False


def test_refresh_shows_setup_changes_rotation_and_deletion(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    name = news["api_name"]

    glob = component(eca_env, GLOBAL, f"{name}_glbloauth")
    glob["callbackUrl"] = "https://setup.example/cb"
    glob["consumerSecret"] = "ROTATEDINSETUP12345"
    eca_env.admin.put_component(ORG, GLOBAL, f"{name}_glbloauth", glob)
    refreshed = app.read(id_, outs)
    assert refreshed.outs is not None
    assert refreshed.outs["callback_urls"] == ["https://setup.example/cb"]
    assert refreshed.outs["consumer_secret"] == "ROTATEDINSETUP12345"
    # The next `up` puts the callback back.
    changed, outs = update(app, id_, refreshed.outs, news)
    restored = component(eca_env, GLOBAL, f"{name}_glbloauth")["callbackUrl"]
    assert changed and restored == news["callback_urls"][0]

    eca_env.admin.delete_component(ORG, HEADER, name)
    assert app.read(id_, outs).id == ""
    app.delete(id_, outs)  # already gone: no error


def test_credential_generation_rotates_in_place(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    changed, rotated = update(app, id_, outs, {**news, "credential_generation": 1})
    assert changed
    assert rotated["consumer_key"] != outs["consumer_key"]
    assert rotated["consumer_secret"] != outs["consumer_secret"]
    stored = component(eca_env, GLOBAL, f"{news['api_name']}_glbloauth")
    assert (stored["consumerKey"], stored["consumerSecret"]) == (
        rotated["consumer_key"],
        rotated["consumer_secret"],
    )
    # The rotation request is not state: another update rotates nothing.
    changed, again = update(app, id_, rotated, {**news, "credential_generation": 1, "description": "d"})
    assert changed and again["consumer_key"] == rotated["consumer_key"]
    app.delete(id_, again)


def test_certificate_is_sent_on_every_deploy(eca_env: Any, sent: list[tuple[str, dict[str, Any]]]) -> None:
    """Salesforce clears the certificate when a deploy leaves it out (reported)."""
    pem = self_signed_certificate().pem
    app = ExternalClientAppProvider()
    news = app_inputs(certificate=pem)
    id_, outs = create(app, news)
    name = news["api_name"]
    for round_ in range(2):
        changed, outs = update(app, id_, outs, {**news, "callback_urls": [f"https://x.example/{round_}"]})
        assert changed
    globals_sent = [c for mtype, c in sent if mtype == GLOBAL]
    assert len(globals_sent) == 3 and all(c.get("certificate") for c in globals_sent)
    assert component(eca_env, GLOBAL, f"{name}_glbloauth")["certificate"] in pem.replace("\n", "")
    assert outs["certificate"] == checked(app, news)["certificate"]

    # Removing the input removes the certificate (the only deploy that leaves it out).
    changed, outs = update(app, id_, outs, {k: v for k, v in news.items() if k != "certificate"})
    assert changed and "certificate" not in component(eca_env, GLOBAL, f"{name}_glbloauth")
    app.delete(id_, outs)


@pytest.mark.parametrize("readable", [False, True], ids=["not read back", "read back"])
def test_the_certificate_needs_no_read_back(eca_env: Any, readable: bool) -> None:
    """Orgs may not return the global settings' certificate (the emulator's default): no change
    shows at refresh, and an update of another field keeps it (a write without it would clear it)."""
    pem = self_signed_certificate().pem
    app = ExternalClientAppProvider()
    news = app_inputs(certificate=pem)
    eca_env.admin.set_setting(ORG, "eca-certificate-readable", readable)
    try:
        id_, outs = create(app, news)
        name = news["api_name"]
        refreshed = app.read(id_, outs)
        assert refreshed.outs is not None
        assert refreshed.outs["certificate"] == checked(app, news)["certificate"]
        assert app.diff(id_, refreshed.outs, checked(app, news, refreshed.outs)).changes is False
        changed, outs = update(app, id_, refreshed.outs, {**news, "callback_urls": ["https://x.example/cb"]})
        assert changed and outs["certificate"] == checked(app, news)["certificate"]
        stored = component(eca_env, GLOBAL, f"{name}_glbloauth")
        assert stored["certificate"] in pem.replace("\n", "")
        assert stored["callbackUrl"] == "https://x.example/cb"
        app.delete(id_, outs)
    finally:
        eca_env.admin.set_setting(ORG, "eca-certificate-readable", False)


def test_parts_are_created_header_oauth_settings_then_global_settings(
    eca_env: Any, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    app = ExternalClientAppProvider()
    id_, outs = create(app, app_inputs())
    created = [mtype for mtype, _ in sent if mtype in (HEADER, OAUTH, GLOBAL)]
    assert created == [HEADER, OAUTH, GLOBAL]  # the emulator refuses global settings first
    app.delete(id_, outs)


def test_oauth_link_is_never_sent_back(eca_env: Any, sent: list[tuple[str, dict[str, Any]]]) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    name = news["api_name"]
    # As after a sandbox copy: the stored settings carry another org's link. Sending it back fails.
    oauth = component(eca_env, OAUTH, f"{name}_oauth")
    assert oauth["oauthLink"].endswith(f"/{name}")
    oauth["oauthLink"] = f"{eca_env.org('orgA')['org_id']}/{name}"
    eca_env.admin.put_component(ORG, OAUTH, f"{name}_oauth", oauth)

    changed, outs = update(app, id_, outs, {**news, "scopes": ["api", "openid"], "label": "L"})
    assert changed and outs["scopes"] == ["Api", "OpenID"]
    assert [c for mtype, c in sent if mtype == OAUTH]
    assert all("oauthLink" not in c for _, c in sent)
    app.delete(id_, outs)


def test_secret_setting_off_is_named_and_leaves_nothing(eca_env: Any) -> None:
    eca_env.admin.set_setting(ORG, SECRET_SETTING, False)
    news = app_inputs()
    with pytest.raises(salesforce.SalesforceError) as err:
        create(ExternalClientAppProvider(), news)
    text = str(err.value)
    assert "ExternalClientAppSettings.enableClientSecretInRestApiAccess" in text
    assert "Setup > External Client Apps > Settings" in text and "enable_secret_in_rest_api: true" in text
    assert err.value.field == "enable_secret_in_rest_api"
    assert component(eca_env, HEADER, news["api_name"]) == {}


def test_enable_secret_input_turns_the_setting_on_and_back_off(eca_env: Any) -> None:
    eca_env.admin.set_setting(ORG, SECRET_SETTING, False)
    app = ExternalClientAppProvider()
    id_, outs = create(app, app_inputs(enable_secret_in_rest_api=True))
    assert outs["secret_setting_enabled"] is True and outs["consumer_secret"]
    assert eca_env.admin.settings(ORG)[SECRET_SETTING] is True
    app.delete(id_, outs)
    assert eca_env.admin.settings(ORG)[SECRET_SETTING] is False


def test_refresh_with_the_setting_off_keeps_the_stored_credentials(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    id_, outs = create(app, app_inputs())
    eca_env.admin.set_setting(ORG, SECRET_SETTING, False)
    refreshed = app.read(id_, outs)
    assert refreshed.outs is not None and refreshed.outs["consumer_secret"] == outs["consumer_secret"]
    app.delete(id_, outs)


@pytest.mark.parametrize(
    ("kind", "fault"),
    [("metadata", "503"), ("metadata", "UNKNOWN_EXCEPTION"), ("connect", "503"), ("any", "reset")],
)
def test_transient_faults_are_retried(eca_env: Any, kind: str, fault: str) -> None:
    app = ExternalClientAppProvider()
    salesforce.org(ORG)  # log in first: the faults are for the resource's own calls
    eca_env.admin.inject_fault(ORG, kind, fault, count=2)
    id_, outs = create(app, app_inputs())
    assert outs["consumer_secret"]
    eca_env.admin.inject_fault(ORG, "metadata", "ALREADY_IN_PROCESS", count=2)
    app.delete(id_, outs)
    assert component(eca_env, HEADER, outs["api_name"]) == {}


def test_expired_session_is_renewed(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    eca_env.admin.expire_sessions(ORG)
    changed, outs = update(app, id_, outs, {**news, "description": "after expiry"})
    assert changed and component(eca_env, HEADER, news["api_name"])["description"] == "after expiry"
    eca_env.admin.expire_sessions(ORG)
    assert app.read(id_, outs).outs["description"] == "after expiry"  # type: ignore[index]
    app.delete(id_, outs)


def test_existing_app_is_not_taken_over(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs()  # no owner: the app carries no marker, so nothing is ever taken over
    id_, outs = create(app, news)
    with pytest.raises(salesforce.SalesforceError, match="already exists") as err:
        create(app, news)
    assert err.value.field == "api_name"
    app.delete(id_, outs)


OWNER = "orglink/test/ExternalClientApp/CarrierAPI_App_test-eca-app"


def test_the_marker_ends_the_description_and_never_shows_as_a_change(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs(owner=OWNER, description="Carrier API for Org A")
    id_, outs = create(app, news)
    name = news["api_name"]
    live = component(eca_env, HEADER, name)["description"]
    assert live == f"Carrier API for Org A {marker(OWNER, name, False)}"
    assert re.fullmatch(r"Carrier API for Org A \[orglink:OL[0-9a-f]{22}\]", live)
    assert outs["description"] == "Carrier API for Org A" and outs["owner"] == OWNER

    # refresh reads the user's text back; the next preview and up change nothing, write nothing.
    eca_env.admin.mark(ORG)
    refreshed = app.read(id_, outs).outs
    assert refreshed is not None and refreshed["description"] == "Carrier API for Org A"
    assert app.diff(id_, refreshed, checked(app, news, refreshed)).changes is False
    assert not {k: n for k, n in eca_env.admin.counters(ORG).items() if k.endswith(".write") and n}
    # Another stack name (a new owner) is provenance only: no change either.
    assert app.diff(id_, refreshed, checked(app, {**news, "owner": OWNER + "2"}, refreshed)).changes is False

    # A description change keeps the marker; no description leaves the marker alone.
    _, outs = update(app, id_, refreshed, {**news, "description": "v2"})
    assert component(eca_env, HEADER, name)["description"] == f"v2 {marker(OWNER, name, False)}"
    _, outs = update(app, id_, outs, {k: v for k, v in news.items() if k != "description"})
    assert component(eca_env, HEADER, name)["description"] == marker(OWNER, name, False)
    assert "description" not in (app.read(id_, outs).outs or {})
    app.delete(id_, outs)


@pytest.mark.parametrize("left", ["header only", "every part"])
def test_own_leftover_of_an_interrupted_create_is_taken_over(eca_env: Any, left: str) -> None:
    """As after `pulumi up` was killed inside the create: the app is in the org, not in the state."""
    app = ExternalClientAppProvider()
    news = app_inputs(owner=OWNER, refresh_token_rotation=True)
    name = news["api_name"]
    _, lost = create(app, news)  # Pulumi never records these outputs
    if left == "header only":
        eca_env.admin.delete_component(ORG, GLOBAL, f"{name}_glbloauth")
        eca_env.admin.delete_component(ORG, OAUTH, f"{name}_oauth")
    before = eca_env.admin.snapshot(ORG)

    id_, outs = create(app, news)
    after = eca_env.admin.snapshot(ORG)
    assert id_ == lost["app_id"]  # the same app, not a second one
    assert [r for r in after["records"]["ExternalClientApplication"] if r["DeveloperName"] == name] == [
        r for r in before["records"]["ExternalClientApplication"] if r["DeveloperName"] == name
    ]
    live = parts(eca_env, name)
    assert live["global"]["isRefreshTokenRotationEnabled"] is True and live["oauth"]
    assert (outs["consumer_key"], outs["consumer_secret"]) == (
        live["global"]["consumerKey"],
        live["global"]["consumerSecret"],
    )
    if left == "every part":  # nothing to write: the credentials are the ones it already had
        assert outs["consumer_key"] == lost["consumer_key"]
        assert after["components"] == before["components"]
    app.delete(id_, outs)
    assert all(not part for part in parts(eca_env, name).values())


def test_leftover_that_turned_the_secret_setting_on_turns_it_off_on_delete(eca_env: Any) -> None:
    """Killed after the marked header was written, before the org setting was: the marker's `:s`
    says this resource turns it on, so its delete turns it off again."""
    eca_env.admin.set_setting(ORG, SECRET_SETTING, False)
    app = ExternalClientAppProvider()
    news = app_inputs(owner=OWNER, enable_secret_in_rest_api=True)
    name = news["api_name"]
    header = {"label": name, "contactEmail": "ops@example.com", "distributionState": "Local",
              "description": marker(OWNER, name, True)}  # fmt: skip
    eca_env.admin.put_component(ORG, HEADER, name, header)

    id_, outs = create(app, news)
    assert outs["secret_setting_enabled"] is True and outs["consumer_secret"]
    assert eca_env.admin.settings(ORG)[SECRET_SETTING] is True
    app.delete(id_, outs)
    assert eca_env.admin.settings(ORG)[SECRET_SETTING] is False
    assert component(eca_env, HEADER, name) == {}


@pytest.mark.parametrize(
    "description",
    ["Someone else's app", None, marker("orglink/other/ExternalClientApp/x-eca-app", "NAME", False)],
)
def test_an_app_of_the_name_without_our_marker_is_refused_untouched(
    eca_env: Any, description: str | None
) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs(owner=OWNER)
    name = news["api_name"]
    header: dict[str, Any] = {"label": "Theirs", "contactEmail": "them@example.com"}
    if description:
        header["description"] = description.replace("NAME", name)
    eca_env.admin.put_component(ORG, HEADER, name, header)
    before = eca_env.admin.snapshot(ORG)

    with pytest.raises(salesforce.SalesforceError) as err:
        create(app, news)
    text = str(err.value)
    assert err.value.field == "api_name" and err.value.status_code == "DUPLICATE_VALUE"
    assert f"ExternalClientApp '{name}' in org '{ORG}'" in text and "already exists" in text
    assert "description" in text and "[orglink:" in text  # the field that marks orglink's apps
    assert "choose another api_name" in text.lower() and "External Client App Manager" in text
    assert eca_env.admin.snapshot(ORG)["components"] == before["components"]
    eca_env.admin.delete_component(ORG, HEADER, name)


def test_the_secret_never_reaches_logs_or_errors(eca_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    _, outs = update(app, id_, outs, {**news, "credential_generation": 3})
    app.read(id_, outs)
    eca_env.admin.inject_fault(ORG, "connect", "503", count=1)
    eca_env.admin.set_setting(ORG, SECRET_SETTING, False)
    with pytest.raises(salesforce.SalesforceError) as err:
        update(app, id_, outs, {**news, "credential_generation": 4})
    app.delete(id_, outs)
    captured = capsys.readouterr()
    for text in (captured.out, captured.err, str(err.value)):
        assert outs["consumer_secret"] not in text


def test_a_part_deleted_in_setup_is_made_again_with_its_new_credentials(eca_env: Any) -> None:
    app = ExternalClientAppProvider()
    news = app_inputs()
    id_, outs = create(app, news)
    name = news["api_name"]
    eca_env.admin.delete_component(ORG, GLOBAL, f"{name}_glbloauth")
    refreshed = app.read(id_, outs).outs
    assert refreshed is not None and "callback_urls" not in refreshed
    changed, outs = update(app, id_, refreshed, news)
    stored = component(eca_env, GLOBAL, f"{name}_glbloauth")
    assert changed and stored["callbackUrl"] == news["callback_urls"][0]
    assert (outs["consumer_key"], outs["consumer_secret"]) == (
        stored["consumerKey"],
        stored["consumerSecret"],
    )
    app.delete(id_, outs)
