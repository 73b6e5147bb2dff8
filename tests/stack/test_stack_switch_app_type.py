"""Switching a live stack from `app_type: connected_app` to `external_client_app`, through the real CLI.

The promise (README "Moving from a Connected App to an External Client App"): Org A never
holds credentials that Org B refuses. Pulumi gives it: the ECA's resources have other URNs (other
type tokens and names), so the switch creates them; Org A's PrincipalCredential depends on all of
them and is updated in place with the ECA's key and secret; the connected app's resources left the
program, and the engine deletes those only after every create and update of the run.

Proved two ways while `pulumi up` switches:
- a probe thread asks Org B for a client-credentials token, again and again, with whatever key and
  secret Org A's principal holds at that moment (found through the admin side: the principal's
  credential digests matched against Org B's apps), and never gets a refusal;
- the engine's event stream (`pulumi up --json`) orders "PrincipalCredential updated" before
  "ConnectedApp delete began".
Afterwards Org B has only the ECA, Org A's principal holds its key, the verification is ok, and a
destroy leaves both orgs as they were.

Run twice: with apps usable at once, and with the emulator refusing a new or changed app for a few
seconds (`app-propagation-seconds`, as a real org does for minutes). Then only the integration's
token gate, which Org A's PrincipalCredential waits for, keeps the probe from seeing a refusal; and
the first `up` from empty orgs still succeeds, the gate waiting out the window.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import requests

from providers.framework.debug_log import SDK_DEBUG_ENV
from tests.emulator_fixtures import CREATION_SETTING
from tests.engine import change_counts
from tests.stack_project import Settings, StackProject, org_snapshots, shipped_stack_settings

STACK = "switch"
PROPAGATION = "app-propagation-seconds"
DYNAMIC = "pulumi-python:dynamic/salesforce:"
CONNECTED_APP_TYPES = ("ConnectedApp", "ConnectedAppPolicy", "ClientCredentialsRunAsUser",
                       "ConnectedAppProfileAssignment")  # fmt: skip
ECA_TYPES = ("ExternalClientApp", "ExternalClientAppPolicy", "ExternalClientAppRunAsUser",
             "ExternalClientAppProfileAssignment")  # fmt: skip


def digest(value: str) -> str:
    """How the emulator's snapshot shows a stored principal credential value."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def org_b_apps(org_b: dict[str, Any]) -> list[tuple[str, str]]:
    """(consumer key, secret) of every app in Org B, connected apps and ECAs alike."""
    components = org_b["components"]
    apps = [app["oauthConfig"] for app in components.get("ConnectedApp", {}).values()]
    apps += list(components.get("ExtlClntAppGlobalOauthSettings", {}).values())
    return [(str(app.get("consumerKey")), str(app.get("consumerSecret"))) for app in apps]


# The stack's external credential in Org A (`<api_name>_<stack>`); other tests may leave others.
EXTERNAL_CREDENTIAL = f"CarrierAPI_App_{STACK}"


def principal_digests(org_a: dict[str, Any]) -> tuple[str, str] | None:
    """Digests of the client id and secret Org A's principal holds now (None: no credentials)."""
    mine = [c for c in org_a["credentials"] if c.get("externalCredential") == EXTERNAL_CREDENTIAL]
    [held] = mine or [None]
    if held is None:
        return None
    return held["credentials"]["clientId"]["sha256"], held["credentials"]["clientSecret"]["sha256"]


@dataclass
class Probe:
    """Token requests with Org A's current credentials, in a thread, until stopped."""

    admin: Any
    token_url: str
    ca_bundle: str
    samples: list[tuple[str, str]] = field(default_factory=list)  # (key digest, "ok" | what failed)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()

    def sample(self) -> None:
        held = principal_digests(self.admin.snapshot("orgA"))
        apps = org_b_apps(self.admin.snapshot("orgB"))
        match = [app for app in apps if held and (digest(app[0]), digest(app[1])) == held]
        outcome = self.token(*match[0]) if match else "no app in Org B has Org A's credentials"
        # Count the sample only if Org A held the same credentials from first read to answer:
        # otherwise the reads straddle the principal's update and prove nothing either way.
        if held and principal_digests(self.admin.snapshot("orgA")) == held:
            self.samples.append((held[0], outcome))

    def token(self, key: str, secret: str) -> str:
        form = {"grant_type": "client_credentials", "client_id": key, "client_secret": secret}
        for _attempt in range(3):  # a dropped connection says nothing about the credentials
            try:
                answer = requests.post(self.token_url, data=form, verify=self.ca_bundle, timeout=30)
                break
            except requests.ConnectionError:
                continue
        else:
            return "no answer from Org B's token endpoint"
        if answer.status_code == 200 and answer.json().get("access_token"):
            return "ok"
        return f"HTTP {answer.status_code} {answer.json().get('error')}"  # never the secret


