"""Preflight: asks both orgs, read-only, whether an integration can be made, before anything is written.

Some mistakes only the org can tell: a profile or permission set Org B does not have, a run-as user
that does not exist there or is inactive, an `existing` certificate Org A does not have (or that is
expired or no certificate at all), credentials or a login URL that do not let orglink in, and for
`app_type: connected_app`: `adopt: true` of an app Org B does not have, the app's API name taken by
an unrelated connected app, an explicit `consumer_key` another connected app of Org B holds. Found by
the resource that needs them, they would fail an `up` after other objects were already made in one
org or the other. Every other resource of an integration depends on its Preflight, so these are
found first and the failed `up` leaves both orgs as they were.

Cost: logging in to both orgs (which every later resource reuses), then in Org B one query for all
profiles and permission sets and the run-as user's checks (``check_run_as_user``, whose answers the
run-as user resource then reuses), for a connected app one readMetadata of its name (with an
explicit `consumer_key`: of every connected app in Org B, listed once and read 10 names a call,
shared by the operation's integrations), when the app is to be created one validate-only deploy and
its status (2 requests, both reads), and in Org A one read of an `existing` certificate and one
query of the callout users (each must exist and be active: an inactive user's Apex never runs). Answers are
asked once per operation (``OrgClient.lookup``), so integrations naming the same ones share them.
It runs on create and when its inputs change; a no-op `up`, `refresh` and `destroy` make no call.

Whether Org B lets orglink create the connected app at all: since Spring '26 a new ConnectedApp is
refused (through any API) unless Salesforce Support enabled creation for the org, and no metadata
field tells. When the app is to be created (app_type connected_app, not `adopt`), the Preflight asks
the way Salesforce allows without writing: a validate-only Metadata API deploy (`deploy` with
checkOnly, then `checkDeployStatus` until done) of a ConnectedApp of the app's API name
(``creation_problems``; one probe per org and operation answers for every integration, since
allowed or banned holds for the whole org). A refusal is a problem naming `app_type` and `adopt`,
with Salesforce's words (each component failure's problemType and problem). A deploy's component
failure carries no status code: the ban's words get INSUFFICIENT_ACCESS, the code createMetadata
gives the same refusal; any other failure `DEPLOY_<status>`; a fault of the deploy call keeps its
own code.
The probe is the smallest valid app of that name (label, contact e-mail, a callback URL): the app's
real fields need Org A's certificate, which does not exist yet, and the app's create checks them.
When an app of that name exists already (our own leftover, or ours replaced for a new
`consumer_key`), the deploy would validate an update, which the ban allows: the probe then takes an
unused name (``<api_name>_probe_<hex>``). It is sent through its own simple-salesforce client
sharing the session, because simple-salesforce's deploy sets `Content-Type: text/xml` on its
client's shared headers.

Not checked: a consumer key held by an External Client App or by another org's app (keys are
unique across Salesforce, but no org can read another's): the app's create reports those.

The app checks run on create, and on update only for what changed (a new API name, `adopt` turned
on, a new `consumer_key`): once the app exists, it is this integration's own and holds the name.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
import weakref
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypedDict
from xml.sax.saxutils import escape

import pulumi
import zeep
from lxml import etree
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, UpdateResult
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider, OrglinkResource
from providers.framework.schema import Field, Schema, failures_for_org_pair
from providers.org_a.certificate import METADATA_TYPE as CERTIFICATE_TYPE
from providers.org_a.certificate import parse_content
from providers.org_b.connected_app.app import METADATA_TYPE as CONNECTED_APP_TYPE
from providers.org_b.connected_app.app import is_own_app
from providers.org_b.connected_app.run_as_user import SCHEMA as RUN_AS_SCHEMA
from providers.org_b.external_client_app.app import HEADER_TYPE as ECA_HEADER_TYPE
from providers.org_b.external_client_app.app import SECRET_SETTING_HINT as ECA_SECRET_SETTING_HINT
from providers.org_b.external_client_app.app import is_own_app as is_own_eca
from providers.org_b.external_client_app.app import secret_access_enabled as eca_secret_access_enabled
from providers.org_b.run_as_user import check_run_as_user
from providers.salesforce.records import quoted

APP_CHECK_FIELDS = ("app_api_name", "app_adopt", "app_consumer_key")
MD_NS = "http://soap.sforce.com/2006/04/metadata"
# The probe app: what a ConnectedApp needs to be valid (reference section 2). Nothing is stored.
PROBE_CONTACT_EMAIL = "orglink-preflight@example.com"
PROBE_CALLBACK_URL = "https://login.salesforce.com/services/oauth2/success"
DEPLOY_DONE = ("Succeeded", "SucceededPartial", "Failed", "Canceled")
DEPLOY_WAIT_S = 600.0  # a validate-only deploy of one app takes seconds; Salesforce queues deploys
DEPLOY_POLL_S = (0.0, 1.0, 2.0, 5.0)  # before the 1st, 2nd, 3rd and every later status check


class PreflightArgs(TypedDict, total=False):
    integration: pulumi.Input[str]
    config_key: pulumi.Input[str]
    org_a: pulumi.Input[str]
    org_b: pulumi.Input[str]
    profiles: pulumi.Input[list[str]]
    permission_sets: pulumi.Input[list[str]]
    run_as_user: pulumi.Input[str]
    existing_certificate: pulumi.Input[str]
    callout_users: pulumi.Input[list[str]]
    app_api_name: pulumi.Input[str]
    app_adopt: pulumi.Input[bool]
    app_consumer_key: pulumi.Input[str]
    app_owner: pulumi.Input[str]
    eca_api_name: pulumi.Input[str]
    eca_owner: pulumi.Input[str]
    eca_may_enable_secret_access: pulumi.Input[bool]


def _alias_field(name: str, which: str) -> Field:
    return Field(
        name,
        "string",
        f"Alias of {which} in `{salesforce.CONFIG_KEY}`.",
        required=True,
        validate=values.non_empty_text,
    )


SCHEMA = Schema(
    kind="Preflight",
    component_type=None,
    description="Read-only checks of both orgs before an integration writes anything to either.",
    notes=(
        "Logs in to both orgs; checks in Org B that the profiles and permission sets exist and the "
        "run-as user exists and is active (a warning without API Only), and for a connected app "
        "that an adopted app exists, that its API name is free or its own and that an explicit "
        "consumer key is not another app's; in Org A that an `existing` certificate exists, is a "
        "certificate and has not expired, and that every callout user exists and is active.",
        "Runs on create and when an input changes; nothing exists in either org for it.",
    ),
    fields=(
        Field(
            "integration",
            "string",
            "Base API name of the integration (names it in messages).",
            required=True,
            validate=values.api_name,
        ),
        Field(
            "config_key",
            "string",
            "Where the integration is in the stack config (e.g. orglink:integrations[0]); messages "
            "name the key to fix under it. A change alone does not run the checks again.",
            default="orglink:integrations",
            validate=values.non_empty_text,
        ),
        _alias_field("org_a", "the calling org (Org A)"),
        _alias_field("org_b", "the called org (Org B)"),
        Field("profiles", "list[string]", "Profiles Org B must have.", validate=values.string_list),
        Field(
            "permission_sets",
            "list[string]",
            "Permission sets (API names) Org B must have.",
            validate=values.string_list,
        ),
        Field(
            "run_as_user",
            "string",
            "Username of the client credentials run-as user: must exist in Org B and be active.",
            validate=RUN_AS_SCHEMA.field("username").validate,
        ),
        Field(
            "existing_certificate",
            "string",
            "Unique name of a certificate Org A must have, unexpired.",
            validate=values.api_name,
        ),
        Field(
            "callout_users",
            "list[string]",
            "Usernames of the Org A users who get the principal access: each must exist and be active.",
            validate=values.string_list,
        ),
        Field(
            "app_api_name",
            "string",
            "API name of the integration's connected app in Org B (only for app_type connected_app).",
            validate=values.api_name,
        ),
        Field("app_adopt", "boolean", "The app's `adopt`: it must exist.", validate=values.boolean),
        Field(
            "app_consumer_key",
            "string",
            "The app's explicit consumer key: no other connected app of Org B may hold it.",
            validate=values.text,
        ),
        Field(
            "app_owner",
            "string",
            "The app resource's `owner`: an app of our name with its tagged key is our own leftover.",
            validate=values.text,
        ),
        Field(
            "eca_api_name",
            "string",
            "API name of the integration's External Client App in Org B (only for app_type "
            "external_client_app): free, or an app orglink made for this resource.",
            validate=values.api_name,
        ),
        Field(
            "eca_owner",
            "string",
            "The ExternalClientApp resource's `owner`: an app of our name with its marker is our leftover.",
            validate=values.text,
        ),
        Field(
            "eca_may_enable_secret_access",
            "boolean",
            "The app's `enable_secret_in_rest_api`: without it, Org B's setting that lets orglink "
            "read the app's consumer secret must already be on.",
            validate=values.boolean,
        ),
        Field("checked_at", "string", "When the orgs were last checked (ISO 8601, UTC).", output_only=True),
    ),
)


@dataclass(frozen=True)
class Problem:
    """One thing to fix: the config key, whose org said so, Salesforce's (or our) code, and how."""

    key: str
    org: str
    field: str | None
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def _in_list(names: list[str]) -> str:
    return "(" + ", ".join(quoted(name) for name in names) + ")"


