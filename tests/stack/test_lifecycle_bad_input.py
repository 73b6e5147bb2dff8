"""Mistakes users make in a stack file, through the real Pulumi CLI.

Each case takes the shipped `local` stack, makes one mistake, and runs `pulumi preview` (where the
mistake can be known without the org) or `pulumi preview` then `pulumi up` (where only the org
knows: the integration's Preflight asks both orgs before anything is written). The error must name
the setting and say how to fix it, come without a Python traceback or the secret involved, and leave
both orgs exactly as they were.

Speed: the cases run several at once in one project, each with its own config file
(`--config-file`): the previews share one stack (a preview writes no state), the ups take one of a
few stacks of their own (an up locks its stack; a failed one leaves it empty for the next). Both
orgs are snapshotted around the whole catalogue and every request counted: no content write at all
may happen, which is stricter than comparing snapshots per case (it also catches an object made and
removed again).
"""

# The catalogue below is a table, one mistake per line: long lines read better than wrapped ones.
# ruff: noqa: E501

from __future__ import annotations

import base64
import copy
import datetime
import os
import queue
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.emulator_fixtures import CREATION_SETTING
from tests.lifecycle_support import changed_paths, component_names, connected_apps_allowed, new_project
from tests.stack_project import ORGS, StackProject, org_snapshots, shipped_stack_settings, write_counts

STACK = "mistakes"
# Filled in with the test emulator's values (they are known only once it runs).
LOGIN_URL, LOGIN_URL_B, CA_BUNDLE = "<orgA login_url>", "<orgB login_url>", "<emulator ca_bundle>"
PASSWORD_B = "<orgB admin_password>"
# A connected app and an External Client App a person made in Org B's Setup (the fixture puts them
# there): not orglink's.
UNRELATED_APP, TAKEN_KEY = "Orglink_Unrelated_App", "OrglinkUnrelatedKey0001"
UNRELATED_ECA = "Orglink_Unrelated_Eca"
WRONG_PASSWORD = "Wrong-Password-4711"  # must never show in the CLI's output

# The password cases play established orgs, which still allow SOAP login(); one case plays a new org.
SOAP_SETTING = "soap-login-enabled"
# CLI runs at once: each is mostly process start-up; more than this only queues on 2 cores.
WORKERS = int(os.environ.get("ORGLINK_CATALOGUE_WORKERS", "4"))
Config = dict[str, Any]


@dataclass(frozen=True)
class Mistake:
    name: str
    change: Callable[[Config], None]
    expected: tuple[str, ...]  # every one must be in the error output
    at: str = "preview"  # or "up": only the org can tell
    # Org settings the case needs ({alias: {setting: value}}): such cases run one at a time after
    # the others, with the settings put back afterwards (the orgs are shared by every case).
    org_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def config_file(self) -> str:
        return f"stacks/mistake-{MISTAKES.index(self)}.yaml"


def integration(config: Config) -> dict[str, Any]:
    first: dict[str, Any] = config["orglink:integrations"][0]
    return first


def app(**settings: Any) -> Callable[[Config], None]:
    return lambda config: integration(config)["app"].update(settings)


def policy(**settings: Any) -> Callable[[Config], None]:
    return lambda config: integration(config)["policy"].update(settings)


def setting(**settings: Any) -> Callable[[Config], None]:
    return lambda config: integration(config).update(settings)


def without(key: str) -> Callable[[Config], None]:
    return lambda config: integration(config).pop(key)


def as_eca(*changes: Callable[[Config], None]) -> Callable[[Config], None]:
    """The `local-eca` stack's integration (an External Client App), then the changes."""

    def change(config: Config) -> None:
        config["orglink:integrations"][0] = copy.deepcopy(
            shipped_stack_settings("local-eca")["orglink:integrations"][0]
        )
        for more in changes:
            more(config)

    return change


def without_app_setting(key: str) -> Callable[[Config], None]:
    return lambda config: integration(config)["app"].pop(key)


