"""The bench's baselines: the serial script makes the stack's change set, and the bound is a longest path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import floor, model, script
from bench.run import ORGS, STACK, change_one_setting, run_pulumi, stack_config
from emulator import control
from emulator.admin import AdminClient
from tests.emulator_fixtures import CREATION_SETTING
from tests.stack_project import StackProject

# Fields each side generates for itself (ids, dates, key pairs, consumer keys and secrets, the
# hashes of the credentials): equal in kind, never in value.
GENERATED = {
    "_audit", "content", "privateKey", "expirationDate", "certificate", "consumerKey", "consumerSecret",
    "Id", "SystemModstamp", "CreatedDate", "ParentId", "SetupEntityId", "AssigneeId", "PermissionSetId",
    "sha256",
}  # fmt: skip


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in GENERATED}
    if isinstance(value, list):
        return sorted((_comparable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _orgs_now(admin: AdminClient) -> dict[str, Any]:
    return {
        alias: _comparable({k: admin.snapshot(alias)[k] for k in ("components", "records", "credentials")})
        for alias in ORGS
    }


@pytest.fixture
def fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, dict[str, Any], AdminClient]]:
    state_dir = tmp_path / "emulator"
    orgs = control.start(state_dir, list(ORGS))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", orgs["orgA"]["ca_bundle"])
    admin = AdminClient(state_dir)
    admin.set_setting("orgB", CREATION_SETTING, True)
    try:
        yield state_dir, orgs, admin
    finally:
        control.stop(state_dir)


def test_the_serial_script_makes_the_stacks_change_set(
    fresh: tuple[Path, dict[str, Any], AdminClient], tmp_path: Path
) -> None:
    state_dir, orgs, admin = fresh
    empty = _orgs_now(admin)

    made = script.up(orgs, 1)  # raises unless Org B issued the app a token and Org A's callout worked
    script_up = _orgs_now(admin)
    script.change(orgs, made)
    script_change = _orgs_now(admin)
    app = admin.get_component("orgB", "ConnectedApp", "Bench_App_01_bench")
    assert app is not None and app["sessionPolicy"]["sessionTimeout"] == script.CHANGED_SESSION_TIMEOUT
    script.destroy(orgs, 1)
    assert _orgs_now(admin) == empty

    project = StackProject(tmp_path / "project", state_dir, tmp_path / "pulumi")
    project.init_stack(STACK, stack_config(1))
    run_pulumi(project.pulumi, ("up", "--yes", "--skip-preview"))
    assert _orgs_now(admin) == script_up
    project.edit_stack(STACK, change_one_setting)
    run_pulumi(project.pulumi, ("up", "--yes", "--skip-preview"))
    assert _orgs_now(admin) == script_change
    run_pulumi(project.pulumi, ("destroy", "--yes", "--skip-preview"))
    assert _orgs_now(admin) == empty


def test_the_bound_is_the_longest_chain_of_dependent_calls() -> None:
    latency = {"oauth": 0.3, "metadata": 1.0, "rest": 0.1}
    calls = (
        model.Call("login", ("oauth",)),
        model.Call("create", ("metadata",), ("login",)),
        model.Call("query", ("rest",), ("login",)),
        model.Call("insert", ("rest",), ("query",)),
        model.Call("proof", ("rest", "oauth"), ("create", "insert")),
    )
    seconds, chain = model.critical_path(calls, latency)
    assert seconds == pytest.approx(0.3 + 1.0 + 0.4)
    assert chain == ["login", "create", "proof"]
    with pytest.raises(ValueError, match="'nothing'"):
        model.critical_path((model.Call("a", ("rest",), ("nothing",)),), latency)
    with pytest.raises(ValueError, match="cycle"):
        model.critical_path((model.Call("a", ("rest",), ("b",)), model.Call("b", ("rest",), ("a",))), latency)


def test_the_bounds_of_the_change_set_under_a_flat_profile() -> None:
    one_second = dict.fromkeys(("oauth", "rest", "metadata", "deploy", "connect", "tooling", "login"), 1.0)
    # up: login, certificate create and read, app create, the app's Id, its profile access, then
    # the callout (Org A's call plus Org B's token and API call it waits for).
    assert model.bound_s("up", one_second) == 9.0
    assert model.bound_s("change", one_second) == 2.0
    assert model.bound_s("destroy", one_second) == 3.0
    assert model.bound_s("preview", one_second) == 0.0


def test_the_floor_has_the_shape_of_the_stack_it_was_taken_from() -> None:
    stack = "urn:pulumi:bench::orglink::pulumi:pulumi:Stack::orglink-bench"
    component = "urn:pulumi:bench::orglink::orglink:index:OrgToOrgIntegration::App"
    dynamic = "urn:pulumi:bench::orglink::orglink:index:OrgToOrgIntegration$pulumi-python:dynamic:Resource"
    first, second = f"{dynamic}::cert", f"{dynamic}::app"
    provider = "urn:pulumi:bench::orglink::pulumi:providers:pulumi-python::default"
    state = {
        "deployment": {
            "resources": [
                {"urn": stack, "type": "pulumi:pulumi:Stack", "outputs": {"a": 1, "b": 2}},
                {"urn": provider, "type": "pulumi:providers:pulumi-python", "custom": True},
                {"urn": component, "type": "orglink:index:OrgToOrgIntegration", "parent": stack},
                {"urn": first, "type": "pulumi-python:dynamic:Resource", "custom": True, "parent": component,
                 "inputs": {"__provider": "x", "a": 1}, "outputs": {"__provider": "x", "a": 1, "b": 2}},
                {"urn": second, "type": "pulumi-python:dynamic:Resource", "custom": True, "parent": component,
                 "dependencies": [first], "inputs": {"a": 1, "c": 3, "d": 4}, "outputs": {"a": 1}},
            ]
        }
    }  # fmt: skip
    shape = floor.shape(state)
    assert floor.summary(shape) == {
        "components": 1, "resources": 2, "dependencies": 1, "properties": 5, "outputs": 2,
    }  # fmt: skip
    assert [r["parent"] for r in shape["resources"]] == [None, component, component]