def permission_set_query(profiles: list[str], permission_sets: list[str]) -> str:
    """One SOQL for every profile (through its profile-owned permission set) and permission set."""
    wanted = []
    if profiles:
        wanted.append(f"(IsOwnedByProfile = true AND Profile.Name IN {_in_list(profiles)})")
    if permission_sets:
        wanted.append(f"(IsOwnedByProfile = false AND Name IN {_in_list(permission_sets)})")
    return "SELECT Id, Name, IsOwnedByProfile, Profile.Name FROM PermissionSet WHERE " + " OR ".join(wanted)


def missing_holders(
    rows: list[dict[str, Any]], profiles: list[str], permission_sets: list[str]
) -> tuple[list[str], list[str]]:
    """The profiles and permission sets the query did not find (names compare case-insensitively)."""
    found_profiles = {str((row.get("Profile") or {}).get("Name") or "").lower()
                      for row in rows if row.get("IsOwnedByProfile")}  # fmt: skip
    found_sets = {str(row.get("Name") or "").lower() for row in rows if not row.get("IsOwnedByProfile")}
    return (
        [name for name in profiles if name.lower() not in found_profiles],
        [name for name in permission_sets if name.lower() not in found_sets],
    )


def certificate_problem(component: dict[str, Any] | None, name: str, now: datetime) -> tuple[str, str] | None:
    """(code, message) when Org A's `existing` certificate cannot be used, else None."""
    if component is None:
        return "NOT_FOUND", (
            f"there is no certificate '{name}' in Org A (Setup > Certificate and Key Management shows "
            "the Unique Name); fix the name, or remove `existing` to let orglink create one"
        )
    cert = parse_content(component.get("content"))
    if cert is None:
        return "INVALID_CERTIFICATE", (
            f"certificate '{name}' has no readable X.509 content (is it a key pair without a "
            "certificate?); choose another certificate, or remove `existing` to let orglink create one"
        )
    if cert.not_valid_after_utc <= now:
        expired = cert.not_valid_after_utc.astimezone(UTC).strftime("%Y-%m-%d")
        return "CERTIFICATE_EXPIRED", (
            f"certificate '{name}' expired on {expired}; renew it in Org A, choose another one, or "
            "remove `existing` to let orglink create one"
        )
    return None


