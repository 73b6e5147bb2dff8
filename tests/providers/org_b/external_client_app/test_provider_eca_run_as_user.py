"""ExternalClientAppRunAsUser against the emulator: both switches (global settings and policies),
the user checks, refresh, restore on delete, and the certificate kept by its global-settings write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers import salesforce
from providers.org_b.external_client_app.app import ExternalClientAppProvider
from providers.org_b.external_client_app.run_as_user import ExternalClientAppRunAsUserProvider
from tests.eca_support import (
    GLOBAL,
    ORG,
    USERS,
    app_inputs,
    component,
    eca_env,
    policy_of,
)
from tests.support import create, self_signed_certificate, update

__all__ = ["eca_env"]
CERT_SETTING = "eca-certificate-readable"


@pytest.fixture
def made_app(eca_env: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    app = ExternalClientAppProvider()
    id_, outs = create(app, app_inputs(certificate=self_signed_certificate().pem))
    yield id_, outs
    app.delete(id_, outs)


def global_of(env: Any, app: str) -> dict[str, Any]:
    return component(env, GLOBAL, f"{app}_glbloauth")


@pytest.fixture(params=[False, True], ids=["certificate not read back", "certificate read back"])
def certificate_readback(eca_env: Any, request: pytest.FixtureRequest) -> Iterator[bool]:
    """Both answers of orgs to reading an ECA's global settings' certificate (the emulator's
    default: not returned)."""
    eca_env.admin.set_setting(ORG, CERT_SETTING, request.param)
    yield request.param
    eca_env.admin.set_setting(ORG, CERT_SETTING, False)


def test_run_as_user_lifecycle_and_checks(
    eca_env: Any,
    made_app: tuple[str, dict[str, Any]],
    certificate_readback: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, app_outs = made_app
    name = app_outs["api_name"]
    run_as = ExternalClientAppRunAsUserProvider()
    # As the integration wires it: the app's certificate, which the org may not read back.
    base = {"org": ORG, "app": name, "app_certificate": app_outs["certificate"]}
    certificate = global_of(eca_env, name)["certificate"]

    with pytest.raises(salesforce.SalesforceError, match="no user with username") as err:
        create(run_as, {**base, "username": "nobody@orgb.orglink.test"})
    assert err.value.field == "username"
    with pytest.raises(salesforce.SalesforceError, match="is inactive"):
        create(run_as, {**base, "username": USERS["inactive"]})
    assert not global_of(eca_env, name).get("isClientCredentialsFlowEnabled")

    id_, outs = create(run_as, {**base, "username": USERS["standard"]})
    assert "does not have API Only" in capsys.readouterr().err
    changed, outs = update(run_as, id_, outs, {**base, "username": USERS["integration"]})
    assert changed and "API Only" not in capsys.readouterr().err
    policy, glob = policy_of(eca_env, name), global_of(eca_env, name)
    assert policy["isClientCredentialsFlowEnabled"] is True and glob["isClientCredentialsFlowEnabled"] is True
    assert policy["clientCredentialsFlowUser"] == USERS["integration"]
    assert glob["certificate"] == certificate  # its write of the global settings kept it

    # Turning the global switch off in Setup shows as `enabled: false`; the next up fixes it.
    glob["isClientCredentialsFlowEnabled"] = False
    eca_env.admin.put_component(ORG, GLOBAL, f"{name}_glbloauth", glob)
    refreshed = run_as.read(id_, outs)
    assert refreshed.outs is not None and refreshed.outs["enabled"] is False
    changed, outs = update(run_as, id_, refreshed.outs, {**base, "username": USERS["integration"]})
    assert changed and global_of(eca_env, name)["isClientCredentialsFlowEnabled"] is True

    run_as.delete(id_, outs)
    policy, glob = policy_of(eca_env, name), global_of(eca_env, name)
    assert policy["isClientCredentialsFlowEnabled"] is False and "clientCredentialsFlowUser" not in policy
    assert not glob.get("isClientCredentialsFlowEnabled") and glob["certificate"] == certificate


def test_bad_username_is_named_at_check() -> None:
    failures = ExternalClientAppRunAsUserProvider().check({}, {"org": ORG, "app": "A_App", "username": "bob"})
    reasons = {f.property: f.reason for f in failures.failures}
    assert "not a Salesforce username" in reasons["username"]


def test_run_as_user_survives_faults(eca_env: Any, made_app: tuple[str, dict[str, Any]]) -> None:
    _, app_outs = made_app
    run_as = ExternalClientAppRunAsUserProvider()
    news = {"org": ORG, "app": app_outs["api_name"], "username": USERS["integration"]}
    eca_env.admin.inject_fault(ORG, "rest", "REQUEST_LIMIT_EXCEEDED")
    eca_env.admin.inject_fault(ORG, "metadata", "ALREADY_IN_PROCESS", count=2)
    id_, outs = create(run_as, news)
    assert outs["enabled"] is True
    eca_env.admin.expire_sessions(ORG)
    run_as.delete(id_, outs)
    assert not global_of(eca_env, app_outs["api_name"]).get("isClientCredentialsFlowEnabled")
