"""ConnectedApp: an Org B connected app (Metadata API type ``ConnectedApp``), its OAuth settings and
consumer credentials.

This resource owns the app's identity and OAuth settings. Its policies, profile access and
client-credentials run-as user belong to the resources in ``connected_app_policy``,
``profile_assignment`` and ``run_as_user``; every one of them changes the shared component by
read, merge own fields, write, under one lock per app (``salesforce.modify_component``).

Since Spring '26 most orgs refuse to create connected apps. ``adopt: true`` takes over an app that
already exists (released again on destroy unless ``delete_on_destroy: true``); new orgs should use
an External Client App.
"""

from __future__ import annotations

import copy
from functools import partial
from typing import Any, NoReturn

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider
from providers.framework.schema import Changes, Field, Schema, label_field, org_field
from providers.org_b.app_model import PROVENANCE_TAG_LENGTH, AppModel, AppResource, without_provenance
from providers.org_b.shared_fields import (
    OAuthAppArgs,
    app_id_output_field,
    callback_urls_field,
    certificate_field,
    contact_email_field,
    flow_flags,
    owner_field,
    scopes_field,
)

METADATA_TYPE = "ConnectedApp"
RECORD_TYPE = "ConnectedApplication"
MODEL = AppModel(
    kind="ConnectedApp",
    noun="connected app",
    metadata_type=METADATA_TYPE,
    record_prefix="0H4",
    provenance_salt="orglink-consumer-key",
)


# The inputs, as the Python program writes them (mirrors the schema below; a test keeps them equal).
class ConnectedAppArgs(OAuthAppArgs, total=False):
    consumer_key: pulumi.Input[str]
    consumer_secret: pulumi.Input[str]
    adopt: pulumi.Input[bool]
    delete_on_destroy: pulumi.Input[bool]


# Where the connected app keeps the OAuth flow switches both models have.
FLOW_FLAG_PATHS = {
    "require_secret_for_web_server_flow": "oauthConfig.isConsumerSecretOptional",
    "require_secret_for_refresh_token": "oauthConfig.isSecretRequiredForRefreshToken",
    "require_secret_for_token_exchange": "oauthConfig.isSecretRequiredForTokenExchange",
    "token_exchange_enabled": "oauthConfig.isTokenExchangeEnabled",
    "refresh_token_rotation": "oauthConfig.isRefreshTokenRotationEnabled",
    "pkce_required": "oauthConfig.isPkceRequired",
    "code_credential_enabled": "oauthConfig.isCodeCredentialEnabled",
    "code_credential_post_only": "oauthConfig.isCodeCredentialPostOnly",
    "introspect_all_tokens": "oauthConfig.isIntrospectAllTokens",
    "named_user_jwt_enabled": "oauthConfig.isNamedUserJwtEnabled",
}