def org(alias: str, **settings: Any) -> Callable[[Config], None]:
    def change(config: Config) -> None:
        config["orglink:orgs"][alias].update(settings)
        for name, value in settings.items():
            if value is None:
                config["orglink:orgs"][alias].pop(name)

    return change


def drop_org(alias: str) -> Callable[[Config], None]:
    return lambda config: config["orglink:orgs"].pop(alias)


def org_b_login(login_url: str, password: str) -> Callable[[Config], None]:
    """Org B by username and password, as on a real org (the emulator's admin of Org B)."""
    return org("orgB", auth="password", login_url=login_url, ca_bundle=CA_BUNDLE,
               username="admin@orgb.orglink.test", password=password)  # fmt: skip


# fmt: off
MISTAKES = [
    Mistake("bad e-mail", app(contact_email="admin@orgb"), ("contact_email", "e-mail")),
    Mistake(
        "callback URL without scheme", app(callback_urls=["localhost:8081/callback"]), ("callback_urls",)
    ),
    Mistake("callback URLs as one string of garbage", app(callback_urls=["not a url"]), ("callback_urls",)),
    Mistake("unknown scope", app(scopes=["api", "superpowers"]), ("scopes", "superpowers")),
    Mistake("scopes not a list", app(scopes=42), ("scopes",)),
    Mistake("wrong-case enum value", policy(ip_relaxation="bypass"), ("ip_relaxation", "BYPASS")),
    Mistake(
        "unknown refresh token policy", policy(refresh_token_policy="forever"), ("refresh_token_policy",)
    ),
    Mistake("unknown permitted users", policy(permitted_users="AdminApproved"), ("permitted_users",)),
    Mistake("unsupported session timeout", policy(session_timeout=45), ("session_timeout",)),
    Mistake("session timeout as text", policy(session_timeout="a day"), ("session_timeout",)),
    Mistake("consumer key with a dash", app(consumer_key="my-consumer-key-1"), ("consumer_key", "'-'")),
    Mistake("consumer key too short", app(consumer_key="abc"), ("consumer_key", "8 to 256")),
    Mistake("consumer secret with spaces", app(consumer_secret="not a valid secret"), ("consumer_secret",)),
    Mistake("flag that is not a boolean", app(pkce_required="sometimes"), ("pkce_required",)),
    Mistake("misspelt app setting", app(contact_emial="a@example.com"), ("contact_emial", "contact_email")),
    Mistake(
        "setting the integration wires", app(certificate="-----BEGIN CERTIFICATE-----"), ("certificate",)
    ),
    Mistake("misspelt integration setting", setting(run_as="admin@orgb.orglink.test"), ("run_as",)),
    Mistake("unknown app type", setting(app_type="connectedapp"), ("app_type", "connected_app")),
    Mistake("unknown flow", setting(flow="jwt_bearer_flow"), ("flow", "client_credentials")),
    Mistake("unknown key size", setting(certificate={"key_size": 1024}), ("key_size", "2048")),
    Mistake("run-as user that is not a username", setting(run_as_user="admin"), ("run_as_user",)),
    Mistake("no run-as user", without("run_as_user"), ("run_as_user",)),
    Mistake("no name", without("name"), ("name", "required")),
    Mistake("org alias missing from config", setting(org_b="orgC"), ("orgC", "orglink:orgs")),
    Mistake("same org twice", setting(org_b="orgA"), ("org_b", "another org")),
    Mistake("unknown verify mode", setting(verify="maybe"), ("verify",)),
    Mistake("unknown auth mode", org("orgA", auth="oauth"), ("auth", "emulator")),
    Mistake(
        "login URL without https",
        org(
            "orgA",
            auth="password",
            login_url="http://login.example.com",
            username="u@example.com",
            password="x",
        ),
        ("login_url", "https"),
    ),  # fmt: skip
    Mistake("org connection missing", drop_org("orgA"), ("orgA",)),
    Mistake("callout user that is not a username", setting(callout_users=["admin"]), ("integrations[0].callout_users", "username")),
    Mistake("callout users left to a connection that cannot tell its user", org("orgA", auth="client_credentials", instance_url=LOGIN_URL, ca_bundle=CA_BUNDLE, consumer_key="SomeKey0001", consumer_secret="SomeSecret0001", state_dir=None), ("integrations[0].callout_users", "auth client_credentials", "callout_users: []")),
    # Only the orgs know these: they pass preview and fail at `up`, in the Preflight, before any write.
    Mistake("unknown profile", setting(profiles=["Sys Admin"]), ("integrations[0].profiles", "Sys Admin"), "up"),
    Mistake("unknown permission set", setting(permission_sets=["Integration_Acess"]), ("integrations[0].permission_sets", "Integration_Acess"), "up"),
    Mistake("unknown run-as user", setting(run_as_user="nobody@orgb.orglink.test"), ("integrations[0].run_as_user", "nobody@orgb", "username"), "up"),
    Mistake("run-as user of the other org", setting(run_as_user="integration@orga.orglink.test"), ("integrations[0].run_as_user", "integration@orga"), "up"),
    Mistake("inactive run-as user", setting(run_as_user="inactive@orgb.orglink.test"), ("integrations[0].run_as_user", "inactive"), "up"),
    Mistake("wrong password", org("orgA", auth="password", login_url=LOGIN_URL, ca_bundle=CA_BUNDLE, username="admin@orga.orglink.test", password=WRONG_PASSWORD), ("orglink:orgs.orgA", "INVALID_LOGIN", "orglink:orgs.orgA.auth: 'password'", "legacy", "June 2027"), "up"),
    Mistake("wrong Org B credentials", org_b_login(LOGIN_URL_B, WRONG_PASSWORD), ("orglink:orgs.orgB", "INVALID_LOGIN"), "up"),
    Mistake("wrong Org B login URL", org_b_login(LOGIN_URL, PASSWORD_B), ("orglink:orgs.orgB", "INVALID_LOGIN", "login_url"), "up"),
    Mistake("unknown callout user", setting(callout_users=["nobody@orga.orglink.test"]), ("integrations[0].callout_users", "nobody@orga", "Setup > Users"), "up"),
    Mistake("callout user of the other org", setting(callout_users=["admin@orga.orglink.test", "admin@orgb.orglink.test"]), ("integrations[0].callout_users", "admin@orgb"), "up"),
    Mistake("inactive callout user", setting(callout_users=["inactive@orga.orglink.test"]), ("integrations[0].callout_users", "inactive@orga", "is inactive"), "up"),
    Mistake("unknown existing certificate", setting(certificate={"existing": "No_Such_Cert"}), ("certificate.existing", "No_Such_Cert"), "up"),
    Mistake("expired existing certificate", setting(certificate={"existing": "Orglink_Expired_Cert"}), ("certificate.existing", "expired"), "up"),
    Mistake("garbage existing certificate", setting(certificate={"existing": "Orglink_Garbage_Cert"}), ("certificate.existing", "X.509"), "up"),
    Mistake("adopt of an app Org B does not have", app(adopt=True), ("integrations[0].app.adopt", "no connected app"), "up"),
    Mistake("app name of an unrelated connected app", setting(api_name=UNRELATED_APP, name_suffix=""), ("integrations[0].app", UNRELATED_APP, "adopt: true"), "up"),
    Mistake("consumer key of another app", app(consumer_key=TAKEN_KEY), ("integrations[0].app.consumer_key", UNRELATED_APP), "up"),
    # The same stack as an External Client App (app_type external_client_app, the `local-eca` stack).
    Mistake("ECA with a setting only connected apps have", as_eca(app(adopt=True)), ("integrations[0].app", "adopt", "external_client_app")),
    Mistake("ECA with an unknown IP relaxation", as_eca(policy(ip_relaxation="RELAXED")), ("ip_relaxation", "RELAXED")),
    Mistake("ECA with an unknown scope", as_eca(app(scopes=["api", "superpowers"])), ("scopes", "superpowers")),
    Mistake("ECA name of an External Client App orglink did not make", as_eca(setting(api_name=UNRELATED_ECA, name_suffix="")), ("integrations[0].app", UNRELATED_ECA, "name_suffix"), "up"),
    Mistake("ECA secrets kept from the REST API, and the stack may not change it", as_eca(without_app_setting("enable_secret_in_rest_api")), ("integrations[0].app.enable_secret_in_rest_api", "INSUFFICIENT_ACCESS", "`enable_secret_in_rest_api: true`"), "up"),
    # External Client Apps are not known on the generic login hosts, and have no password flow.
    Mistake("ECA integration on a generic login host", as_eca(setting(org_b_url="https://login.salesforce.com")), ("integrations[0].org_b_url", "External Client App", "app_not_found", "My Domain")),
    Mistake("ECA-based Org B connection on a generic login host", org("orgB", auth="jwt", app_type="external_client_app", login_url="https://test.salesforce.com", instance_url=LOGIN_URL_B, ca_bundle=CA_BUNDLE, username="deploy@orgb.orglink.test", consumer_key="OrglinkCiEcaKey0001", private_key="ci.key"), ("orglink:orgs.orgB.login_url", "test.salesforce.com", "My Domain")),
    Mistake("password mode on an ECA-based Org B connection", org("orgB", auth="password", app_type="external_client_app", login_url=LOGIN_URL_B, ca_bundle=CA_BUNDLE, username="admin@orgb.orglink.test", password=WRONG_PASSWORD), ("orglink:orgs.orgB.auth", "username-password", "'jwt'", "'client_credentials'")),
    # Not the stack file but Org B: since Spring '26 it refuses new connected apps unless Support
    # enabled them. The Preflight's validate-only deploy finds it before Org A's certificate exists.
    # A new org has SOAP login() off: password mode gets Salesforce's refusal, with the modes to use.
    Mistake("password mode on a new org", org("orgA", auth="password", login_url=LOGIN_URL, ca_bundle=CA_BUNDLE, username="admin@orga.orglink.test", password=WRONG_PASSWORD), ("orglink:orgs.orgA", "INVALID_OPERATION", "SOAP API login() is disabled", "auth 'jwt'", "auth 'sfdx'"), "up", {"orgA": {SOAP_SETTING: False}}),
    Mistake("Org B bans creating connected apps", lambda config: None, ("integrations[0].app_type", "does not allow creating connected apps", "can't be created", "app_type: external_client_app", "adopt: true", "Salesforce Support"), "up", {"orgB": {CREATION_SETTING: False}}),
]
# fmt: on