@dataclass(frozen=True)
class AppChecks:
    """Which of the connected app checks to make: on create all; on update what the change is about
    (the app that exists then is this integration's own, whatever key or name it has)."""

    adopt: bool = False
    name: bool = False
    key: bool = False

    @property
    def any(self) -> bool:
        return self.adopt or self.name or self.key

    @property
    def creates(self) -> bool:
        """The app is to be created: on create unless adopted, on a new API name, and on a new
        consumer key (which replaces the app). Then Org B must allow creating connected apps."""
        return self.name or self.key

    @staticmethod
    def all(inputs: dict[str, Any]) -> AppChecks:
        if not inputs.get("app_api_name"):
            return AppChecks()
        adopt = bool(inputs.get("app_adopt"))
        return AppChecks(adopt=adopt, name=not adopt, key=bool(inputs.get("app_consumer_key")) and not adopt)

    @staticmethod
    def changed(olds: dict[str, Any], news: dict[str, Any]) -> AppChecks:
        wanted = AppChecks.all(news)
        renamed = str(olds.get("app_api_name") or "").lower() != str(news.get("app_api_name") or "").lower()
        return AppChecks(
            adopt=wanted.adopt and (renamed or not olds.get("app_adopt")),
            name=wanted.name and renamed,
            key=wanted.key and olds.get("app_consumer_key") != news.get("app_consumer_key"),
        )