SCHEMA = Schema(
    kind="ConnectedApp",
    component_type=METADATA_TYPE,
    description=(
        "A connected app in an org (Setup > App Manager), with its OAuth settings and consumer credentials."
    ),
    notes=(
        "Since Spring '26 most orgs refuse new connected apps: use `adopt: true` for an existing app, "
        "or an External Client App.",
        "The consumer key and secret are generated (CSPRNG) when left out. The secret exists only at "
        "creation (Salesforce never returns it): it is a Pulumi secret output; changing key or secret "
        "replaces the app.",
        "Changing `api_name` renames the app (renameMetadata), it is not replaced.",
    ),
    fields=(
        org_field(),
        Field(
            "api_name",
            "string",
            "API name (fullName) of the app, e.g. Carrier_API_App. A change renames the app.",
            path="fullName",
            required=True,
            validate=values.api_name,
        ),
        label_field("label", shown_as="Name shown in Setup"),
        contact_email_field("contactEmail"),
        Field(
            "description", "string", "Description shown in Setup.", path="description", validate=values.text
        ),
        callback_urls_field("oauthConfig.callbackUrl"),
        certificate_field(
            "oauthConfig.certificate",
            "X.509 certificate (PEM or base64 body) that turns on 'Use digital signatures' "
            "for the JWT bearer flow.",
        ),
        scopes_field("oauthConfig.scopes"),
        Field(
            "consumer_key",
            "string",
            "Consumer key (8-256 letters, digits and underscores); generated when left out. Salesforce "
            "takes it only when the app is created: a change replaces the app.",
            path="oauthConfig.consumerKey",
            computed=True,
            replaces=True,
            validate=values.consumer_credential("key"),
        ),
        Field(
            "consumer_secret",
            "string",
            "Consumer secret (8-256 letters and digits); generated when left out, set only at creation. "
            "For an adopted app give the app's secret if other resources need it. A change replaces the app.",
            path="oauthConfig.consumerSecret",
            computed=True,
            replaces=True,
            secret=True,
            write_only=True,
            validate=values.consumer_credential("secret"),
        ),
        *flow_flags(FLOW_FLAG_PATHS),
        Field(
            "adopt",
            "boolean",
            "Take over an existing app of this API name instead of creating one "
            "(creation is blocked in most orgs).",
            default=False,
            validate=values.boolean,
        ),
        Field(
            "delete_on_destroy",
            "boolean",
            "With adopt: delete the app on destroy instead of releasing it.",
            default=False,
            validate=values.boolean,
        ),
        owner_field(
            "A generated consumer key starts with a tag derived from it, so an app left behind by an "
            "interrupted `pulumi up` is recognised as this resource's own."
        ),
        app_id_output_field(RECORD_TYPE),
        Field(
            "previous_values",
            "object",
            "For an adopted app: what the fields orglink changed held before, put back when destroy "
            "releases the app (`had`: field -> value; `absent`: the fields the app had no element for).",
            output_only=True,
        ),
    ),
)

# Inputs that describe the provider's behaviour, not the app: changing them makes no API call.
BEHAVIOUR_FIELDS = ("adopt", "delete_on_destroy")
CREDENTIAL_FIELDS = ("consumer_key", "consumer_secret")
OWNER_TAG_LENGTH = PROVENANCE_TAG_LENGTH
GENERATED_KEY_LENGTH = 64


def owner_tag(owner: str, api_name: str) -> str:
    """The start of every consumer key this resource generates: a hash of who creates which app.

    Not a secret (a consumer key is public) and stable across runs: after an interrupted create the
    next create recomputes it and knows the app it finds is its own. Another stack, another
    resource or a person in Setup never produces it (their keys are random or their own).
    """
    return MODEL.provenance_tag(owner, api_name)


def default_owner(resource_name: str) -> str:
    """The `owner` a ConnectedApp named ``resource_name`` gives itself (what its URN says).

    The integration's Preflight computes it too, to tell this resource's own leftover app from an
    unrelated one of the same name."""
    return MODEL.default_owner(resource_name)


def is_own_app(existing: dict[str, Any], api_name: str, owner: str | None, consumer_key: str | None) -> bool:
    """True when an app of our name carries the key this resource would have given it.

    A key the user chose is globally unique, so an app holding it is theirs; a generated key is
    ours only when it carries this resource's owner tag. Anything else is someone else's app.
    """
    live_key = str(existing.get("oauthConfig", {}).get("consumerKey") or "")
    if not live_key:
        return False
    if consumer_key:
        return live_key == consumer_key
    return (
        bool(owner)
        and len(live_key) == GENERATED_KEY_LENGTH
        and live_key.startswith(owner_tag(str(owner), api_name))
    )


def generate_consumer_key(owner: str | None, api_name: str) -> str:
    """A fresh key; with an owner, tagged (the rest stays random so keys stay globally unique)."""
    if not owner:
        return values.generate_credential(GENERATED_KEY_LENGTH)
    return owner_tag(owner, api_name) + values.generate_credential(GENERATED_KEY_LENGTH - OWNER_TAG_LENGTH)


CREATION_BAN_HINT = (
    "this org does not allow creating connected apps (Salesforce blocks it since Spring '26 unless "
    "Support enables it). Either take over an existing app with `adopt: true` (same api_name), or use "
    "an External Client App (`app_type: external_client_app`)"
)


def remembered(previous: dict[str, Any]) -> dict[str, Any]:
    """``previous_values`` as kept in the state: the engine drops None from an object, so the
    fields that had no element are listed apart."""
    return {
        "had": {name: value for name, value in previous.items() if value is not None},
        "absent": sorted(name for name, value in previous.items() if value is None),
    }


