"""The shipped stacks' lifecycle through the real Pulumi CLI, checked in both orgs' content.

One project and stack per shipped stack (`local`: a connected app, `local-eca`: an External Client
App), applied once and then taken through the steps users take, in order:
1. `up` on the orgs creates everything, and a second `up`/`preview` changes and writes nothing;
2. one setting changed in the stack file is an in-place update of only its resource, old and new
   value in `preview --diff`, and `up` changes that one field in the org;
3. a policy changed in Setup is shown by `refresh` and put back by the next `up`, and so is the
   callout user's permission set assignment removed in Setup;
9. no secret in the state, the stack outputs, the CLI's output or its verbose logs;
4. `destroy` returns both orgs to their exact starting content; an unrelated connected app and
   named credential made beforehand are untouched.
Org snapshots hold secrets: they are compared as changed paths, never printed.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from providers.framework.debug_log import SDK_DEBUG_ENV
from tests.emulator_fixtures import jwt_login
from tests.engine import change_counts
from tests.lifecycle_support import (
    ECA_STACKS,
    access_token_digests,
    asking,
    base_name,
    changed_paths,
    component_names,
    connected_apps_allowed,
    leaked_access_tokens,
    new_project,
    secrets_found,
)
from tests.stack_project import ORGS, StackProject, org_snapshots, shipped_stack_settings, write_counts

STACKS = ["local", "local-eca"]
POLICY = "ExtlClntAppOauthConfigurablePolicies"
POLICY_COMPONENT = {"local": "ConnectedApp", "local-eca": POLICY}
POLICY_RESOURCE = {"local": "policy", "local-eca": "eca-policy"}  # after "<base>-" in the URN


@dataclass
class Deployed:
    stack: str
    project: StackProject
    admin: Any
    emulator: Any
    before: dict[str, Any]  # both orgs before the first up (unrelated objects included)
    first_up: subprocess.CompletedProcess[str]
    unrelated: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return base_name(self.stack)

    @property
    def policy_resource(self) -> str:
        return f"{self.base}-{POLICY_RESOURCE[self.stack]}"


def unrelated_objects(admin: Any) -> dict[str, str]:
    """A connected app in Org B and a named credential in Org A that no stack manages."""
    suffix = secrets.token_hex(3)
    app, named = f"Someone_Elses_App_{suffix}", f"Someone_Elses_Endpoint_{suffix}"
    key, secret = "Unrelated" + secrets.token_hex(12), "UnrelatedSecret" + secrets.token_hex(12)
    admin.put_component("orgB", "ConnectedApp", app, {
        "label": "Someone else's app", "contactEmail": "someone@example.com",
        "oauthConfig": {"callbackUrl": "https://example.com/cb", "consumerKey": key,
                        "consumerSecret": secret, "scopes": ["Api"]},
        "oauthPolicy": {"ipRelaxation": "ENFORCE", "refreshTokenPolicy": "infinite"},
    })  # fmt: skip
    admin.put_component("orgA", "NamedCredential", named, {
        "label": "Someone else's endpoint", "namedCredentialType": "SecuredEndpoint",
        "calloutStatus": "Enabled", "generateAuthorizationHeader": True,
        "namedCredentialParameters": [{"parameterName": "Url", "parameterType": "Url",
                                       "parameterValue": "https://example.com"}],
    })  # fmt: skip
    return {"orgB": f"ConnectedApp/{app}", "orgA": f"NamedCredential/{named}"}


@pytest.fixture(scope="module", params=STACKS)
def deployed(
    request: pytest.FixtureRequest, emulator: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    stack: str = request.param
    admin = emulator.admin
    with connected_apps_allowed(admin, stack):
        unrelated = unrelated_objects(admin)
        project = new_project(tmp_path_factory.mktemp(f"lifecycle-{stack}"), emulator.state_dir)
        project.init_stack(stack, shipped_stack_settings(stack))
        before = org_snapshots(admin)
        # The first up logs all it can, searched for secrets later. Not -v=9: at that level the
        # engine itself dumps every RPC property in clear, secrets included (README says so).
        # ORGLINK_SDK_DEBUG=1: the program sends the SDK's debug lines too (secrets withheld).
        debugging = replace(project.pulumi, extra_env={**project.pulumi.extra_env, SDK_DEBUG_ENV: "1"})
        first_up = debugging.up(stack, "--debug", "-v=8", "--logtostderr", "--logflow")
        yield Deployed(stack, project, admin, emulator, before, first_up, unrelated)
        # Whatever a test left, leave the orgs as they were for the next module.
        project.pulumi.run("destroy", "--yes", "--stack", stack, check=False)
        for alias, ref in unrelated.items():
            mtype, name = ref.split("/", 1)
            admin.delete_component(alias, mtype, name)


def test_up_on_empty_orgs_creates_everything(deployed: Deployed) -> None:
    after = org_snapshots(deployed.admin)
    outputs = deployed.project.pulumi.outputs(deployed.stack)
    assert outputs["verification"]["ok"] is True, outputs["verification"]
    new = {alias: component_names(after[alias]) - component_names(deployed.before[alias]) for alias in ORGS}
    base = deployed.base
    assert new["orgA"] == {f"Certificate/{base}", f"ExternalCredential/{base}", f"NamedCredential/{base}",
                           f"PermissionSet/{base}_Access"}  # fmt: skip
    if deployed.stack in ECA_STACKS:
        assert f"ExternalClientApplication/{base}" in new["orgB"]
        assert all(name.split("/", 1)[1].startswith(base) for name in new["orgB"]), sorted(new["orgB"])
        eca_parts = {"ExtlClntAppGlobalOauthSettings", "ExtlClntAppOauthSettings", POLICY}
        assert {name.split("/")[0] for name in new["orgB"]} >= eca_parts
    else:
        assert new["orgB"] == {f"ConnectedApp/{base}"}
        app = after["orgB"]["components"]["ConnectedApp"][base]
        assert app["oauthConfig"]["consumerKey"] == outputs["consumer_key"]
        assert app["sessionPolicy"]["sessionTimeout"] == 1440
    # The verification callout ran as Org A's admin, who holds the access only through the one
    # assignment the stack made (the emulator refuses a callout without it).
    assert outputs["verification"]["ok"] is True and "callout:" in outputs["verification"]["detail"]
    assert callout_assignments(deployed) == [(ADMIN_A, f"{base}_Access")]
    # Org A's principal holds Org B's consumer key (Salesforce keeps a hash of it here).
    [principal] = [c for c in after["orgA"]["credentials"] if c["externalCredential"] == base]
    assert principal["principalName"] == "OrgB"
    assert outputs["named_credential"] == base


def test_second_up_and_preview_change_and_write_nothing(deployed: Deployed) -> None:
    pulumi, stack, admin = deployed.project.pulumi, deployed.stack, deployed.admin
    before = org_snapshots(admin)
    for alias in ORGS:
        admin.mark(alias)
    assert change_counts(pulumi.preview_json(stack)) == {}
    up = pulumi.up(stack)
    assert re.search(r"\b\d+ unchanged", up.stdout) and " to create" not in up.stdout
    assert {alias: write_counts(admin, alias) for alias in ORGS} == {"orgA": {}, "orgB": {}}
    assert changed_paths(before, org_snapshots(admin)) == []


def test_one_setting_changed_updates_only_its_owner(deployed: Deployed) -> None:
    pulumi, stack, admin = deployed.project.pulumi, deployed.stack, deployed.admin

    def shorter_sessions(config: dict[str, Any]) -> None:
        config["orglink:integrations"][0]["policy"]["session_timeout"] = 120

    deployed.project.edit_stack(stack, shorter_sessions)
    text = pulumi.run("preview", "--diff", "--stack", stack).stdout
    changed = re.findall(r"^\s*[~+\-]+ (pulumi-python:dynamic/salesforce:\w+): \((\w[\w-]*)\)", text, re.M)
    assert len(changed) == 1 and changed[0][1] == "update", text
    assert changed[0][0].endswith("Policy")
    assert re.search(r"~ session_timeout\s*: 1440 => 120", text), text
    # Only that one property is marked as changed.
    assert len(re.findall(r"^\s*~ \w+\s*:", text, re.M)) == 1, text
    steps = [s for s in pulumi.preview_json(stack)["steps"] if s["op"] != "same"]
    assert [s["op"] for s in steps] == ["update"]
    assert steps[0]["urn"].endswith(f"::{deployed.policy_resource}")
    assert steps[0]["oldState"]["outputs"]["session_timeout"] == 1440
    assert steps[0]["newState"]["inputs"]["session_timeout"] == 120

    before = org_snapshots(admin)
    pulumi.up(stack)
    after = org_snapshots(admin)
    [path] = changed_paths(before, after)
    component = POLICY_COMPONENT[stack]
    assert path.startswith(f"orgB.components.{component}.{deployed.base}")
    assert path.endswith(("sessionPolicy.sessionTimeout", "sessionTimeoutInMinutes")), path
    assert int(_at(after, path)) == 120 and int(_at(before, path)) == 1440


ADMIN_A = "admin@orga.orglink.test"


def callout_assignment_rows(deployed: Deployed) -> list[tuple[str, str, str]]:
    """(Id, username, permission set) of every assignment of the stack's access permission set."""
    rows = deployed.admin.query(
        "orgA",
        "SELECT Id, Assignee.Username, PermissionSet.Name FROM PermissionSetAssignment "
        f"WHERE PermissionSet.Name = '{deployed.base}_Access'",
    )["records"]
    return [(row["Id"], row["Assignee"]["Username"], row["PermissionSet"]["Name"]) for row in rows]