def app_problems(client: salesforce.OrgClient, inputs: dict[str, Any], checks: AppChecks) -> list[Problem]:
    """The connected app checks, from one readMetadata (batched by 10) of the names they need."""
    key = f"{inputs.get('config_key') or 'orglink:integrations'}.app"
    name, consumer_key = str(inputs["app_api_name"]), inputs.get("app_consumer_key")
    try:
        apps = _connected_apps(client, name, every=checks.key)
    except salesforce.SalesforceError as err:
        return [Problem(key, client.alias, "app", err.status_code, err.message)]
    ours = next((body for found, body in apps.items() if found.lower() == name.lower()), None)
    problems: list[Problem] = []
    if checks.adopt and ours is None:
        problems.append(Problem(
            f"{key}.adopt", client.alias, "app_adopt", "NOT_FOUND",
            f"adopt: there is no connected app '{name}' in Org B '{client.alias}' to take over; check "
            "api_name (Setup > App Manager shows it as the API Name), or remove `adopt` to create the app",
        ))  # fmt: skip
    if checks.name and ours is not None and not is_own_app(ours, name, inputs.get("app_owner"), consumer_key):
        problems.append(Problem(
            f"{key}", client.alias, "app_api_name", "DUPLICATE_VALUE",
            f"a connected app '{name}' that orglink did not make already exists in Org B "
            f"'{client.alias}'; set `adopt: true` to manage it, or choose another api_name or name_suffix",
        ))  # fmt: skip
    holder = _key_holder(apps, name, consumer_key) if checks.key else None
    if holder is not None:
        problems.append(Problem(
            f"{key}.consumer_key", client.alias, "app_consumer_key", "DUPLICATE_VALUE",
            f"the consumer_key is already the key of connected app '{holder}' in Org B '{client.alias}' "
            "(keys are unique); remove consumer_key to have one generated, or choose another",
        ))  # fmt: skip
    if checks.creates:
        problems += creation_problems(client, inputs, exists=ours is not None)
    return problems


def eca_problems(client: salesforce.OrgClient, inputs: dict[str, Any]) -> list[Problem]:
    """An External Client App of our name must be free or our own leftover (its marker)."""
    key = f"{inputs.get('config_key') or 'orglink:integrations'}.app"
    name = str(inputs["eca_api_name"])
    try:
        header = client.read_component(ECA_HEADER_TYPE, name)
    except salesforce.SalesforceError as err:
        return [Problem(key, client.alias, "app", err.status_code, err.message)]
    problems = secret_access_problems(client, inputs, key)
    if header is None or is_own_eca(header, name, inputs.get("eca_owner")):
        return problems
    return problems + [Problem(
        key, client.alias, "eca_api_name", "DUPLICATE_VALUE",
        f"an External Client App '{name}' that orglink did not make for this stack already exists in "
        f"Org B '{client.alias}' (its description has no orglink marker of this resource); choose "
        "another api_name or name_suffix, or delete that app in Setup > External Client App Manager",
    )]  # fmt: skip


def secret_access_problems(client: salesforce.OrgClient, inputs: dict[str, Any], key: str) -> list[Problem]:
    """orglink reads an ECA's consumer secret through Connect REST, which Org B's setting gates."""
    if inputs.get("eca_may_enable_secret_access"):
        return []
    try:
        enabled = client.lookup("Preflight ECA secret access", partial(eca_secret_access_enabled, client))
    except salesforce.SalesforceError as err:
        return [
            Problem(f"{key}.enable_secret_in_rest_api", client.alias, "app", err.status_code, err.message)
        ]
    if enabled:
        return []
    return [Problem(
        f"{key}.enable_secret_in_rest_api", client.alias, "eca_may_enable_secret_access",
        "INSUFFICIENT_ACCESS", f"in Org B '{client.alias}' {ECA_SECRET_SETTING_HINT}",
    )]  # fmt: skip


# -- may Org B create a connected app? (validate-only deploy) --------------------------------------


def probe_name(api_name: str, exists: bool) -> str:
    """The API name the probe deploys: the app's own while it is free, else an unused one (a
    validate-only deploy of an existing name validates an update, which the ban allows)."""
    if not exists:
        return api_name
    return f"{api_name[:26].rstrip('_')}_probe_{secrets.token_hex(4)}"


