"""The Salesforce access layer against the emulator: every auth mode, CA bundles, retries of
transient faults within a bounded time, one re-login on an expired session, metadata helpers,
and errors that keep Salesforce's code without leaking credentials. Nothing is mocked (auth `sfdx`
runs the real Salesforce CLI: tests/clients/test_sf_logins.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from emulator.app import FAULTS
from providers import salesforce
from providers.org_b.connected_app.app import ConnectedAppProvider
from providers.org_b.connected_app.policy import ConnectedAppPolicyProvider
from providers.org_b.connected_app.profile_assignment import ConnectedAppProfileAssignmentProvider
from providers.org_b.connected_app.run_as_user import ClientCredentialsRunAsUserProvider
from providers.salesforce import batching, components, records
from tests.emulator_fixtures import connected_app_creation
from tests.support import self_signed_certificate

ORG = "orgB"
# Every fault the emulator can inject but a delay, which is slowness, not a failure to retry.
TRANSIENT = [fault for fault in FAULTS if fault != "delay"]


@pytest.fixture
def env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("ORGLINK_RETRY_BASE_S", "0.02")
    monkeypatch.setenv("ORGLINK_RETRY_BUDGET_S", "15")
    salesforce.reset()
    salesforce.configure_orgs({ORG: emulator_connection(emulator)})
    with connected_app_creation(emulator.admin, org=ORG):
        yield emulator
    emulator.admin.clear_faults(ORG)
    emulator.admin.clear_faults("login")
    salesforce.reset()


def emulator_connection(emulator: Any) -> dict[str, Any]:
    return {"auth": "emulator", "state_dir": str(emulator.state_dir)}


def app_inputs(**overrides: Any) -> dict[str, Any]:
    return {
        "org": ORG,
        "api_name": "Orglink_Access_" + secrets.token_hex(4),
        "contact_email": "ops@example.com",
        "callback_urls": ["http://localhost"],
        "scopes": ["api", "refresh_token"],
        **overrides,
    }


def create(provider: Any, news: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    checked = provider.check({}, news)
    assert checked.failures == []
    result = provider.create(checked.inputs)
    return result.id, result.outs


def delta(emulator: Any, org: str = ORG) -> dict[str, int]:
    return {k: v for k, v in emulator.admin.counters(org).items() if v}


# -- retries and sessions -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", TRANSIENT)
def test_transient_metadata_faults_are_retried(env: Any, fault: str) -> None:
    salesforce.org(ORG)  # logged in before the faults start
    app = ConnectedAppProvider()

    def metadata_requests_of_a_create() -> tuple[str, dict[str, Any], int]:
        env.admin.mark(ORG)
        id_, outs = create(app, app_inputs())
        assert env.admin.get_component(ORG, "ConnectedApp", outs["api_name"]) is not None
        counts = delta(env)
        return id_, outs, counts.get("metadata.read", 0) + counts.get("metadata.write", 0)

    plain_id, plain_outs, plain = metadata_requests_of_a_create()
    env.admin.inject_fault(ORG, "metadata", fault, count=2)
    id_, outs, faulty = metadata_requests_of_a_create()
    assert faulty == plain + 2  # the 2 failed requests were retried, nothing else repeated
    app.delete(id_, outs)
    app.delete(plain_id, plain_outs)


@pytest.mark.parametrize("fault", TRANSIENT)
def test_transient_rest_faults_are_retried(env: Any, fault: str) -> None:
    client = salesforce.org(ORG)
    env.admin.inject_fault(ORG, "rest", fault, count=2)
    users = client.query("SELECT Id FROM User WHERE Username = 'integration@orgb.orglink.test'")
    assert len(users) == 1


def test_transient_login_fault_is_retried(env: Any) -> None:
    env.admin.inject_fault(ORG, "oauth", "503", count=2)  # the emulator mode's JWT bearer login
    assert salesforce.org(ORG).query("SELECT Id FROM Organization")


def test_a_permanent_fault_fails_in_bounded_time_with_the_code(
    env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORGLINK_RETRY_BUDGET_S", "1.5")
    salesforce.reset()
    salesforce.configure_orgs({ORG: emulator_connection(env)})
    salesforce.org(ORG)
    env.admin.inject_fault(ORG, "metadata", "UNABLE_TO_LOCK_ROW", count=1000)
    news = app_inputs()
    started = time.monotonic()
    with pytest.raises(salesforce.SalesforceError) as err:
        create(ConnectedAppProvider(), news)
    assert time.monotonic() - started < 10
    text = str(err.value)
    assert err.value.status_code == "UNABLE_TO_LOCK_ROW"
    assert f"ConnectedApp '{news['api_name']}' in org 'orgB'" in text
    assert "retry" in capsys.readouterr().err  # progress lines say what is retried
    env.admin.clear_faults(ORG)
    assert env.admin.get_component(ORG, "ConnectedApp", news["api_name"]) is None
    # Once the cause is gone the same create converges.
    id_, outs = create(ConnectedAppProvider(), news)
    ConnectedAppProvider().delete(id_, outs)


def test_expired_session_is_renewed_once_for_metadata_and_rest(env: Any) -> None:
    client = salesforce.org(ORG)
    env.admin.mark(ORG)
    env.admin.expire_sessions(ORG)
    app = ConnectedAppProvider()
    id_, outs = create(app, app_inputs())  # Metadata API: SOAP fault INVALID_SESSION_ID
    assert delta(env).get("oauth.write") == 1
    env.admin.expire_sessions(ORG)
    assert client.query("SELECT Id FROM Organization")  # REST: 401 INVALID_SESSION_ID
    assert delta(env).get("oauth.write") == 2
    app.delete(id_, outs)


def test_threads_share_one_login_and_one_renewal(env: Any) -> None:
    import threading

    env.admin.mark(ORG)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            salesforce.org(ORG).query("SELECT Id FROM Organization")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and delta(env).get("oauth.write") == 1
    env.admin.expire_sessions(ORG)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and delta(env).get("oauth.write") == 2


# -- metadata helpers ------------------------------------------------------------------------------


def test_metadata_helpers_batch_and_keep_status_codes(env: Any) -> None:
    client = salesforce.org(ORG)
    names = [f"Orglink_Batch_{secrets.token_hex(3)}_{i}" for i in range(12)]
    components = [
        {
            "fullName": n,
            "label": n,
            "contactEmail": "a@b.co",
            "oauthConfig": {"callbackUrl": "http://localhost", "scopes": ["Api"]},
        }
        for n in names[:11]
    ]
    env.admin.mark(ORG)
    created = client.create_metadata("ConnectedApp", components)
    assert [r.success for r in created] == [True] * 11
    read = client.read_metadata("ConnectedApp", names)
    assert delta(env) == {"metadata.write": 2, "metadata.read": 2}  # batches of 10
    assert all(read[n] is not None for n in names[:11]) and read[names[11]] is None
    assert (read[names[0]] or {})["oauthConfig"]["scopes"] == ["Api"]

    again = client.create_metadata("ConnectedApp", components[:1])[0]
    assert not again.success and again.problems[0].status_code == "DUPLICATE_VALUE"
    assert client.upsert_component("ConnectedApp", {**components[1], "label": "Upserted"}) is False
    assert (client.read_component("ConnectedApp", names[1]) or {})["label"] == "Upserted"
    client.rename_component("ConnectedApp", names[2], names[11])
    assert client.read_component("ConnectedApp", names[11]) is not None
    with pytest.raises(salesforce.SalesforceError) as err:
        client.update_component(
            "ConnectedApp",
            {**components[3], "oauthPolicy": {"ipRelaxation": "Relaxed", "refreshTokenPolicy": "zero"}},
        )
    assert "Relaxed" in err.value.message
    listed = {p["fullName"] for p in client.list_metadata("ConnectedApp")}
    assert set(names) - {names[2]} <= listed
    for name in set(names) - {names[2]}:
        assert client.delete_component("ConnectedApp", name) is True
    assert client.delete_component("ConnectedApp", names[2]) is False


def _new_app(client: salesforce.OrgClient) -> str:
    name = "Orglink_Group_" + secrets.token_hex(4)
    client.create_component("ConnectedApp", {
        "fullName": name, "label": name, "contactEmail": "a@b.co",
        "oauthConfig": {"callbackUrl": "http://localhost", "scopes": ["Api"]},
    })  # fmt: skip
    return name


def _set(path: tuple[str, str], value: str) -> salesforce.Change:
    def change(component: dict[str, Any]) -> dict[str, Any]:
        component.setdefault(path[0], {})[path[1]] = value
        return component

    return change


def _modify_together(name: str, changes: list[salesforce.Change]) -> list[Any]:
    """Each change from its own thread, all at once, as the engine applies sibling resources."""
    with ThreadPoolExecutor(len(changes)) as pool:
        futures = [
            pool.submit(salesforce.modify_component, ORG, "ConnectedApp", name, change, f"part {i}")
            for i, change in enumerate(changes)
        ]
    return [f.exception() or f.result() for f in futures]


def test_changes_to_one_component_at_once_cost_one_read_and_one_write(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(components, "GROUP_WINDOW_S", 1.0)  # a loaded machine still starts them together
    client = salesforce.org(ORG)
    name = _new_app(client)
    env.admin.mark(ORG)
    _modify_together(name, [
        _set(("oauthPolicy", "ipRelaxation"), "BYPASS"),
        _set(("oauthPolicy", "refreshTokenPolicy"), "infinite"),
        _set(("oauthConfig", "oauthClientCredentialUser"), "integration@orgb.orglink.test"),
    ])  # fmt: skip
    assert delta(env) == {"metadata.read": 1, "metadata.write": 1}
    live = env.admin.get_component(ORG, "ConnectedApp", name)
    assert live["oauthPolicy"]["ipRelaxation"] == "BYPASS"
    assert live["oauthPolicy"]["refreshTokenPolicy"] == "infinite"
    assert live["oauthConfig"]["oauthClientCredentialUser"] == "integration@orgb.orglink.test"
    client.delete_component("ConnectedApp", name)


def test_a_group_that_fails_is_applied_change_by_change_and_the_error_goes_to_its_cause(env: Any) -> None:
    client = salesforce.org(ORG)
    name = _new_app(client)

    def relabel(component: dict[str, Any]) -> dict[str, Any]:
        return {**component, "label": "Grouped"}

    def bad_policy(component: dict[str, Any]) -> dict[str, Any]:  # Salesforce refuses the enum
        return {**component, "oauthPolicy": {"ipRelaxation": "Relaxed", "refreshTokenPolicy": "zero"}}

    results = _modify_together(name, [relabel, bad_policy])
    assert isinstance(results[0], dict) and results[0]["label"] == "Grouped"
    assert isinstance(results[1], salesforce.SalesforceError) and "Relaxed" in results[1].message
    live = env.admin.get_component(ORG, "ConnectedApp", name)
    assert live["label"] == "Grouped" and "oauthPolicy" not in live
    client.delete_component("ConnectedApp", name)


def test_metadata_calls_of_resources_running_together_share_requests(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of the same metadata call from several resources (the engine starts K certificates,
    K apps together): the first goes out at once, those that arrive with it share one request,
    and each resource gets its own results."""
    monkeypatch.setattr(batching, "BUSY_S", 60.0)  # a slow test machine still counts as one burst
    client = salesforce.org(ORG)
    first, *names = [f"Orglink_Together_{secrets.token_hex(3)}_{i}" for i in range(5)]
    start = threading.Barrier(len(names))

    def component(name: str) -> dict[str, Any]:
        return {"fullName": name, "label": name, "contactEmail": "a@b.co",
                "oauthConfig": {"callbackUrl": "http://localhost", "scopes": ["Api"]}}  # fmt: skip

    def burst(work: Callable[[str], Any]) -> tuple[Any, list[Any]]:
        """``work`` for the first name alone, then for the other four at once."""
        alone = work(first)

        def together(name: str) -> Any:
            start.wait()
            return work(name)

        with ThreadPoolExecutor(len(names)) as pool:
            return alone, list(pool.map(together, names))

    env.admin.mark(ORG)
    alone, created = burst(lambda n: client.create_metadata("ConnectedApp", [component(n)])[0])
    assert [(r.full_name, r.success) for r in [alone, *created]] == [(n, True) for n in [first, *names]]
    assert delta(env) == {"metadata.write": 2}
    env.admin.mark(ORG)
    _, read = burst(lambda n: client.read_metadata("ConnectedApp", [n]))
    assert [{n: (r[n] or {}).get("label")} for r, n in zip(read, names, strict=True)] == [
        {n: n} for n in names
    ]
    _, listed = burst(lambda n: {c["fullName"] for c in client.list_metadata("ConnectedApp")})
    assert all({first, *names} <= found for found in listed)
    assert delta(env) == {"metadata.read": 4}
    env.admin.mark(ORG)
    assert burst(lambda n: client.delete_component("ConnectedApp", n)) == (True, [True] * 4)
    assert delta(env) == {"metadata.write": 2}