def callout_assignments(deployed: Deployed) -> list[tuple[str, str]]:
    return [(user, permission_set) for _id, user, permission_set in callout_assignment_rows(deployed)]


def _at(snapshot: dict[str, Any], path: str) -> Any:
    """The value at a flattened path (names here hold no dots or brackets)."""
    value: Any = snapshot
    for part in path.split("."):
        value = value[part]
    return value


def _policy_name(deployed: Deployed) -> str:
    names = deployed.admin.snapshot("orgB")["components"][POLICY_COMPONENT[deployed.stack]]
    [name] = [n for n in names if n.startswith(deployed.base)]
    return str(name)


def test_drift_is_shown_by_refresh_and_restored_by_up(deployed: Deployed) -> None:
    pulumi, stack, admin = deployed.project.pulumi, deployed.stack, deployed.admin
    component, name = POLICY_COMPONENT[stack], _policy_name(deployed)
    declared = org_snapshots(admin)
    # A person in Setup sets "IP Relaxation" back to "Enforce IP restrictions".
    body = admin.get_component("orgB", component, name)
    if stack in ECA_STACKS:
        assert body["ipRelaxationPolicyType"] == "Bypass"
        body["ipRelaxationPolicyType"] = "Enforce"
    else:
        assert body["oauthPolicy"]["ipRelaxation"] == "BYPASS"
        body["oauthPolicy"]["ipRelaxation"] = "ENFORCE"
    admin.put_component("orgB", component, name, body)

    text = asking(pulumi).run("refresh", "--preview-only", "--diff", "--stack", stack).stdout
    assert re.search(r'~ ip_relaxation\s*: "BYPASS" => "ENFORCE"', text, re.I), text
    summary = json.loads(asking(pulumi).run("refresh", "--preview-only", "--json", "--stack", stack).stdout)
    assert change_counts(summary) == {"update": 1}

    pulumi.run("refresh", "--yes", "--stack", stack)
    steps = [s for s in pulumi.preview_json(stack)["steps"] if s["op"] != "same"]
    assert [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in steps] == [("update", deployed.policy_resource)]
    pulumi.up(stack)
    assert changed_paths(declared, org_snapshots(admin)) == []


