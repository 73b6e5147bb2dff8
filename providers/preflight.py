"""Preflight: asks both orgs, read-only, whether an integration can be made, before anything is written.

Some mistakes only the org can tell: a profile or permission set Org B does not have, a run-as user
that does not exist there or is inactive, an `existing` certificate Org A does not have (or that is
expired or no certificate at all), credentials or a login URL that do not let orglink in. Found by
the resource that needs them, they would fail an `up` after other objects were already made in one
org or the other. Every other resource of an integration depends on its Preflight, so these are
found first and the failed `up` leaves both orgs as they were.

Cost: logging in to both orgs (which every later resource reuses), then in Org B one query for all
profiles and permission sets and the run-as user's checks (``check_run_as_user``, whose answers the
run-as user resource then reuses), and in Org A one read of an `existing` certificate. Answers are
asked once per operation (``OrgClient.lookup``), so integrations naming the same ones share them.
It runs on create and when its inputs change; a no-op `up`, `refresh` and `destroy` make no call.

Not checked: whether Org B still lets orglink create a connected app (Spring '26 blocks it unless
Support enables it). Salesforce offers no read-only way to ask; the app's create says so instead.
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
from .run_as_user import SCHEMA as RUN_AS_SCHEMA
from .run_as_user import check_run_as_user
from .schema import Field, Schema, failures_for_alias

ORGS_KEY = "orglink:orgs"


class PreflightArgs(TypedDict, total=False):
    integration: pulumi.Input[str]
    config_key: pulumi.Input[str]
    org_a: pulumi.Input[str]
    org_b: pulumi.Input[str]
    profiles: pulumi.Input[list[str]]
    permission_sets: pulumi.Input[list[str]]
    run_as_user: pulumi.Input[str]
    existing_certificate: pulumi.Input[str]


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
        "run-as user exists and is active (a warning without API Only); in Org A that an `existing` "
        "certificate exists, is a certificate and has not expired.",
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


class PreflightProvider(OrglinkProvider):
    schema = SCHEMA

    def describe(self, props: dict[str, Any]) -> str:
        return f"Preflight of '{props.get('integration') or '?'}'"

    def check_more(self, _olds: dict[str, Any], inputs: dict[str, Any]) -> list[CheckFailure]:
        configured = salesforce.configured_aliases()
        failures = []
        for name in ("org_a", "org_b"):
            for failure in failures_for_alias(inputs.get(name), configured):
                failures.append(CheckFailure(name, failure.reason.replace("org:", f"{name}:", 1)))
        return failures

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Moving the integration within the list renames its config key, which is no reason to
        # ask the orgs again.
        changed = [name for name in self.changes(olds, news).changed if name != "config_key"]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    # -- create / update: ask the orgs -----------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        outs = self._run(inputs)
        return CreateResult(f"{inputs['org_a']}->{inputs['org_b']}/{inputs['integration']}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._run(self.plain(news)))

    def _run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        warnings: list[str] = []
        problems = self._problems(inputs, warnings.append)
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

    def _problems(self, inputs: dict[str, Any], warn: Callable[[str], None]) -> list[Problem]:
        """Everything wrong, from both orgs, so one failed `up` shows every fix at once."""
        problems: list[Problem] = []
        client_a = self._login(inputs["org_a"], problems)
        client_b = self._login(inputs["org_b"], problems)
        if client_b is not None:
            problems += self._org_b_problems(client_b, inputs, warn)
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