def recalled(kept: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``remembered``: field -> value, None for a field that had no element."""
    return {**dict.fromkeys(kept.get("absent") or []), **(kept.get("had") or {})}


class ConnectedAppProvider(OrglinkProvider):
    schema = SCHEMA

    # -- check / diff (no Salesforce calls) ----------------------------------------------------------

    def check_more(self, olds: dict[str, Any], inputs: dict[str, Any]) -> list[CheckFailure]:
        values.default_label(inputs)
        failures = []
        if inputs.get("delete_on_destroy") is True and inputs.get("adopt") is not True:
            failures.append(
                CheckFailure(
                    "delete_on_destroy",
                    "delete_on_destroy: only applies with adopt: true "
                    "(an app orglink created is always deleted on destroy)",
                )
            )
        if olds.get("adopt") is True and inputs.get("adopt") is True:
            old_key, new_key = olds.get("consumer_key"), inputs.get("consumer_key")
            if old_key and new_key and old_key != new_key:
                failures.append(
                    CheckFailure(
                        "consumer_key",
                        "consumer_key: an adopted app keeps its consumer key (Salesforce cannot change it); "
                        "remove consumer_key or set it to the app's key",
                    )
                )
        return failures

    def changes(self, olds: dict[str, Any], news: dict[str, Any]) -> Changes:
        return without_provenance(super().changes(olds, news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        found = self.changes(olds, news)
        replaces = list(found.replaces)
        # A replacement keeps the API name unless it changes too, and two apps of one name cannot
        # exist at once: delete the old one first then.
        same_place = "api_name" not in found.changed and "org" not in found.changed
        return DiffResult(
            changes=found.any, replaces=replaces, delete_before_replace=bool(replaces) and same_place
        )

    # -- create --------------------------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        alias, name = inputs["org"], inputs["api_name"]
        with self.reporting(inputs):
            client = salesforce.org(alias)
            with salesforce.component_lock(alias, METADATA_TYPE, name):
                if inputs.get("adopt"):
                    secret = self._adopt(client, inputs)
                else:
                    secret = self._create_new(client, inputs)
        outs = self._outputs_after_create(client, inputs, secret)
        return CreateResult(outs["app_id"] or f"{alias}/{name}", outs)

    def _outputs_after_create(
        self, client: salesforce.OrgClient, inputs: dict[str, Any], secret: str | None
    ) -> dict[str, Any]:
        """Outputs read back from the org. The app exists now, so a failing read must not fail the
        create (Pulumi would forget an app that exists): fall back to what was written."""
        try:
            outs = self._outputs(client, inputs, secret)
            if outs:
                return outs
        except salesforce.SalesforceError as err:
            self.log(
                f"{client.alias}: created {self.describe(inputs)} but could not read it back: {err}", True
            )
        outs = {k: v for k, v in inputs.items() if k not in CREDENTIAL_FIELDS}
        outs.update(app_id="", org=client.alias)
        if secret:
            outs["consumer_secret"] = secret
        if inputs.get("consumer_key"):
            outs["consumer_key"] = inputs["consumer_key"]
        return outs

    def _create_new(self, client: salesforce.OrgClient, inputs: dict[str, Any]) -> str:
        """Create first (the Preflight already saw the name free): a taken name is rare, and reading
        before every create cost a request."""
        name = inputs["api_name"]
        chosen_key = inputs.get("consumer_key")  # the user's, if any (a leftover is told by it)
        key = inputs.setdefault("consumer_key", generate_consumer_key(inputs.get("owner"), name))
        secret = inputs.get("consumer_secret") or values.generate_credential()
        component = SCHEMA.write({}, {**inputs, "consumer_key": key, "consumer_secret": secret})
        self.log(f"{client.alias}: creating ConnectedApp {name}")
        result = client.create_metadata(METADATA_TYPE, [component])[0]
        if result.success:
            return secret
        if "DUPLICATE_VALUE" not in {p.status_code for p in result.problems}:
            self._raise_create_failure(client, result)
        existing = client.read_component(METADATA_TYPE, name)
        if existing is None:  # the consumer key is taken, not the name
            self._raise_create_failure(client, result)
        if existing.get("oauthConfig", {}).get("consumerKey") == key:
            return secret  # a retried create that had in fact succeeded: the app carries our fresh key
        if not self._is_own_leftover(existing, {**inputs, "consumer_key": chosen_key}):
            raise salesforce.SalesforceError(
                client.alias,
                None,
                "api_name",
                "DUPLICATE_VALUE",
                f"a connected app '{name}' already exists; set `adopt: true` to manage it, "
                "or choose another api_name",
            )
        # Our own create, interrupted before Pulumi recorded it: its secret is lost (Salesforce
        # never returns it), so the app is useless to Org A. Make it again.
        self.log(
            f"{client.alias}: ConnectedApp {name} was left behind by an interrupted create of this "
            "resource; deleting it to create it again with new credentials"
        )
        client.delete_component(METADATA_TYPE, name)
        client.create_component(METADATA_TYPE, component)
        return secret

    @staticmethod
    def _is_own_leftover(existing: dict[str, Any], inputs: dict[str, Any]) -> bool:
        return is_own_app(existing, str(inputs["api_name"]), inputs.get("owner"), inputs.get("consumer_key"))

    def _raise_create_failure(
        self, client: salesforce.OrgClient, result: salesforce.MetadataResult
    ) -> NoReturn:
        err = result.error(client.alias, "create ConnectedApp")
        codes = {p.status_code for p in result.problems}
        message_text = " ".join(p.message for p in result.problems).lower()
        if (
            "INSUFFICIENT_ACCESS" in codes
            or "can't be created" in message_text
            or "cannot be created" in message_text
        ):
            raise salesforce.SalesforceError(
                client.alias, None, "adopt", err.status_code, f"{err.message} -- {CREATION_BAN_HINT}"
            )
        raise err

    def _adopt(self, client: salesforce.OrgClient, inputs: dict[str, Any]) -> str | None:
        name = inputs["api_name"]
        existing = client.read_component(METADATA_TYPE, name)
        if existing is None:
            raise salesforce.SalesforceError(
                client.alias,
                None,
                "api_name",
                "NOT_FOUND",
                f"adopt: there is no connected app '{name}' to take over; check api_name "
                "(Setup > App Manager shows it as the API Name), or remove `adopt` to create the app",
            )
        live_key = existing.get("oauthConfig", {}).get("consumerKey")
        if inputs.get("consumer_key") and live_key and inputs["consumer_key"] != live_key:
            raise salesforce.SalesforceError(
                client.alias,
                None,
                "consumer_key",
                "FIELD_INTEGRITY_EXCEPTION",
                "the existing app has another consumer key and Salesforce cannot change it; "
                "remove consumer_key",
            )
        inputs["previous_values"] = self._write_own_fields(client, existing, inputs, "adopting")
        return inputs.get("consumer_secret")

    def _write_own_fields(
        self, client: salesforce.OrgClient, current: dict[str, Any], inputs: dict[str, Any], doing: str
    ) -> dict[str, Any]:
        """Merge our fields into the live component and update it when something differs; return
        what the changed fields held before (None: the app had no such element)."""
        ours = {k: v for k, v in inputs.items() if k not in CREDENTIAL_FIELDS}
        wanted = SCHEMA.write(copy.deepcopy(current), ours)
        before = SCHEMA.read(current)
        changed = sorted(k for k, v in SCHEMA.read(wanted).items() if before.get(k) != v and k != "api_name")
        if changed:
            self.log(
                f"{client.alias}: {doing} ConnectedApp {inputs['api_name']}: setting {', '.join(changed)}"
            )
            client.update_component(METADATA_TYPE, wanted)
        return remembered({name: before.get(name) for name in changed})

    # -- read ----------------------------------------------------------------------------------------

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self.plain(props)
        with self.reporting(state):
            client = salesforce.org(state["org"])
            outs = self._outputs(client, state, state.get("consumer_secret"))
        if not outs:
            return ReadResult("", {})  # deleted outside Pulumi: drop it from the state
        return ReadResult(outs["app_id"] or id_, outs)

    def _outputs(
        self, client: salesforce.OrgClient, state: dict[str, Any], secret: str | None
    ) -> dict[str, Any]:
        """Live state of the app as outputs; {} when the app does not exist.

        The record Id survives renames and label changes, so it is looked up only once, at the same
        time as the read (after a create both wait on the org).
        """
        name = state["api_name"]
        found_id = str(state.get("app_id") or "")
        if found_id:  # every read but the one after a create: no thread to start
            component = client.read_component(METADATA_TYPE, name)
        else:
            component, found_id = salesforce.together(
                partial(client.read_component, METADATA_TYPE, name),
                lambda: MODEL.find_record_id(client, name) or "",
            )
        if component is None:
            return {}
        outs = SCHEMA.read(component)
        outs["org"] = client.alias
        for behaviour in BEHAVIOUR_FIELDS:
            outs[behaviour] = bool(state.get(behaviour, False))
        if state.get("owner"):
            outs["owner"] = state["owner"]
        if secret:
            outs["consumer_secret"] = secret
        outs["app_id"] = found_id
        if state.get("previous_values"):  # only an adopted app has any
            outs["previous_values"] = state["previous_values"]
        return outs

    # -- update --------------------------------------------------------------------------------------

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = self.plain(olds), self.plain(news)
        alias = old["org"]
        changed = set(self.changes(old, new).changed)
        previous: dict[str, Any] = (old.get("previous_values") or {}) if new.get("adopt") else {}
        with self.reporting(new):
            client = salesforce.org(alias)
            name = old["api_name"]
            if "api_name" in changed and new["api_name"] != name:
                with salesforce.component_lock(alias, METADATA_TYPE, name):
                    self.log(f"{alias}: renaming ConnectedApp {name} to {new['api_name']}")
                    client.rename_component(METADATA_TYPE, name, new["api_name"])
                name = new["api_name"]
            if changed - set(BEHAVIOUR_FIELDS) - {"api_name"}:
                with salesforce.component_lock(alias, METADATA_TYPE, name):
                    current = client.read_component(METADATA_TYPE, name)
                    if current is None:
                        raise salesforce.SalesforceError(
                            alias,
                            None,
                            "api_name",
                            "NOT_FOUND",
                            f"the app '{name}' no longer exists; "
                            "run `pulumi refresh` and `pulumi up` to create it again",
                        )
                    before = self._write_own_fields(client, current, {**new, "api_name": name}, "updating")
                    if new.get("adopt"):  # the value before orglink's first change is the one to put back
                        previous = remembered({**recalled(before), **recalled(previous)})
            state = {**new, "app_id": old.get("app_id"), "previous_values": previous}
            outs = self._outputs(client, state, old.get("consumer_secret"))
        return UpdateResult(outs)

    # -- delete --------------------------------------------------------------------------------------

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        alias, name = state["org"], state["api_name"]
        if state.get("adopt") and not state.get("delete_on_destroy"):
            with self.reporting(state):
                self._release(alias, name, state.get("previous_values") or {})
            return
        with self.reporting(state):
            client = salesforce.org(alias)
            with salesforce.component_lock(alias, METADATA_TYPE, name):
                self.log(f"{alias}: deleting ConnectedApp {name}")
                client.delete_component(METADATA_TYPE, name)

    def _release(self, alias: str, name: str, remembered_values: dict[str, Any]) -> None:
        """Leave an adopted app in place with the fields orglink changed as they were before."""
        previous = recalled(remembered_values)
        if not previous:
            self.log(f"{alias}: releasing adopted ConnectedApp {name} (left in place)")
            return
        self.log(
            f"{alias}: releasing adopted ConnectedApp {name}: putting back {', '.join(sorted(previous))}"
        )
        try:
            salesforce.modify_component(
                alias,
                METADATA_TYPE,
                name,
                lambda app: SCHEMA.put_back(app, previous),
                f"ConnectedApp '{name}'",
            )
        except salesforce.SalesforceError as err:
            if not salesforce.is_not_found(err):
                raise
            self.log(f"{alias}: ConnectedApp {name} was already gone")


class ConnectedApp(AppResource[ConnectedAppArgs], module="salesforce", name="ConnectedApp"):
    """A connected app in a Salesforce org. Type token: ``pulumi-python:dynamic/salesforce:ConnectedApp``."""

    provider_class = ConnectedAppProvider
    model = MODEL