# -- auth modes ------------------------------------------------------------------------------------


def org_entry(emulator: Any) -> dict[str, Any]:
    return dict(emulator.orgs[ORG])


SOAP_SETTING = "soap-login-enabled"


@pytest.fixture
def soap_login_enabled(env: Any) -> Iterator[Any]:
    """Org B allows SOAP login(), as an established org still may (a new org does not)."""
    env.admin.set_setting(ORG, SOAP_SETTING, True)
    yield env
    env.admin.set_setting(ORG, SOAP_SETTING, False)


def password_connection(org: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "auth": "password",
        "username": org["admin_username"],
        "password": org["admin_password"],
        "login_url": org["login_url"],
        "ca_bundle": org["ca_bundle"],
        **overrides,
    }


@pytest.mark.parametrize("api_version", ["63.0", "66.0"])
def test_password_auth_with_login_url_and_ca_bundle(soap_login_enabled: Any, api_version: str) -> None:
    org = org_entry(soap_login_enabled)
    salesforce.configure_orgs({"b": password_connection(org, api_version=api_version)})
    # From 65.0 the partner API has no login(); orglink logs in through 64.0, whose session serves all.
    assert salesforce.org("b").query("SELECT Id FROM Organization")[0]["Id"][:15] == org["org_id"][:15]