def expired_certificate_content() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "expired")])
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(past).not_valid_after(past + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    # Stored as the Metadata API returns it: base64Binary of the .crt file (base64 DER, no PEM lines).
    return base64.b64encode(base64.b64encode(cert.public_bytes(serialization.Encoding.DER))).decode()


@pytest.fixture(scope="module")
def mistakes_project(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProject]:
    admin = emulator.admin
    certificates = {
        "Orglink_Expired_Cert": expired_certificate_content(),
        # The Metadata API's content is base64: garbage is base64 of bytes that are no certificate.
        "Orglink_Garbage_Cert": base64.b64encode(b"this is not a certificate").decode(),
    }
    for name, content in certificates.items():
        admin.put_component("orgA", "Certificate", name, {
            "masterLabel": name, "caSigned": False, "keySize": 2048, "content": content})  # fmt: skip
    admin.put_component("orgB", "ExternalClientApplication", UNRELATED_ECA, {
        "label": "Unrelated ECA", "contactEmail": "x@example.com", "description": "Made in Setup",
        "distributionState": "Local", "isProtected": False})  # fmt: skip
    admin.put_component("orgB", "ConnectedApp", UNRELATED_APP, {
        "label": "Unrelated", "contactEmail": "x@example.com",
        "oauthConfig": {"callbackUrl": "http://localhost", "consumerKey": TAKEN_KEY,
                        "consumerSecret": "UnrelatedSecret0001", "scopes": ["Api"]}})  # fmt: skip
    with connected_apps_allowed(admin, "local"), org_settings(admin, {a: {SOAP_SETTING: True} for a in ORGS}):
        project = new_project(tmp_path_factory.mktemp("mistakes"), emulator.state_dir)
        project.init_stack(STACK, shipped_stack_settings("local"))
        yield project
    for name in certificates:
        admin.delete_component("orgA", "Certificate", name)
    admin.delete_component("orgB", "ConnectedApp", UNRELATED_APP)
    admin.delete_component("orgB", "ExternalClientApplication", UNRELATED_ECA)


def test_the_catalogue_is_big_enough() -> None:
    assert len({m.name for m in MISTAKES}) == len(MISTAKES) >= 25


@dataclass
class Outcome:
    """What one mistake's CLI runs gave."""

    text: str = ""  # the failing command's stdout and stderr
    returncode: int = 0
    preview: subprocess.CompletedProcess[str] | None = None  # an up case's preview, which must pass
    resources: list[str] = field(default_factory=list)  # dynamic resources in the state afterwards


@dataclass
class Catalogue:
    outcomes: dict[str, Outcome]
    leftovers: list[str]  # where the orgs' snapshots differ after every case ran
    writes: dict[str, dict[str, int]]  # content writes to each org while they ran


def mistaken_config(mistake: Mistake, emulator: Any) -> Config:
    config = copy.deepcopy(shipped_stack_settings("local"))
    mistake.change(config)
    placeholders = {
        LOGIN_URL: emulator.org("orgA")["login_url"],
        LOGIN_URL_B: emulator.org("orgB")["login_url"],
        PASSWORD_B: emulator.org("orgB")["admin_password"],
        CA_BUNDLE: emulator.ca_bundle,
    }
    for connection in config["orglink:orgs"].values():
        for key, value in connection.items():
            if isinstance(value, str) and value in placeholders:
                connection[key] = placeholders[value]
    return config


def write_config_file(mistake: Mistake, project: StackProject, emulator: Any) -> None:
    """The mistake's stack config, with the state_dir aimed at the emulator (as write_stack does)."""
    config = copy.deepcopy(mistaken_config(mistake, emulator))
    for connection in config.get("orglink:orgs", {}).values():
        if connection.get("auth") == "emulator":
            connection["state_dir"] = str(project.emulator_state_dir)
    stack_file = yaml.safe_load((project.directory / "stacks" / f"Pulumi.{STACK}.yaml").read_text())
    settings = {"encryptionsalt": stack_file["encryptionsalt"], "config": config}
    (project.directory / mistake.config_file).write_text(yaml.safe_dump(settings, sort_keys=False))


def run_mistake(mistake: Mistake, project: StackProject, up_stacks: queue.Queue[str]) -> Outcome:
    """A preview, or (only the org can tell) a preview that passes and a failing up."""
    pulumi, config = project.pulumi, ("--config-file", mistake.config_file)
    outcome = Outcome()
    if mistake.at == "preview":
        result = pulumi.run("preview", "--stack", STACK, *config, check=False)
    else:
        stack = up_stacks.get()
        try:
            outcome.preview = pulumi.run("preview", "--stack", stack, *config, check=False)
            result = pulumi.up(stack, *config, check=False)
            outcome.resources = dynamic_resources(pulumi.export_state(stack))
            if outcome.resources:  # this case fails; still, leave the stack empty for the next one
                pulumi.run("destroy", "--yes", "--stack", stack, *config, check=False)
        finally:
            up_stacks.put(stack)
    outcome.text, outcome.returncode = result.stdout + result.stderr, result.returncode
    return outcome


def dynamic_resources(state: dict[str, Any]) -> list[str]:
    resources = state["deployment"].get("resources") or []
    return [r["type"] for r in resources if r["type"].startswith("pulumi-python:dynamic")]


def content_writes(admin: Any) -> dict[str, dict[str, int]]:
    """Writes since the mark, per org, less logins (a new session changes no content)."""
    logins = ("soap_login.", "oauth.")
    found = {alias: write_counts(admin, alias) for alias in ORGS}
    return {
        alias: {k: n for k, n in kinds.items() if not k.startswith(logins)} for alias, kinds in found.items()
    }


@contextmanager
def org_settings(admin: Any, wanted: dict[str, dict[str, Any]]) -> Iterator[None]:
    before = {alias: admin.settings(alias) for alias in wanted}
    for alias, settings in wanted.items():
        for name, value in settings.items():
            admin.set_setting(alias, name, value)
    try:
        yield
    finally:
        for alias, settings in wanted.items():
            for name in settings:
                admin.set_setting(alias, name, before[alias].get(name))


@pytest.fixture(scope="module")
def catalogue(mistakes_project: StackProject, emulator: Any) -> Catalogue:
    admin = emulator.admin
    up_stacks: queue.Queue[str] = queue.Queue()
    for index in range(WORKERS):
        mistakes_project.init_stack(f"{STACK}-up-{index}", shipped_stack_settings("local"))
        up_stacks.put(f"{STACK}-up-{index}")
    for mistake in MISTAKES:
        write_config_file(mistake, mistakes_project, emulator)
    before = org_snapshots(admin)
    for alias in ORGS:
        admin.mark(alias)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        # The slow ones (up) first, so the pool does not end waiting on them.
        order = sorted((m for m in MISTAKES if not m.org_settings), key=lambda m: m.at != "up")
        futures = {m.name: pool.submit(run_mistake, m, mistakes_project, up_stacks) for m in order}
        outcomes = {name: future.result() for name, future in futures.items()}
    for mistake in (m for m in MISTAKES if m.org_settings):
        with org_settings(admin, mistake.org_settings):
            outcomes[mistake.name] = run_mistake(mistake, mistakes_project, up_stacks)
    return Catalogue(outcomes, changed_paths(before, org_snapshots(admin)), content_writes(admin))


@pytest.mark.parametrize("mistake", [pytest.param(m, id=m.name) for m in MISTAKES])
def test_mistake_is_explained_and_leaves_the_orgs_alone(mistake: Mistake, catalogue: Catalogue) -> None:
    outcome = catalogue.outcomes[mistake.name]
    if outcome.preview is not None:
        # Only the org can tell: the same mistake passes preview, then fails at up.
        preview_text = outcome.preview.stdout + outcome.preview.stderr
        assert outcome.preview.returncode == 0, preview_text[-3000:]
    text = outcome.text
    assert outcome.returncode != 0
    missing = [word for word in mistake.expected if word.lower() not in text.lower()]
    assert missing == [], text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert WRONG_PASSWORD not in text  # (never printed: the assert names the constant only)
    # No case left or even briefly made anything in either org, nor anything half-made in its state.
    assert catalogue.leftovers == []
    assert catalogue.writes == {alias: {} for alias in ORGS}
    assert outcome.resources == []


def test_the_creation_ban_left_no_certificate_in_org_a(catalogue: Catalogue, emulator: Any) -> None:
    # Before the Preflight asked, Org A's Certificate was made first and the up failed at the app.
    assert catalogue.outcomes["Org B bans creating connected apps"].returncode != 0
    certificates = component_names(emulator.admin.snapshot("orgA"))
    assert {n for n in certificates if n.startswith(f"Certificate/CarrierAPI_App_{STACK}")} == set()


def test_the_shipped_config_still_previews(mistakes_project: StackProject) -> None:
    # The catalogue's errors come from the mistakes, not from the harness.
    mistakes_project.write_stack(STACK, shipped_stack_settings("local"))
    mistakes_project.pulumi.run("preview", "--stack", STACK)
