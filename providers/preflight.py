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
shared by the operation's integrations), and in Org A one read of an `existing` certificate. Answers are
asked once per operation (``OrgClient.lookup``), so integrations naming the same ones share them.
It runs on create and when its inputs change; a no-op `up`, `refresh` and `destroy` make no call.

Not checked: whether Org B still lets orglink create a connected app (Spring '26 blocks it unless
Support enables it). Salesforce offers no read-only way to ask; the app's create says so instead.
Nor a consumer key held by an External Client App or by another org's app (keys are unique across
Salesforce, but no org can read another's): the app's create reports those.

The app checks run on create, and on update only for what changed (a new API name, `adopt` turned
on, a new `consumer_key`): once the app exists, it is this integration's own and holds the name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, UpdateResult

from . import salesforce, values
from .base import OrglinkProvider, resource_options
from .certificate import METADATA_TYPE as CERTIFICATE_TYPE
from .certificate import parse_content
from .connected_app import METADATA_TYPE as CONNECTED_APP_TYPE
from .connected_app import is_own_app
from .run_as_user import SCHEMA as RUN_AS_SCHEMA
from .run_as_user import check_run_as_user
from .schema import Field, Schema, failures_for_org_pair

ORGS_KEY = "orglink:orgs"
APP_CHECK_FIELDS = ("app_api_name", "app_adopt", "app_consumer_key")


class PreflightArgs(TypedDict, total=False):
    integration: pulumi.Input[str]
    config_key: pulumi.Input[str]
    org_a: pulumi.Input[str]
    org_b: pulumi.Input[str]
    profiles: pulumi.Input[list[str]]
    permission_sets: pulumi.Input[list[str]]
    run_as_user: pulumi.Input[str]
    existing_certificate: pulumi.Input[str]
    app_api_name: pulumi.Input[str]
    app_adopt: pulumi.Input[bool]
    app_consumer_key: pulumi.Input[str]
    app_owner: pulumi.Input[str]


def _alias_field(name: str, which: str) -> Field:
    return Field(
        name, "string", f"Alias of {which} in `orglink:orgs`.", required=True, validate=values.non_empty_text
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
        "certificate and has not expired.",
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


def _quoted(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in_list(names: list[str]) -> str:
    return "(" + ", ".join(_quoted(name) for name in names) + ")"


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
    return problems


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
        ignored = ("config_key", "app_owner", *(() if news.get("app_api_name") else APP_CHECK_FIELDS))
        changed = [name for name in self.changes(olds, news).changed if name not in ignored]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    # -- create / update: ask the orgs -----------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        outs = self._run(inputs, AppChecks.all(inputs))
        return CreateResult(f"{inputs['org_a']}->{inputs['org_b']}/{inputs['integration']}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.plain(news)
        return UpdateResult(self._run(inputs, AppChecks.changed(self.plain(olds), inputs)))

    def _run(self, inputs: dict[str, Any], app_checks: AppChecks) -> dict[str, Any]:
        warnings: list[str] = []
        problems = self._problems(inputs, app_checks, warnings.append)
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
        self, inputs: dict[str, Any], app_checks: AppChecks, warn: Callable[[str], None]
    ) -> list[Problem]:
        """Everything wrong, from both orgs, so one failed `up` shows every fix at once."""
        problems: list[Problem] = []
        client_a = self._login(inputs["org_a"], problems)
        client_b = self._login(inputs["org_b"], problems)
        if client_b is not None:
            problems += self._org_b_problems(client_b, inputs, warn)
            if app_checks.any:
                problems += app_problems(client_b, inputs, app_checks)
        if client_a is not None and inputs.get("existing_certificate"):
            problems += self._certificate_problems(client_a, inputs)
        return problems

    @staticmethod
    def _login(alias: str, problems: list[Problem]) -> salesforce.OrgClient | None:
        """The org's client (the login proves credentials and login URL), or None with a problem."""
        try:
            return salesforce.org(alias)
        except salesforce.SalesforceError as err:
            key = f"{ORGS_KEY}.{alias}" + (f".{err.field}" if err.field else "")
            problems.append(Problem(
                key, alias, None, err.status_code,
                f"cannot log in to org '{alias}': {err.status_code}: {err.message}; check the org's "
                "credentials, login_url and instance_url",
            ))  # fmt: skip
            return None

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


class Preflight(pulumi.dynamic.Resource, module="salesforce", name="Preflight"):
    """Read-only checks of both orgs. Type token: ``pulumi-python:dynamic/salesforce:Preflight``."""

    integration: pulumi.Output[str]
    checked_at: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: PreflightArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {f.name: None for f in SCHEMA.fields}
        props.update(args)
        super().__init__(
            PreflightProvider(), resource_name, props, resource_options(opts, SCHEMA.secret_outputs)
        )