def test_callout_access_removed_in_setup_is_seen_by_refresh_and_restored_by_up(deployed: Deployed) -> None:
    pulumi, stack, admin = deployed.project.pulumi, deployed.stack, deployed.admin
    resource = f"{deployed.base}-callout-user-{ADMIN_A}"
    [(assignment_id, _user, _set)] = callout_assignment_rows(deployed)
    # A person in Setup removes the permission set from the admin's assignments.
    assert admin.delete_record("orgA", "PermissionSetAssignment", assignment_id) is True
    assert callout_assignments(deployed) == []

    text = asking(pulumi).run("refresh", "--preview-only", "--diff", "--stack", stack).stdout
    assert re.search(r"- pulumi-python:dynamic/salesforce:PermissionSetAssignment: \(delete\)", text), text
    summary = json.loads(asking(pulumi).run("refresh", "--preview-only", "--json", "--stack", stack).stdout)
    assert change_counts(summary) == {"delete": 1}
    pulumi.run("refresh", "--yes", "--stack", stack)
    steps = [s for s in pulumi.preview_json(stack)["steps"] if s["op"] != "same"]
    assert [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in steps] == [("create", resource)]
    pulumi.up(stack)
    assert callout_assignments(deployed) == [(ADMIN_A, f"{deployed.base}_Access")]


