"""The Preflight's checks of a connected app: an adopted app exists, the API name is free or our
own leftover, an explicit consumer key is no other app's, and Org B lets orglink create the app.

Whether Org B lets orglink create a connected app at all: since Spring '26 a new ConnectedApp is
refused (through any API) unless Salesforce Support enabled creation for the org, and no metadata
field tells. The check asks the way Salesforce allows without writing: a validate-only deploy of the
smallest valid app of that name (``creation_verdict``, through ``salesforce.soap_probe``).
"""

from __future__ import annotations

import io
import secrets
import zipfile
from dataclasses import dataclass
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

from providers import salesforce
from providers.framework.problems import Problem, problem_key
from providers.org_b.connected_app.app import METADATA_TYPE as CONNECTED_APP_TYPE
from providers.org_b.connected_app.app import is_own_app
from providers.salesforce.soap_probe import DEPLOY_DONE, DEPLOY_WAIT_S, check_only_deploy, wait_for_deploy

MD_NS = "http://soap.sforce.com/2006/04/metadata"
# The probe app: what a ConnectedApp needs to be valid. Nothing is stored.
PROBE_CONTACT_EMAIL = "orglink-preflight@example.com"
PROBE_CALLBACK_URL = "https://login.salesforce.com/services/oauth2/success"


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
    key = problem_key(inputs, "app")
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
    key = problem_key(inputs, "app_type")
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
        started = check_only_deploy(client, what, archive)
        async_id = str(started.get("asyncId") or "")
        if not async_id:
            return CreationVerdict(name, False, "UNEXPECTED_RESPONSE", f"{what}: no deploy id")
        status = wait_for_deploy(client, what, async_id)
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