def probe_package(name: str, api_version: str) -> bytes:
    """A deployable zip (package.xml + connectedApps/<name>.connectedApp) of one minimal app."""
    package = (
        f'<?xml version="1.0" encoding="UTF-8"?><Package xmlns="{MD_NS}"><types><members>{escape(name)}'
        f"</members><name>ConnectedApp</name></types><version>{escape(api_version)}</version></Package>"
    )
    app = (
        f'<?xml version="1.0" encoding="UTF-8"?><ConnectedApp xmlns="{MD_NS}">'
        f"<contactEmail>{PROBE_CONTACT_EMAIL}</contactEmail><label>{escape(name)}</label>"
        f"<oauthConfig><callbackUrl>{PROBE_CALLBACK_URL}</callbackUrl><scopes>Api</scopes></oauthConfig>"
        "</ConnectedApp>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("package.xml", package)
        archive.writestr(f"connectedApps/{name}.connectedApp", app)
    return buffer.getvalue()


@dataclass(frozen=True)
class CreationVerdict:
    """What Org B answered the validate-only deploy of a minimal connected app."""

    probe: str  # the API name the probe deployed
    allowed: bool
    code: str  # when refused: INSUFFICIENT_ACCESS for the creation ban, else DEPLOY_<state> or a fault's code
    words: str  # Salesforce's words, for the error
    banned: bool = False

    @property
    def org_wide(self) -> bool:
        """Allowed or banned holds for every app of the org (the probe app is the same minimal
        one whatever the name), so integrations of one operation share one probe."""
        return self.allowed or self.banned


def creation_problems(client: salesforce.OrgClient, inputs: dict[str, Any], exists: bool) -> list[Problem]:
    """Ask Org B, without writing, whether it would create the app: a checkOnly deploy of it."""
    key = f"{inputs.get('config_key') or 'orglink:integrations'}.app_type"
    api_name = str(inputs["app_api_name"])
    verdict = client.lookup(
        "Preflight connected app creation",
        partial(creation_verdict, client, probe_name(api_name, exists)),
        keep=lambda found: found.org_wide,
    )
    if verdict.allowed:
        return []
    where = f"Org B '{client.alias}'"
    why = (
        f"{where} does not allow creating connected apps (Salesforce blocks it since Spring '26 unless "
        "Support enables it)"
        if verdict.banned
        else f"{where} would not create the connected app"
    )
    return [Problem(key, client.alias, "app_type", verdict.code, (
        f"{why}: a validate-only deploy of connected app '{verdict.probe}' (nothing written) answered "
        f"{verdict.words.rstrip('.')}. Fix: set `app_type: external_client_app`, or take over an existing "
        f"app with `app: {{adopt: true}}` (same api_name '{api_name}'), or ask Salesforce Support to enable "
        f"connected app creation in {where}"
    ))]  # fmt: skip


def creation_verdict(client: salesforce.OrgClient, name: str) -> CreationVerdict:
    archive = probe_package(name, client.api_version)
    what = f"validate-only deploy of ConnectedApp {name}"
    try:
        started = client.call(what, _soap(lambda: _deploy_client(client).deploy(
            io.BytesIO(archive), sandbox=False, checkOnly="true", ignoreWarnings="true")))  # fmt: skip
        async_id = str(started.get("asyncId") or "")
        if not async_id:
            return CreationVerdict(name, False, "UNEXPECTED_RESPONSE", f"{what}: no deploy id")
        status = _wait_for_deploy(client, what, async_id)
    except salesforce.SalesforceError as err:
        return CreationVerdict(name, False, err.status_code, err.message)
    state = str(status.get("state") or "")
    if state in ("Succeeded", "SucceededPartial"):
        return CreationVerdict(name, True, "", "")
    detail = status.get("deployment_detail") or {}
    errors = [
        e for e in (detail.get("errors") if isinstance(detail, dict) else None) or [] if e.get("message")
    ]
    if state not in DEPLOY_DONE:
        words = f"it did not finish within {DEPLOY_WAIT_S:.0f} s (status {state or 'unknown'})"
    elif errors:
        words = "; ".join(f"{e.get('status') or 'Error'}: {e['message']}" for e in errors)
    else:
        words = f"status {state}, {status.get('state_detail') or 'no detail'}"
    banned = any(_is_creation_ban(str(e["message"])) for e in errors)
    code = "INSUFFICIENT_ACCESS" if banned else f"DEPLOY_{state.upper() or 'UNKNOWN'}"
    return CreationVerdict(name, False, code, words, banned)


def _is_creation_ban(message: str) -> bool:
    text = message.lower()
    return "connected app" in text and ("can't be created" in text or "cannot be created" in text)


_DEPLOY_CLIENTS: weakref.WeakKeyDictionary[salesforce.OrgClient, Salesforce] = weakref.WeakKeyDictionary()
_DEPLOY_CLIENTS_LOCK = threading.Lock()


def _deploy_client(client: salesforce.OrgClient) -> Salesforce:
    """A simple-salesforce client of its own on the org's current session: its deploy calls set
    `Content-Type: text/xml` on that client's headers, which must not reach the shared one. Kept per
    org client and session (its Metadata API client loads the WSDL, about half a second)."""
    session_id = client.sf.session_id
    with _DEPLOY_CLIENTS_LOCK:
        own = _DEPLOY_CLIENTS.get(client)
        if own is None or own.session_id != session_id:
            own = Salesforce(
                instance_url=client.instance_url,
                session_id=session_id,
                version=client.api_version,
                session=client.session,
            )
            _DEPLOY_CLIENTS[client] = own
        return own


def _soap(request: Callable[[], Any]) -> Callable[[], Any]:
    """``request`` with a Metadata API SOAP fault raised as zeep's Fault (as the CRUD calls raise
    it), so ``OrgClient.call`` renews an expired session and keeps Salesforce's code: simple-
    salesforce's deploy calls raise an HTTP error holding the fault's XML instead."""

    def run() -> Any:
        try:
            return request()
        except SimpleSalesforceError as exc:
            fault = _fault(exc.content)
            if fault is None:
                raise
            raise zeep.exceptions.Fault(fault[1], code=fault[0]) from None

    return run


def _fault(content: Any) -> tuple[str, str] | None:
    """(faultcode, faultstring) of a SOAP fault body, or None."""
    if not isinstance(content, str | bytes) or b"Fault" not in (
        content.encode() if isinstance(content, str) else content
    ):
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(content.encode() if isinstance(content, str) else content, parser)
    except etree.XMLSyntaxError:
        return None
    code = root.findtext(".//faultcode")
    return (code, root.findtext(".//faultstring") or "") if code else None


def _wait_for_deploy(client: salesforce.OrgClient, what: str, async_id: str) -> dict[str, Any]:
    """checkDeployStatus until the deploy is done (or DEPLOY_WAIT_S passed: the last answer)."""
    deadline = time.monotonic() + DEPLOY_WAIT_S
    attempt = 0
    while True:
        time.sleep(DEPLOY_POLL_S[min(attempt, len(DEPLOY_POLL_S) - 1)])
        status = client.call(
            f"status of the {what}", _soap(lambda: _deploy_client(client).checkDeployStatus(async_id))
        )
        if str(status.get("state") or "") in DEPLOY_DONE or time.monotonic() >= deadline:
            return dict(status)
        attempt += 1


def _connected_apps(client: salesforce.OrgClient, name: str, every: bool) -> dict[str, dict[str, Any]]:
    """The app of ``name`` (if it exists) and, with ``every``, every connected app of the org.

    Every app is needed only to find who else holds a key (no query searches by consumer key): the
    org's list is asked once per operation and shared by its integrations."""
    names = [name]
    if every:
        listed = client.lookup(
            f"Preflight list {CONNECTED_APP_TYPE}", partial(client.list_metadata, CONNECTED_APP_TYPE)
        )
        names += [str(p["fullName"]) for p in listed if str(p.get("fullName", "")).lower() != name.lower()]
    found = client.read_metadata(CONNECTED_APP_TYPE, names)
    return {found_name: body for found_name, body in found.items() if body is not None}


def _key_holder(apps: dict[str, dict[str, Any]], name: str, consumer_key: str | None) -> str | None:
    """The other app (not ``name``) whose consumer key is ``consumer_key``, if any."""
    for found_name, body in apps.items():
        live = body.get("oauthConfig", {}).get("consumerKey")
        if found_name.lower() != name.lower() and consumer_key and live == consumer_key:
            return found_name
    return None


def callout_user_problems(client: salesforce.OrgClient, inputs: dict[str, Any]) -> list[Problem]:
    """Every callout user must be an active user of Org A: one query for all of them."""
    key = f"{inputs.get('config_key') or 'orglink:integrations'}.callout_users"
    usernames = [str(name) for name in inputs["callout_users"]]
    soql = f"SELECT Username, IsActive FROM User WHERE Username IN {_in_list(usernames)}"
    try:
        rows = client.lookup(f"Preflight {soql}", partial(client.query, soql))
    except salesforce.SalesforceError as err:
        return [Problem(key, client.alias, "callout_users", err.status_code, err.message)]
    active = {str(row.get("Username") or "").lower(): bool(row.get("IsActive")) for row in rows}
    problems: list[Problem] = []
    for name in usernames:
        if name.lower() not in active:
            problems.append(Problem(
                key, client.alias, "callout_users", "NOT_FOUND",
                f"there is no user '{name}' in Org A '{client.alias}'; list the usernames (Setup > Users) "
                "of the users whose Apex calls Org B, or leave callout_users out to use the user "
                "orglink's connection to Org A runs as",
            ))  # fmt: skip
        elif not active[name.lower()]:
            problems.append(Problem(
                key, client.alias, "callout_users", "INACTIVE_USER",
                f"user '{name}' in Org A '{client.alias}' is inactive and could not call out; activate "
                "it in Setup > Users, or remove it from callout_users",
            ))  # fmt: skip
    return problems


class PreflightProvider(OrglinkProvider):
    schema = SCHEMA

    def describe(self, props: dict[str, Any]) -> str:
        return f"Preflight of '{props.get('integration') or '?'}'"

    def check_more(self, _olds: dict[str, Any], inputs: dict[str, Any]) -> list[CheckFailure]:
        return failures_for_org_pair(inputs, salesforce.configured_aliases())

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Moving the integration within the list renames its config key, and renaming the stack
        # the app's owner: neither is a reason to ask the orgs again; nor dropping the app checks
        # (a switch to an External Client App).
        ignored = (
            "config_key",
            "app_owner",
            "eca_owner",
            *(() if news.get("app_api_name") else APP_CHECK_FIELDS),
        )
        changed = [name for name in self.changes(olds, news).changed if name not in ignored]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    # -- create / update: ask the orgs -----------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        outs = self._run(inputs, AppChecks.all(inputs), eca_check=bool(inputs.get("eca_api_name")))
        return CreateResult(f"{inputs['org_a']}->{inputs['org_b']}/{inputs['integration']}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs, old = self.plain(news), self.plain(olds)
        renamed_eca = (
            str(old.get("eca_api_name") or "").lower() != str(inputs.get("eca_api_name") or "").lower()
        )
        eca_check = bool(inputs.get("eca_api_name")) and renamed_eca
        return UpdateResult(self._run(inputs, AppChecks.changed(old, inputs), eca_check))

    def _run(self, inputs: dict[str, Any], app_checks: AppChecks, eca_check: bool) -> dict[str, Any]:
        warnings: list[str] = []
        problems = self._problems(inputs, app_checks, eca_check, warnings.append)
        if problems:
            first = problems[0]
            raise salesforce.SalesforceError(
                first.org, self.describe(inputs), first.field, first.code,
                "nothing was created or changed in either org; fix "
                + "; and ".join(str(problem) for problem in problems),
            )  # fmt: skip
        for warning in warnings:
            self.log(warning, warning=True)
        self.log(f"{inputs['org_a']} -> {inputs['org_b']}: preflight of {inputs['integration']} passed")
        return {**inputs, "checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _problems(
        self, inputs: dict[str, Any], app_checks: AppChecks, eca_check: bool, warn: Callable[[str], None]
    ) -> list[Problem]:
        """Everything wrong, from both orgs, so one failed `up` shows every fix at once.

        The groups of checks need nothing from each other, so they ask at the same time: on a real
        org each answer takes hundreds of milliseconds, and everything else of the `up` waits for
        the Preflight. Each group keeps its own order (the app's validate-only deploy depends on
        the app's read), and the problems come out in the same order as asked one after another.
        """
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="preflight-login") as pool:
            logins = pool.map(self._login, (inputs["org_a"], inputs["org_b"]))
            (client_a, login_a), (client_b, login_b) = logins
        problems: list[Problem] = [*login_a, *login_b]
        groups: list[Callable[[], list[Problem]]] = []
        if client_b is not None:
            groups.append(partial(self._org_b_problems, client_b, inputs, warn))
            if app_checks.any:
                groups.append(partial(app_problems, client_b, inputs, app_checks))
            if eca_check:
                groups.append(partial(eca_problems, client_b, inputs))
        if client_a is not None and inputs.get("existing_certificate"):
            groups.append(partial(self._certificate_problems, client_a, inputs))
        if client_a is not None and inputs.get("callout_users"):
            groups.append(partial(callout_user_problems, client_a, inputs))
        if len(groups) == 1:
            return problems + groups[0]()
        with ThreadPoolExecutor(max_workers=max(1, len(groups)), thread_name_prefix="preflight") as pool:
            for found in pool.map(lambda group: group(), groups):
                problems += found
        return problems

    @staticmethod
    def _login(alias: str) -> tuple[salesforce.OrgClient | None, list[Problem]]:
        """The org's client (the login proves credentials and login URL), or None with a problem."""
        try:
            return salesforce.org(alias), []
        except salesforce.SalesforceError as err:
            key = f"{salesforce.CONFIG_KEY}.{alias}" + (f".{err.field}" if err.field else "")
            return None, [Problem(
                key, alias, None, err.status_code,
                f"cannot log in to org '{alias}': {err.status_code}: {err.message}; check the org's "
                "credentials, login_url and instance_url",
            )]  # fmt: skip

    def _org_b_problems(
        self, client: salesforce.OrgClient, inputs: dict[str, Any], warn: Callable[[str], None]
    ) -> list[Problem]:
        key = inputs.get("config_key") or "orglink:integrations"
        problems: list[Problem] = []
        profiles, permission_sets = inputs.get("profiles") or [], inputs.get("permission_sets") or []
        if profiles or permission_sets:
            soql = permission_set_query(profiles, permission_sets)
            try:
                # Integrations of one stack mostly name the same profiles: they share one answer.
                rows = client.lookup(f"Preflight {soql}", partial(client.query, soql))
            except salesforce.SalesforceError as err:
                return [Problem(f"{key}.profiles", client.alias, "profiles", err.status_code, err.message)]
            no_profiles, no_sets = missing_holders(rows, profiles, permission_sets)
            for name in no_profiles:
                problems.append(Problem(
                    f"{key}.profiles", client.alias, "profiles", "NOT_FOUND",
                    f"there is no profile '{name}' in Org B '{client.alias}'; use the name shown in "
                    "Setup > Profiles (e.g. System Administrator)",
                ))  # fmt: skip
            for name in no_sets:
                problems.append(Problem(
                    f"{key}.permission_sets", client.alias, "permission_sets", "NOT_FOUND",
                    f"there is no permission set with API name '{name}' in Org B '{client.alias}' "
                    "(Setup > Permission Sets shows it)",
                ))  # fmt: skip
        if inputs.get("run_as_user"):
            try:
                check_run_as_user(client, inputs["run_as_user"], warn)
            except salesforce.SalesforceError as err:
                problems.append(
                    Problem(f"{key}.run_as_user", client.alias, "run_as_user", err.status_code, err.message)
                )
        return problems

    @staticmethod
    def _certificate_problems(client: salesforce.OrgClient, inputs: dict[str, Any]) -> list[Problem]:
        name = inputs["existing_certificate"]
        key = f"{inputs.get('config_key') or 'orglink:integrations'}.certificate.existing"
        try:
            component = client.read_component(CERTIFICATE_TYPE, name)
        except salesforce.SalesforceError as err:
            return [Problem(key, client.alias, "existing_certificate", err.status_code, err.message)]
        found = certificate_problem(component, name, datetime.now(UTC))
        if found is None:
            return []
        return [Problem(key, client.alias, "existing_certificate", *found)]

    # -- read / delete: nothing exists in either org ----------------------------------------------

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # A refresh does not ask the orgs again (that is the next changed `up`'s job).
        return ReadResult(id_, self.plain(props))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Nothing exists in either org for a preflight."""


class Preflight(OrglinkResource[PreflightArgs], module="salesforce", name="Preflight"):
    """Read-only checks of both orgs. Type token: ``pulumi-python:dynamic/salesforce:Preflight``."""

    integration: pulumi.Output[str]
    checked_at: pulumi.Output[str]

    provider_class = PreflightProvider