def test_no_secret_in_state_outputs_or_logs(deployed: Deployed) -> None:
    pulumi, stack, emulator = deployed.project.pulumi, deployed.stack, deployed.emulator
    consumer_secret = pulumi.outputs(stack, show_secrets=True)["consumer_secret"]
    assert len(consumer_secret) >= 8
    org_a = emulator.admin.snapshot("orgA")
    [private_key] = [
        c["privateKey"] for n, c in org_a["components"]["Certificate"].items() if n == deployed.base
    ]
    key_lines = [line for line in private_key.splitlines() if line and "-----" not in line]
    wanted = {
        "consumer secret": consumer_secret,
        **{f"{alias} admin password": emulator.org(alias)["admin_password"] for alias in ORGS},
        # Any one line of the org's private key would be a leak of key material.
        **{f"private key line {i}": line for i, line in enumerate(key_lines)},
    }
    # The orgs keep only digests of the sessions they issued: a token-shaped text is checked against them.
    issued = access_token_digests(emulator.state_dir).values()
    assert any(name.startswith("orgA access token") for name in issued)
    state = json.dumps(pulumi.export_state(stack))
    plain_outputs = pulumi.run("stack", "output", "--json", "--stack", stack).stdout
    plain_outputs += pulumi.run("stack", "output", "--stack", stack).stdout
    logs = deployed.first_up.stdout + deployed.first_up.stderr
    # The engine and the SDK really logged verbosely, so the search means something.
    assert len(deployed.first_up.stderr) > 100_000
    backend_files = "".join(
        path.read_text(errors="replace")
        for path in (deployed.project.pulumi.state_dir / "backend").rglob("*")
        if path.is_file()
    )
    for text in (state, plain_outputs, logs, backend_files):
        assert secrets_found(text, wanted) == []
        assert leaked_access_tokens(text, emulator.state_dir) == []
    assert "[secret]" in plain_outputs


def pem_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM text: any one of them in a file would leak key material."""
    return [line for line in pem.splitlines() if line and "-----" not in line]


def test_no_secret_in_plain_text_under_the_emulator_state_dir(deployed: Deployed) -> None:
    """After a full `up` (and the emulator's own logins and refresh tokens), every file under the
    emulator's state dir, SQLite WAL and journals included, holds no secret value in plain text."""
    pulumi, stack, emulator = deployed.project.pulumi, deployed.stack, deployed.emulator
    consumer_secret = pulumi.outputs(stack, show_secrets=True)["consumer_secret"]
    org_a = emulator.admin.snapshot("orgA")
    certificates = org_a["components"]["Certificate"]
    [private_key] = [c["privateKey"] for n, c in certificates.items() if n == deployed.base]
    session = jwt_login(emulator.org("orgB"), emulator.ca_bundle)["access_token"]
    refresh = emulator.admin.issue_refresh_token("orgB", emulator.org("orgB")["login"]["consumer_key"],
                                                 emulator.org("orgB")["admin_username"])  # fmt: skip
    wanted = {
        "consumer secret (also Org A's principal secret)": consumer_secret,
        "an access token": session,
        "a refresh token": refresh,
        **{f"{alias} admin password": emulator.org(alias)["admin_password"] for alias in ORGS},
        **{f"org A private key line {i}": line for i, line in enumerate(pem_lines(private_key))},
        **{
            f"{alias} CI login key line {i}": line
            for alias in ORGS
            for i, line in enumerate(pem_lines(emulator.org(alias)["login"]["private_key"]))
        },
    }
    files = [path for path in emulator.state_dir.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"orgA.sqlite", "orgA.sqlite-wal", "orgs.json", "server-key.pem"} <= names, names
    for path in files:
        text = path.read_bytes().decode("latin-1")
        assert secrets_found(text, wanted) == [], path.name
        assert leaked_access_tokens(text, emulator.state_dir) == [], path.name


def test_destroy_returns_both_orgs_to_their_start(deployed: Deployed) -> None:
    pulumi, stack, admin = deployed.project.pulumi, deployed.stack, deployed.admin
    pulumi.run("destroy", "--yes", "--stack", stack)
    after = org_snapshots(admin)
    assert changed_paths(deployed.before, after) == []
    # Not even their bookkeeping changed: nobody wrote to the unrelated objects.
    for alias, ref in deployed.unrelated.items():
        mtype, name = ref.split("/", 1)
        untouched = (
            after[alias]["components"][mtype][name] == deployed.before[alias]["components"][mtype][name]
        )
        assert untouched, f"{ref} in {alias} was written to"
    assert pulumi.export_state(stack)["deployment"].get("resources") in (None, [])