def test_password_auth_says_at_check_time_that_it_is_legacy_and_what_to_use(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    org = org_entry(env)
    salesforce.configure_orgs({"b": password_connection(org), ORG: emulator_connection(env)})
    capsys.readouterr()
    provider = ConnectedAppProvider()
    for _ in range(2):
        assert not provider.check({}, app_inputs(org="b")).failures  # a warning, not a failure
    provider.check({}, app_inputs())  # the emulator mode: no warning
    err = capsys.readouterr().err
    assert err.count("warning:") == 1, err  # once per org, however many resources check
    assert "orglink:orgs.b.auth: 'password'" in err and "legacy" in err and "June 2027" in err
    assert "auth 'sfdx'" in err and "auth 'jwt'" in err and "External Client App" in err
    assert org["admin_password"] not in err


def test_password_auth_refused_by_a_new_org_keeps_salesforce_code_and_words(env: Any) -> None:
    org = org_entry(env)
    assert env.admin.settings(ORG)[SOAP_SETTING] is False
    salesforce.configure_orgs({"b": password_connection(org)})
    with pytest.raises(salesforce.SalesforceError) as err:
        salesforce.org("b")
    assert err.value.status_code == "INVALID_OPERATION" and err.value.field == "login"
    assert "SOAP API login() is disabled by default in this org" in err.value.message
    assert "auth 'jwt'" in err.value.message  # and the way out
    assert org["admin_password"] not in str(err.value)


def test_wrong_password_names_the_code_and_hides_the_password(
    soap_login_enabled: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    org = org_entry(soap_login_enabled)
    wrong = "Wr0ngPassw0rd" + secrets.token_hex(4)
    salesforce.configure_orgs(
        {
            "b": {
                "auth": "password",
                "username": org["admin_username"],
                "password": wrong,
                "security_token": "Tok3n" + secrets.token_hex(4),
                "login_url": org["login_url"],
                "ca_bundle": org["ca_bundle"],
            }
        }
    )
    with pytest.raises(salesforce.SalesforceError) as err:
        salesforce.org("b")
    assert err.value.status_code == "INVALID_LOGIN" and "org 'b'" in str(err.value)
    assert wrong not in str(err.value) and wrong not in capsys.readouterr().err


def test_untrusted_certificate_says_to_set_ca_bundle(env: Any, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(make_key_and_certificate()[1])
    salesforce.configure_orgs({ORG: {**emulator_connection(env), "ca_bundle": str(other_ca)}})
    with pytest.raises(salesforce.SalesforceError) as err:
        salesforce.org(ORG)
    assert err.value.status_code == "TLS_ERROR" and "ca_bundle" in str(err.value)


def test_unreachable_login_url_fails_in_bounded_time(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGLINK_RETRY_BUDGET_S", "1")
    salesforce.configure_orgs(
        {
            "x": {
                "auth": "password",
                "username": "a@b.co",
                "password": "pw",
                "login_url": "https://127.0.0.1:9",
            }
        }
    )
    started = time.monotonic()
    with pytest.raises(salesforce.SalesforceError) as err:
        salesforce.org("x")
    assert err.value.status_code == "CONNECTION_ERROR" and time.monotonic() - started < 10


def admin_session(emulator: Any) -> str:
    """A session id from a login made by simple-salesforce (which trusts only REQUESTS_CA_BUNDLE)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
        return str(emulator.login(ORG).session_id)


def test_access_token_auth_and_its_expiry(env: Any) -> None:
    org = org_entry(env)
    session_id = admin_session(env)
    salesforce.configure_orgs(
        {
            "b": {
                "auth": "access_token",
                "access_token": session_id,
                "instance_url": org["instance_url"],
                "ca_bundle": org["ca_bundle"],
            }
        }
    )
    client = salesforce.org("b")
    assert client.query("SELECT Id FROM Organization")
    env.admin.expire_sessions(ORG)
    with pytest.raises(salesforce.SalesforceError, match="access token has expired"):
        client.query("SELECT Id FROM Organization")


def test_client_credentials_auth_through_an_app_orglink_made(env: Any) -> None:
    app = ConnectedAppProvider()
    app_id, app_outs = create(app, app_inputs())
    run_as = ClientCredentialsRunAsUserProvider()
    ra_id, ra_outs = create(
        run_as, {"org": ORG, "app": app_outs["api_name"], "username": "admin@orgb.orglink.test"}
    )
    org = org_entry(env)
    salesforce.configure_orgs(
        {
            ORG: emulator_connection(env),
            "cc": {
                "auth": "client_credentials",
                "consumer_key": app_outs["consumer_key"],
                "consumer_secret": app_outs["consumer_secret"],
                "login_url": org["login_url"],
                "ca_bundle": org["ca_bundle"],
            },
        }
    )
    assert salesforce.org("cc").query("SELECT Id FROM Organization")
    salesforce.configure_orgs(
        {
            ORG: emulator_connection(env),
            "cc": {
                "auth": "client_credentials",
                "consumer_key": app_outs["consumer_key"],
                "consumer_secret": "WrongSecret123",
                "login_url": org["login_url"],
                "ca_bundle": org["ca_bundle"],
            },
        }
    )
    with pytest.raises(salesforce.SalesforceError) as err:
        salesforce.org("cc")
    assert err.value.status_code == "invalid_client" and "WrongSecret123" not in str(err.value)
    run_as.delete(ra_id, ra_outs)
    app.delete(app_id, app_outs)


def make_key_and_certificate() -> tuple[str, str]:
    cert = self_signed_certificate("orglink jwt", valid_until=dt.timedelta(days=30))
    return cert.key_pem, cert.pem


def test_jwt_bearer_auth_through_an_app_orglink_made(env: Any, tmp_path: Path) -> None:
    key_pem, cert_pem = make_key_and_certificate()
    app, policy, assign = (
        ConnectedAppProvider(),
        ConnectedAppPolicyProvider(),
        ConnectedAppProfileAssignmentProvider(),
    )
    app_id, app_outs = create(app, app_inputs(certificate=cert_pem))
    part = {"org": ORG, "app": app_outs["api_name"], "app_id": app_id}
    pol_id, pol_outs = create(policy, {**part, "permitted_users": "AdminApprovedPreAuthorized"})
    acc_id, acc_outs = create(assign, {**part, "profile": "System Administrator"})
    org = org_entry(env)
    key_file = tmp_path / "jwt.key"
    key_file.write_text(key_pem)
    for private_key in (key_pem, str(key_file)):
        salesforce.configure_orgs(
            {
                ORG: emulator_connection(env),
                "jwt": {
                    "auth": "jwt",
                    "consumer_key": app_outs["consumer_key"],
                    "username": org["admin_username"],
                    "private_key": private_key,
                    "login_url": org["login_url"],
                    "ca_bundle": org["ca_bundle"],
                },
            }
        )
        assert salesforce.org("jwt").query("SELECT Id FROM Organization")
    salesforce.configure_orgs(
        {
            ORG: emulator_connection(env),
            "jwt": {
                "auth": "jwt",
                "consumer_key": app_outs["consumer_key"],
                "username": org["admin_username"],
                "private_key": "not a key",
                "login_url": org["login_url"],
            },
        }
    )
    with pytest.raises(salesforce.SalesforceError, match="not a PEM RSA private key"):
        salesforce.org("jwt")
    assign.delete(acc_id, acc_outs)
    policy.delete(pol_id, pol_outs)
    app.delete(app_id, app_outs)


def test_changed_configuration_drops_the_cached_client(env: Any) -> None:
    first = salesforce.org(ORG)
    assert salesforce.org(ORG) is first
    salesforce.configure_orgs({ORG: emulator_connection(env)})
    assert salesforce.org(ORG) is first  # same settings: same client
    salesforce.configure_orgs({ORG: {**emulator_connection(env), "api_version": "64.0"}})
    assert salesforce.org(ORG) is not first


# -- facts asked once per operation -----------------------------------------------------------------


def test_a_query_of_many_users_and_permission_sets_answers_each_ones_lookup(env: Any) -> None:
    """The Preflight asks for every callout user and profile in one query each; the assignments that
    follow in the same operation look each one up again and must not ask the org."""
    client = salesforce.org(ORG)
    users = ["admin@orgb.orglink.test", "integration@orgb.orglink.test"]
    env.admin.mark(ORG)
    listed = records.users_rows(client, users)
    rows = records.permission_set_rows(client, ["System Administrator"], ["Orglink_Integration_Access"])
    assert delta(env) == {"rest.read": 2}
    assert {row["Username"] for row in listed} == set(users)

    env.admin.mark(ORG)
    admin = records.user_rows(client, "Admin@orgb.orglink.test")
    profile_set = records.profile_permission_set(client, "system administrator", "no such profile")
    plain_set = records.find_permission_set(client, "Orglink_Integration_Access", "")
    assert delta(env) == {}, "each lookup was answered by the queries before"
    assert admin == [row for row in listed if row["Username"] == "admin@orgb.orglink.test"]
    assert {profile_set, plain_set} == {row["Id"] for row in rows}

    # A fact the big query did not hold is still asked for.
    env.admin.mark(ORG)
    assert records.user_rows(client, "standard@orgb.orglink.test")[0]["IsActive"] is True
    assert delta(env) == {"rest.read": 1}