@pytest.fixture(params=[0, 3], ids=["apps-usable-at-once", "apps-propagate-3s"])
def connected_apps_allowed(emulator: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    settings = {CREATION_SETTING: True, PROPAGATION: request.param}
    before = {name: emulator.admin.settings("orgB").get(name) for name in settings}
    for name, value in settings.items():
        emulator.admin.set_setting("orgB", name, value)
    yield emulator
    for name, value in before.items():
        emulator.admin.set_setting("orgB", name, value)


def to_external_client_app(config: Settings) -> None:
    [integration] = config["orglink:integrations"]
    integration["app_type"] = "external_client_app"
    integration["app"]["enable_secret_in_rest_api"] = True


def engine_steps(event_stream: str) -> list[tuple[str, str, str]]:
    """(event, op, resource type) of every step event of `pulumi up --json`, in the engine's order."""
    events = sorted((json.loads(line) for line in event_stream.splitlines() if line.startswith("{")),
                    key=lambda event: event["sequence"])  # fmt: skip
    steps = []
    for event in events:
        for kind in ("resourcePreEvent", "resOutputsEvent"):
            if kind in event:
                metadata = event[kind]["metadata"]
                steps.append((kind, metadata["op"], metadata["type"].removeprefix(DYNAMIC)))
    return steps


def position(steps: list[tuple[str, str, str]], kind: str, op: str, type_: str) -> int:
    return steps.index((kind, op, type_))


def test_switch_to_external_client_app_keeps_org_a_working(
    tmp_path: Path, connected_apps_allowed: Any
) -> None:
    emulator = connected_apps_allowed
    project = StackProject(tmp_path / "project", emulator.state_dir, tmp_path / "pulumi-state")
    project.pulumi.extra_env["ORGLINK_VERIFY_RETRY_S"] = "1"  # seconds of window, not minutes
    before = org_snapshots(emulator.admin)
    project.init_stack(STACK, shipped_stack_settings("local"))
    project.pulumi.up(STACK)
    connected_key = project.pulumi.outputs(STACK)["consumer_key"]

    project.edit_stack(STACK, to_external_client_app)
    preview = project.pulumi.preview_json(STACK)
    # Updated: the Preflight (it checks the ECA's name and secret access before anything is made),
    # the token gate, Org A's principal, the verification.
    assert change_counts(preview) == {"create": 4, "update": 4, "delete": 4}, change_counts(preview)

    probe = Probe(emulator.admin, emulator.org("orgB")["token_url"], emulator.org("orgB")["ca_bundle"])
    thread = threading.Thread(target=probe.run, daemon=True)
    thread.start()
    # The engine's events, one JSON object a line, with the SDK's debug lines (ORGLINK_SDK_DEBUG).
    debugging = replace(project.pulumi, extra_env={**project.pulumi.extra_env, SDK_DEBUG_ENV: "1"})
    up = debugging.up(STACK, "--json")
    probe.stop.set()
    thread.join(timeout=60)
    probe.sample()  # one after the switch for sure

    outputs = project.pulumi.outputs(STACK)
    assert outputs["verification"]["ok"] is True, outputs["verification"]
    eca_key = outputs["consumer_key"]
    assert eca_key != connected_key

    # Org A was never left with credentials Org B refuses, before, during or after the switch.
    failures = [outcome for _, outcome in probe.samples if outcome != "ok"]
    assert not failures, failures
    held_keys = {key for key, _ in probe.samples}
    assert held_keys == {digest(connected_key), digest(eca_key)}, "the probe saw both apps' keys"

    # The engine's order: ECA created, Org A moved to it, verified, and only then the deletes.
    steps = engine_steps(up.stdout)
    principal_done = position(steps, "resOutputsEvent", "update", "PrincipalCredential")
    assert position(steps, "resOutputsEvent", "create", "ExternalClientApp") < principal_done
    # The token gate (the first Verification to finish) passed before Org A took the ECA's key.
    assert position(steps, "resOutputsEvent", "update", "Verification") < position(
        steps, "resourcePreEvent", "update", "PrincipalCredential"
    )
    for type_ in (*ECA_TYPES[1:], "Verification"):
        op = "update" if type_ == "Verification" else "create"
        assert position(steps, "resOutputsEvent", op, type_) < position(
            steps, "resourcePreEvent", "delete", "ConnectedApp"
        ), type_
    first_delete = min(i for i, (_, op, _t) in enumerate(steps) if op == "delete")
    assert principal_done < first_delete
    assert {t for _, op, t in steps if op == "delete"} == set(CONNECTED_APP_TYPES)

    # Of what the stack made, Org B keeps only the ECA; Org A's principal holds its key. (Other
    # tests' apps may share the session's emulator: compare with what was there before.)
    live = org_snapshots(emulator.admin)
    had_apps = set(before["orgB"]["components"].get("ConnectedApp", {}))
    assert not set(live["orgB"]["components"].get("ConnectedApp", {})) - had_apps
    had_keys = {key for key, _ in org_b_apps(before["orgB"])}
    assert [key for key, _ in org_b_apps(live["orgB"]) if key not in had_keys] == [eca_key]
    held = principal_digests(live["orgA"])
    assert held is not None and held[0] == digest(eca_key)

    secret = project.pulumi.outputs(STACK, show_secrets=True)["consumer_secret"]
    # --json streams the SDK's debug messages too: the program keeps secret values out of them.
    leaked = secret in up.stdout + up.stderr
    assert not leaked, "the consumer secret is in the output of pulumi up --json"  # no value shown

    project.pulumi.run("destroy", "--yes", "--stack", STACK)
    assert org_snapshots(emulator.admin) == before
