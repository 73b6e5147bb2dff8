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
import hashlib
from typing import Any, NoReturn, TypedDict

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider, OrglinkResource
from providers.framework.schema import Changes, Field, Schema, flag, inverted_flag, org_field

METADATA_TYPE = "ConnectedApp"


# The inputs, as the Python program writes them (mirrors the schema below; a test keeps them equal).
class ConnectedAppArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    api_name: pulumi.Input[str]
    label: pulumi.Input[str]
    contact_email: pulumi.Input[str]
    description: pulumi.Input[str]
    callback_urls: pulumi.Input[list[str]]
    certificate: pulumi.Input[str]
    scopes: pulumi.Input[list[str]]
    consumer_key: pulumi.Input[str]
    consumer_secret: pulumi.Input[str]
    require_secret_for_web_server_flow: pulumi.Input[bool]
    require_secret_for_refresh_token: pulumi.Input[bool]
    require_secret_for_token_exchange: pulumi.Input[bool]
    token_exchange_enabled: pulumi.Input[bool]
    refresh_token_rotation: pulumi.Input[bool]
    pkce_required: pulumi.Input[bool]
    code_credential_enabled: pulumi.Input[bool]
    code_credential_post_only: pulumi.Input[bool]
    introspect_all_tokens: pulumi.Input[bool]
    named_user_jwt_enabled: pulumi.Input[bool]
    adopt: pulumi.Input[bool]
    delete_on_destroy: pulumi.Input[bool]
    owner: pulumi.Input[str]


def _callback_urls_to_salesforce(urls: list[str]) -> str:
    return "\n".join(urls)  # Salesforce keeps several callback URLs one per line


def _callback_urls_from_salesforce(wire: Any) -> list[str]:
    return values.string_list(str(wire))


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
        Field(
            "label",
            "string",
            "Name shown in Setup (default: the API name with spaces).",
            path="label",
            validate=values.non_empty_text,
        ),
        Field(
            "contact_email",
            "string",
            "Contact e-mail of the app.",
            path="contactEmail",
            required=True,
            validate=values.email,
        ),
        Field(
            "description", "string", "Description shown in Setup.", path="description", validate=values.text
        ),
        Field(
            "callback_urls",
            "list[string]",
            "OAuth callback URLs (use http://localhost when no flow redirects).",
            path="oauthConfig.callbackUrl",
            required=True,
            validate=values.url_list,
            to_salesforce=_callback_urls_to_salesforce,
            from_salesforce=_callback_urls_from_salesforce,
        ),
        Field(
            "certificate",
            "string",
            "X.509 certificate (PEM or base64 body) that turns on 'Use digital signatures' "
            "for the JWT bearer flow.",
            path="oauthConfig.certificate",
            validate=values.certificate,
            to_salesforce=values.certificate_body,
            from_salesforce=values.certificate_from_salesforce,
            compare_key=values.certificate_body,
        ),
        Field(
            "scopes",
            "list[string]",
            "OAuth scopes: enum names (Api), OAuth names (api, refresh_token) or Setup labels.",
            path="oauthConfig.scopes",
            required=True,
            validate=values.scope_list,
            from_salesforce=values.scope_list,
            compare_key=values.scopes_as_read_back,
            docs_values="Api, RefreshToken, Basic, Web, Full, OpenID, ... (any ConnectedAppOauthAccessScope)",
        ),
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
        inverted_flag(
            "require_secret_for_web_server_flow",
            "oauthConfig.isConsumerSecretOptional",
            "Require Secret for Web Server Flow.",
            default=True,
        ),
        flag(
            "require_secret_for_refresh_token",
            "oauthConfig.isSecretRequiredForRefreshToken",
            "Require Secret for Refresh Token Flow.",
            default=True,
        ),
        flag(
            "require_secret_for_token_exchange",
            "oauthConfig.isSecretRequiredForTokenExchange",
            "Require Secret for Token Exchange Flow.",
        ),
        flag("token_exchange_enabled", "oauthConfig.isTokenExchangeEnabled", "Enable Token Exchange Flow."),
        flag(
            "refresh_token_rotation",
            "oauthConfig.isRefreshTokenRotationEnabled",
            "Enable Refresh Token Rotation.",
        ),
        flag(
            "pkce_required",
            "oauthConfig.isPkceRequired",
            "Require Proof Key for Code Exchange (PKCE) for supported authorization flows.",
            default=True,
        ),
        flag(
            "code_credential_enabled",
            "oauthConfig.isCodeCredentialEnabled",
            "Enable Authorization Code and Credentials Flow.",
        ),
        flag(
            "code_credential_post_only",
            "oauthConfig.isCodeCredentialPostOnly",
            "Require user credentials in the POST body for the Authorization Code and Credentials Flow.",
        ),
        flag("introspect_all_tokens", "oauthConfig.isIntrospectAllTokens", "Introspect All Tokens."),
        flag(
            "named_user_jwt_enabled",
            "oauthConfig.isNamedUserJwtEnabled",
            "Issue JSON Web Token (JWT)-based access tokens for named users.",
        ),
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
        Field(
            "owner",
            "string",
            "Who creates the app, `<project>/<stack>/<resource name>` (set by the resource class; "
            "never changes the app). A generated consumer key starts with a tag derived from it, so "
            "an app left behind by an interrupted `pulumi up` is recognised as this resource's own.",
            validate=values.text,
        ),
        Field(
            "app_id",
            "string",
            "Id of the ConnectedApplication record (also the resource id).",
            output_only=True,
        ),
    ),
)

