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
(``creation_problems`` in ``org_b.connected_app.checks``; one probe per org and operation answers
for every integration, since allowed or banned holds for the whole org). A refusal is a problem
naming `app_type` and `adopt`, with Salesforce's words (each component failure's problemType and
problem). A deploy's component failure carries no status code: the ban's words get
INSUFFICIENT_ACCESS, the code createMetadata gives the same refusal; any other failure
`DEPLOY_<status>`; a fault of the deploy call keeps its own code.
The probe is the smallest valid app of that name (label, contact e-mail, a callback URL): the app's
real fields need Org A's certificate, which does not exist yet, and the app's create checks them.
When an app of that name exists already (our own leftover, or ours replaced for a new
`consumer_key`), the deploy would validate an update, which the ban allows: the probe then takes an
unused name (``<api_name>_probe_<hex>``). It is sent through its own simple-salesforce client
sharing the session, because simple-salesforce's deploy sets `Content-Type: text/xml` on its
client's shared headers.

Not checked: a consumer key held by an External Client App or by another org's app (keys are
unique across Salesforce, but no org can read another's): the app's create reports those.

Each check lives with what it checks (``org_a.checks``, ``org_b.checks`` for either app model,
``org_b.connected_app.checks``, ``org_b.external_client_app.checks``; the validate-only deploy in
``salesforce.soap_probe``): this resource only gathers the inputs, runs the groups of checks at the
same time and reports every problem at once.

The app checks run on create, and on update only for what changed (a new API name, `adopt` turned
on, a new `consumer_key`): once the app exists, it is this integration's own and holds the name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.problems import Problem
from providers.framework.provider import OrglinkProvider, OrglinkResource
from providers.framework.schema import Field, Schema, alias_field, failures_for_org_pair
from providers.org_a.checks import callout_user_problems, certificate_problems
from providers.org_b.checks import org_b_problems
from providers.org_b.connected_app.checks import AppChecks, app_problems
from providers.org_b.external_client_app.checks import eca_problems

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
    callout_users: pulumi.Input[list[str]]
    app_api_name: pulumi.Input[str]
    app_adopt: pulumi.Input[bool]
    app_consumer_key: pulumi.Input[str]
    app_owner: pulumi.Input[str]
    eca_api_name: pulumi.Input[str]
    eca_owner: pulumi.Input[str]
    eca_may_enable_secret_access: pulumi.Input[bool]


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
        alias_field("org_a", "the calling org (Org A)"),
        alias_field("org_b", "the called org (Org B)"),
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
            validate=values.salesforce_username,
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


# -- may Org B create a connected app? (validate-only deploy) --------------------------------------


# One group of checks: asks one org in its own order, returns what is wrong.
Checks = Callable[[], list[Problem]]


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

        The groups of checks need nothing from each other, so they ask at the same time, each org's
        as soon as its own login answers: on a real org each answer takes hundreds of milliseconds,
        and everything else of the `up` waits for the Preflight. Each group keeps its own order (the
        app's validate-only deploy depends on the app's read), and the problems come out in the same
        order as asked one after another: the logins', then Org B's groups', then Org A's.
        """

        def org_b_groups(client: salesforce.OrgClient) -> list[Checks]:
            groups: list[Checks] = [partial(org_b_problems, client, inputs, warn)]
            if app_checks.any:
                groups.append(partial(app_problems, client, inputs, app_checks))
            if eca_check:
                groups.append(partial(eca_problems, client, inputs))
            return groups

        def org_a_groups(client: salesforce.OrgClient) -> list[Checks]:
            groups: list[Checks] = []
            if inputs.get("existing_certificate"):
                groups.append(partial(certificate_problems, client, inputs))
            if inputs.get("callout_users"):
                groups.append(partial(callout_user_problems, client, inputs))
            return groups

        (login_a, found_a), (login_b, found_b) = salesforce.together(
            partial(self._checked_org, inputs["org_a"], org_a_groups),
            partial(self._checked_org, inputs["org_b"], org_b_groups),
        )
        return [*login_a, *login_b, *found_b, *found_a]

    def _checked_org(
        self, alias: str, groups_for: Callable[[salesforce.OrgClient], list[Checks]]
    ) -> tuple[list[Problem], list[Problem]]:
        """(the login's problems, the problems of the org's groups of checks, asked at once)."""
        client, login_problems = self._login(alias)
        if client is None:
            return login_problems, []
        found = salesforce.all_at_once(groups_for(client))
        return login_problems, [problem for group in found for problem in group]

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