# Inputs that describe the provider's behaviour, not the app: changing them makes no API call.
BEHAVIOUR_FIELDS = ("adopt", "delete_on_destroy")
CREDENTIAL_FIELDS = ("consumer_key", "consumer_secret")
# Provenance only: used when creating, never a reason to change the app (state written before it
# existed has none, and a renamed stack must not update anything).
PROVENANCE_FIELDS = ("owner",)
OWNER_TAG_LENGTH = 24
GENERATED_KEY_LENGTH = 64


def owner_tag(owner: str, api_name: str) -> str:
    """The start of every consumer key this resource generates: a hash of who creates which app.

    Not a secret (a consumer key is public) and stable across runs: after an interrupted create the
    next create recomputes it and knows the app it finds is its own. Another stack, another
    resource or a person in Setup never produces it (their keys are random or their own).
    """
    digest = hashlib.sha256(f"orglink-consumer-key\n{owner}\n{api_name.lower()}".encode()).hexdigest()
    return "OL" + digest[: OWNER_TAG_LENGTH - 2]


def default_owner(resource_name: str) -> str:
    """The `owner` a ConnectedApp named ``resource_name`` gives itself (what its URN says).

    The integration's Preflight computes it too, to tell this resource's own leftover app from an
    unrelated one of the same name."""
    return f"{pulumi.get_project()}/{pulumi.get_stack()}/ConnectedApp/{resource_name}"


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


def find_app_id(client: salesforce.OrgClient, api_name: str) -> str | None:
    """The ConnectedApplication record Id of an app, from listMetadata (its FileProperties id)."""
    for props in client.list_metadata(METADATA_TYPE):
        if str(props.get("fullName", "")).lower() == api_name.lower() and props.get("id"):
            return str(props["id"])
    return None


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
        found = super().changes(olds, news)
        return Changes(tuple(n for n in found.changed if n not in PROVENANCE_FIELDS), found.replaces)

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
        self._write_own_fields(client, existing, inputs, "adopting")
        return inputs.get("consumer_secret")

    def _write_own_fields(
        self, client: salesforce.OrgClient, current: dict[str, Any], inputs: dict[str, Any], doing: str
    ) -> None:
        """Merge our fields into the live component and update it when something differs."""
        ours = {k: v for k, v in inputs.items() if k not in CREDENTIAL_FIELDS}
        wanted = SCHEMA.write(copy.deepcopy(current), ours)
        changed = sorted(k for k, v in SCHEMA.read(wanted).items() if SCHEMA.read(current).get(k) != v)
        if changed:
            self.log(
                f"{client.alias}: {doing} ConnectedApp {inputs['api_name']}: setting {', '.join(changed)}"
            )
            client.update_component(METADATA_TYPE, wanted)

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
        """Live state of the app as outputs; {} when the app does not exist."""
        component = client.read_component(METADATA_TYPE, state["api_name"])
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
        # The record Id survives renames and label changes: look it up only once.
        outs["app_id"] = state.get("app_id") or find_app_id(client, outs["api_name"]) or ""
        return outs

    # -- update --------------------------------------------------------------------------------------

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = self.plain(olds), self.plain(news)
        alias = old["org"]
        changed = set(self.changes(old, new).changed)
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
                    self._write_own_fields(client, current, {**new, "api_name": name}, "updating")
            outs = self._outputs(client, {**new, "app_id": old.get("app_id")}, old.get("consumer_secret"))
        return UpdateResult(outs)

    # -- delete --------------------------------------------------------------------------------------

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        alias, name = state["org"], state["api_name"]
        if state.get("adopt") and not state.get("delete_on_destroy"):
            self.log(f"{alias}: releasing adopted ConnectedApp {name} (left in place)")
            return
        with self.reporting(state):
            client = salesforce.org(alias)
            with salesforce.component_lock(alias, METADATA_TYPE, name):
                self.log(f"{alias}: deleting ConnectedApp {name}")
                client.delete_component(METADATA_TYPE, name)


class ConnectedApp(OrglinkResource[ConnectedAppArgs], module="salesforce", name="ConnectedApp"):
    """A connected app in a Salesforce org. Type token: ``pulumi-python:dynamic/salesforce:ConnectedApp``."""

    org: pulumi.Output[str]
    api_name: pulumi.Output[str]
    label: pulumi.Output[str]
    consumer_key: pulumi.Output[str]
    consumer_secret: pulumi.Output[str]
    app_id: pulumi.Output[str]
    certificate: pulumi.Output[str]
    scopes: pulumi.Output[list[str]]
    callback_urls: pulumi.Output[list[str]]

    provider_class = ConnectedAppProvider

    def prepare(self, resource_name: str, props: dict[str, Any]) -> None:
        if props.get("owner") is None:
            # What a Pulumi URN says, known here and not in the provider (which gets no URN).
            props["owner"] = default_owner(resource_name)
