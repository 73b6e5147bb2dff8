"""OrgToOrgIntegration: one Salesforce org (Org A) calling another (Org B), as one Pulumi component.

Wiring (the reason this component exists):
- a Preflight asks both orgs, read-only, what only they know (profiles, run-as user, an existing
  certificate, the credentials) before any other resource writes to either;
- Org A's Certificate (the org makes the key pair) -> Org B's app `certificate` (digital signatures);
- Org B's app consumer key and secret -> Org A's PrincipalCredential (client id and secret);
- Org B's token URL -> Org A's ExternalCredential `token_url`; Org B's My Domain -> NamedCredential `url`;
- a Verification after everything else proves the integration works.

Org B's side is chosen by ``app_type``: ``connected_app`` or ``external_client_app``. Both are the
same four resources (app, policy, run-as user, profile assignments) wired the same way; only the
classes differ (:data:`APP_MODELS`). Switching an existing stack from one to the other creates the
new app's resources (other type tokens, so other URNs), moves Org A's principal to its credentials
in place, and only then deletes the old app: Pulumi deletes resources that left the program after
every create and update of the run has finished.

Naming (so two stacks on the same orgs never collide): every object's API name is
``<api_name>_<name_suffix>``, where ``api_name`` defaults to the integration's ``name`` made an API
name ("CarrierAPI App" -> ``CarrierAPI_App``) and ``name_suffix`` defaults to the stack name
(``local-assess`` -> ``local_assess``). The Org B app's label is ``<name> (<stack>)``. Set
``name_suffix: ""`` to use the bare names (e.g. in production, where one stack owns the orgs).
Objects: Org B ConnectedApp ``<base>``; Org A Certificate, ExternalCredential and NamedCredential
``<base>``, named principal ``OrgB``, permission set ``<base>_Access``, assigned to each of
``callout_users`` (by default the user orglink's connection to Org A runs as, who also makes the
verification callout): a permission set assigned to nobody lets nobody's Apex call out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi

from providers import salesforce
from providers.framework import values
from providers.framework.schema import Schema
from providers.integration.preflight import Preflight
from providers.integration.verification import Verification, VerificationArgs
from providers.org_a.certificate import Certificate
from providers.org_a.external_credential import ExternalCredential
from providers.org_a.named_credential import NamedCredential
from providers.org_a.permission_set_assignment import PermissionSetAssignment
from providers.org_a.principal_access import PrincipalAccess
from providers.org_a.principal_credential import PrincipalCredential
from providers.org_b.app_model import PROVENANCE_FIELDS
from providers.org_b.connected_app.app import SCHEMA as CONNECTED_APP_SCHEMA
from providers.org_b.connected_app.app import ConnectedApp, default_owner
from providers.org_b.connected_app.policy import SCHEMA as POLICY_SCHEMA
from providers.org_b.connected_app.policy import ConnectedAppPolicy
from providers.org_b.connected_app.profile_assignment import ConnectedAppProfileAssignment
from providers.org_b.connected_app.run_as_user import ClientCredentialsRunAsUser
from providers.org_b.external_client_app.app import SCHEMA as ECA_SCHEMA
from providers.org_b.external_client_app.app import ExternalClientApp
from providers.org_b.external_client_app.app import default_owner as default_eca_owner
from providers.org_b.external_client_app.policy import SCHEMA as ECA_POLICY_SCHEMA
from providers.org_b.external_client_app.policy import ExternalClientAppPolicy
from providers.org_b.external_client_app.profile_assignment import ExternalClientAppProfileAssignment
from providers.org_b.external_client_app.run_as_user import ExternalClientAppRunAsUser

CONFIG_KEY = "orglink:integrations"
FLOWS = {"client_credentials": "ClientCredentialsClientSecret",
         "client_credentials_basic": "ClientCredentialsClientSecretBasic"}  # fmt: skip
VERIFY_MODES = ("required", "report", "off")
PRINCIPAL_NAME = "OrgB"
MAX_BASE_LENGTH = 70  # room for "_Access" within Salesforce's 80-character API names
GENERIC_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")

# Keys of `app` and `policy` the integration sets itself (wired or derived from the names).
# (`owner` and other provenance inputs are the resource's own, made from the stack and resource name.)
WIRED_APP_KEYS = frozenset({"org", "api_name", "certificate", *PROVENANCE_FIELDS})
WIRED_POLICY_KEYS = frozenset({"org", "app", "app_id"})


class IntegrationConfigError(ValueError):
    """A mistake in the stack config; the message starts with the config key to fix."""


# ---------------------------------------------------------------------------------------------
# App types: the four Org B resource classes of each, and the `app`/`policy` keys they take
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppModel:
    """One app type. Everything else about Org B's side (wiring, ordering) is shared."""

    app: type[ConnectedApp] | type[ExternalClientApp]
    policy: type[ConnectedAppPolicy] | type[ExternalClientAppPolicy]
    run_as_user: type[ClientCredentialsRunAsUser] | type[ExternalClientAppRunAsUser]
    access: type[ConnectedAppProfileAssignment] | type[ExternalClientAppProfileAssignment]
    app_keys: frozenset[str]  # what `app:` may hold (the app's inputs, less what is wired)
    policy_keys: frozenset[str]
    # Resource names `<base>-<prefix><part>`. The connected app keeps the unprefixed names of
    # existing stacks; the ECA's differ, so a switch reads as "create eca-*, delete the rest".
    name_prefix: str
    # The run-as user writes a component holding the app's certificate, which some orgs never
    # read back: it is handed the certificate so that its write keeps it.
    run_as_needs_certificate: bool = False
    # An ECA's profile access is a list in the policy component, which the org refuses unless that
    # component says AdminApprovedPreAuthorized: it waits for the policy. A connected app's access is
    # a row of its own and is added while the policy is written.
    access_waits_for_policy: bool = False

    def keys(self, part: str) -> frozenset[str]:
        return self.app_keys if part == "app" else self.policy_keys


def _inputs(schema: Schema, wired: frozenset[str]) -> frozenset[str]:
    return frozenset(spec.name for spec in schema.inputs) - wired


APP_MODELS: dict[str, AppModel] = {
    "connected_app": AppModel(
        ConnectedApp, ConnectedAppPolicy, ClientCredentialsRunAsUser, ConnectedAppProfileAssignment,
        _inputs(CONNECTED_APP_SCHEMA, WIRED_APP_KEYS), _inputs(POLICY_SCHEMA, WIRED_POLICY_KEYS), "",
    ),
    "external_client_app": AppModel(
        ExternalClientApp, ExternalClientAppPolicy, ExternalClientAppRunAsUser,
        ExternalClientAppProfileAssignment,
        _inputs(ECA_SCHEMA, WIRED_APP_KEYS), _inputs(ECA_POLICY_SCHEMA, WIRED_POLICY_KEYS), "eca-",
        run_as_needs_certificate=True, access_waits_for_policy=True,
    ),
}  # fmt: skip
APP_TYPES = tuple(APP_MODELS)
PLANNED_APP_TYPES: tuple[str, ...] = ()  # announced in errors before they are built; none today


# ---------------------------------------------------------------------------------------------
# Options, parsed and validated from the stack config
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntegrationOptions:
    name: str  # "CarrierAPI App": the app's label
    api_name: str  # "CarrierAPI_App": base of every API name, before the suffix
    name_suffix: str  # "local": keeps two stacks on the same orgs apart ("" = none)
    stack: str
    app_type: str = "connected_app"
    org_a: str = "orgA"
    org_b: str = "orgB"
    org_b_url: str | None = None
    flow: str = "client_credentials"
    certificate: Mapping[str, Any] = field(default_factory=dict)
    use_certificate: bool = True
    app: Mapping[str, Any] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)
    run_as_user: str | None = None
    profiles: tuple[str, ...] = ()
    permission_sets: tuple[str, ...] = ()
    principal_permission_set: str | None = None
    # Org A users who get the access permission set; None until resolved: the connection's user.
    callout_users: tuple[str, ...] | None = None
    verify: str = "required"
    verify_timeout_s: int = 600
    config_key: str = CONFIG_KEY  # "orglink:integrations[0]": where messages send the user

    @property
    def base_name(self) -> str:
        return f"{self.api_name}_{self.name_suffix}" if self.name_suffix else self.api_name

    @property
    def label(self) -> str:
        return f"{self.name} ({self.stack})" if self.name_suffix else self.name

    @property
    def access_permission_set(self) -> str:
        return self.principal_permission_set or f"{self.base_name}_Access"

    @property
    def output_prefix(self) -> str:
        """Stack outputs of the 2nd, 3rd... integration: `<api_name lowercased>_consumer_key`, ..."""
        return self.api_name.lower() + "_"


def api_name_from(text: str) -> str:
    """'CarrierAPI App' -> 'CarrierAPI_App'; 'local-assess' -> 'local_assess'."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")
    if name and not name[0].isalpha():
        name = "X" + name
    return name


def parse_integrations(raw: Any, stack: str) -> list[IntegrationOptions]:
    """The value of `orglink:integrations` -> options; IntegrationConfigError names the bad key."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise IntegrationConfigError(f"{CONFIG_KEY}: is not valid JSON/YAML") from None
    if raw is None:
        raise IntegrationConfigError(
            f"{CONFIG_KEY}: is missing; add at least one integration to the stack file"
        )
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise IntegrationConfigError(f"{CONFIG_KEY}: must be a list of integrations (at least one)")
    parsed = [_parse_one(item, f"{CONFIG_KEY}[{index}]", stack) for index, item in enumerate(raw)]
    seen: dict[str, int] = {}
    for index, options in enumerate(parsed):
        if options.api_name.lower() in seen:
            raise IntegrationConfigError(
                f"{CONFIG_KEY}[{index}].name: '{options.name}' gives the same API names as "
                f"{CONFIG_KEY}[{seen[options.api_name.lower()]}]; give one of them another name or api_name"
            )
        seen[options.api_name.lower()] = index
    return parsed


_KNOWN_KEYS = (
    "name", "api_name", "name_suffix", "app_type", "org_a", "org_b", "org_b_url", "flow", "certificate",
    "use_certificate", "app", "policy", "run_as_user", "profiles", "permission_sets",
    "principal_permission_set", "callout_users", "verify", "verify_timeout_s",
)  # fmt: skip


def _parse_one(item: Any, where: str, stack: str) -> IntegrationOptions:
    if not isinstance(item, Mapping):
        raise IntegrationConfigError(f"{where}: must be an object with at least `name`")
    unknown = sorted(set(item) - set(_KNOWN_KEYS))
    if unknown:
        raise IntegrationConfigError(
            f"{where}.{unknown[0]}: is not an integration setting; valid settings: {', '.join(_KNOWN_KEYS)}"
        )

    def get(key: str, rule: Callable[[Any], Any], default: Any = None) -> Any:
        value = item.get(key)
        if value is None:
            return default
        try:
            return rule(value)
        except ValueError as exc:
            raise IntegrationConfigError(f"{where}.{key}: {exc}") from None

    name = get("name", values.non_empty_text)
    if name is None:
        raise IntegrationConfigError(
            f"{where}.name: is required, e.g. `name: CarrierAPI App` (the app's label)"
        )
    api_name = get("api_name", values.api_name) or _derived_api_name(name, f"{where}.name")
    suffix = get("name_suffix", values.text, api_name_from(stack))
    if suffix:
        suffix = _derived_api_name(suffix, f"{where}.name_suffix")
    if len(f"{api_name}_{suffix}") > MAX_BASE_LENGTH:
        raise IntegrationConfigError(
            f"{where}.api_name: '{api_name}_{suffix}' is longer than {MAX_BASE_LENGTH} characters; "
            "choose a shorter api_name or name_suffix"
        )
    app_type = get("app_type", _app_type, "connected_app")
    options = IntegrationOptions(
        name=name,
        api_name=api_name,
        name_suffix=suffix,
        stack=stack,
        app_type=app_type,
        org_a=get("org_a", values.non_empty_text, "orgA"),
        org_b=get("org_b", values.non_empty_text, "orgB"),
        org_b_url=get("org_b_url", values.https_url),
        flow=get("flow", values.one_of(FLOWS), "client_credentials"),
        certificate=get("certificate", _certificate_options, {}),
        use_certificate=get("use_certificate", values.boolean, True),
        app=get("app", _settings("app", app_type, WIRED_APP_KEYS), {}),
        policy=get("policy", _settings("policy", app_type, WIRED_POLICY_KEYS), {}),
        run_as_user=get("run_as_user", values.email),
        profiles=tuple(get("profiles", values.string_list, [])),
        permission_sets=tuple(get("permission_sets", values.string_list, [])),
        principal_permission_set=get("principal_permission_set", values.api_name),
        callout_users=get("callout_users", _usernames),
        verify=get("verify", values.one_of(VERIFY_MODES), "required"),
        verify_timeout_s=get("verify_timeout_s", values.integer, 600),
        config_key=where,
    )
    if options.org_a == options.org_b:
        raise IntegrationConfigError(f"{where}.org_b: must name another org than org_a ('{options.org_a}')")
    if options.verify != "off" and not options.run_as_user:
        raise IntegrationConfigError(
            f"{where}.run_as_user: the client credentials flow needs a run-as user in Org B "
            "(its username, ideally an API-only integration user)"
        )
    return options


def _usernames(value: Any) -> tuple[str, ...]:
    """Salesforce usernames (lower case, each once); an empty list is a choice: assign nobody."""
    found: list[str] = []
    for item in values.string_list(value):
        name = values.salesforce_username(item)
        if name not in found:
            found.append(name)
    return tuple(found)


def _derived_api_name(text: str, where: str) -> str:
    name = api_name_from(text)
    try:
        return str(values.api_name(name))
    except ValueError as exc:
        raise IntegrationConfigError(f"{where}: cannot make an API name from '{text}': {exc}") from None


def _app_type(value: Any) -> str:
    chosen = values.text(value)
    if chosen in APP_TYPES:
        return chosen
    if chosen in PLANNED_APP_TYPES:
        raise ValueError(f"'{chosen}' is not available yet; use one of: {', '.join(APP_TYPES)}")
    raise ValueError(f"'{chosen}' is not an app type; use one of: {', '.join(APP_TYPES)}")


def _certificate_options(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("must be an object: {key_size: 2048} or {existing: <Unique Name>}")
    allowed = {"existing", "key_size", "label"}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"'{unknown[0]}' is not a certificate setting; use existing, key_size or label")
    return dict(value)


def _settings(part: str, app_type: str, wired: frozenset[str]) -> Callable[[Any], dict[str, Any]]:
    """A settings object (`app` or `policy`) whose keys must be inputs of this app type's resource
    (values are checked by it at preview)."""
    allowed = sorted(APP_MODELS[app_type].keys(part))

    def validate(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"must be an object with any of: {', '.join(allowed)}")
        for key in value:
            if key in wired:
                raise ValueError(f"'{key}' is set by the integration itself; remove it")
            if key not in allowed:
                raise ValueError(_not_a_setting(key, part, app_type, allowed))
        return dict(value)

    return validate


def _not_a_setting(key: str, part: str, app_type: str, allowed: list[str]) -> str:
    # A key of the other app type is the likely mistake after switching app_type: say so.
    owners = [other for other, model in APP_MODELS.items() if key in model.keys(part)]
    if owners:
        return (
            f"'{key}' is a setting of app_type {owners[0]} only, and this integration has "
            f"app_type {app_type}; remove it or change app_type"
        )
    return f"'{key}' is not a setting of app_type {app_type}; valid: {', '.join(allowed)}"


# ---------------------------------------------------------------------------------------------
# Org B's My Domain, from the org connections (known at preview, no API call)
# ---------------------------------------------------------------------------------------------


def _org_settings(orgs: Any, alias: str) -> Mapping[str, Any] | None:
    """The connection settings of `alias` in `orglink:orgs`; None when it has none."""
    settings = orgs.get(alias) if isinstance(orgs, Mapping) else None
    return settings if isinstance(settings, Mapping) else None


def _emulator_entry(settings: Mapping[str, Any], alias: str, project_dir: Path, key: str) -> str | None:
    """`key` of the emulator's org an `auth: emulator` connection names, read from its orgs.json;
    None when the connection is not the emulator's."""
    if settings.get("auth") != "emulator" or not settings.get("state_dir"):
        return None
    orgs_file = project_dir / str(settings["state_dir"]) / "orgs.json"
    try:
        return str(json.loads(orgs_file.read_text())[settings.get("emulator_org") or alias][key])
    except (OSError, ValueError, KeyError, TypeError):
        raise IntegrationConfigError(
            f"{salesforce.CONFIG_KEY}.{alias}.state_dir: cannot read org '{alias}' from {orgs_file}; "
            "start the emulator first (make emulator-start)"
        ) from None


def org_my_domain(orgs: Any, alias: str, project_dir: Path) -> str:
    """Org B's My Domain URL: `instance_url`, the emulator's orgs.json, or a My Domain `login_url`."""
    settings = _org_settings(orgs, alias)
    if settings is None:
        raise IntegrationConfigError(
            f"{salesforce.CONFIG_KEY}.{alias}: is missing; add the org's connection "
            f"(`pulumi config set --path '{salesforce.CONFIG_KEY}.{alias}.auth' <mode>`)"
        )
    if settings.get("instance_url"):
        return str(settings["instance_url"]).rstrip("/")
    emulated = _emulator_entry(settings, alias, project_dir, "instance_url")
    if emulated is not None:
        return emulated.rstrip("/")
    from_auth_url = _sfdx_auth_url_instance(settings, alias)
    if from_auth_url:
        return from_auth_url
    login_url = str(settings.get("login_url") or "")
    if login_url.startswith("https://") and not any(host in login_url for host in GENERIC_LOGIN_HOSTS):
        return login_url.rstrip("/")
    raise IntegrationConfigError(
        f"{salesforce.CONFIG_KEY}.{alias}.instance_url: is needed to know Org B's My Domain "
        "(e.g. https://acme.my.salesforce.com; with auth sfdx, `sf org display` shows it), "
        "or set the integration's org_b_url"
    )


def _sfdx_auth_url_instance(settings: Mapping[str, Any], alias: str) -> str:
    """The My Domain at the end of a force:// URL (the part after the refresh token's `@`: not a
    secret, though the whole value is one); "" when the connection has no such URL."""
    if settings.get("auth") != "sfdx_auth_url" or not settings.get("sfdx_auth_url"):
        return ""
    try:
        return salesforce.parse_sfdx_auth_url(alias, str(settings["sfdx_auth_url"])).instance_url
    except salesforce.SalesforceError as err:  # its message never echoes the value
        raise IntegrationConfigError(f"{err.field}: {err.message}") from None


def integration_org_b_url(options: IntegrationOptions, orgs: Any, project_dir: Path) -> str:
    """Org B's My Domain for this integration (its token URL's base), refused on a generic login
    host when the app is an External Client App: orgs answer its flows there with `app_not_found`
    "External client app is not installed in this org"."""
    if options.org_b_url:
        url, where = options.org_b_url, f"{options.config_key}.org_b_url"
    else:
        url = org_my_domain(orgs, options.org_b, project_dir)
        where = f"{salesforce.CONFIG_KEY}.{options.org_b}.instance_url"
    host = (urlparse(url).hostname or "").lower()
    if options.app_type == "external_client_app" and host in GENERIC_LOGIN_HOSTS:
        raise IntegrationConfigError(
            f"{where}: {host} cannot serve an External Client App (Salesforce answers app_not_found "
            "'External client app is not installed in this org'); use Org B's My Domain, "
            "e.g. https://acme.my.salesforce.com, for the token URL"
        )
    return url


# ---------------------------------------------------------------------------------------------
# Who calls out from Org A (known at preview, no API call)
# ---------------------------------------------------------------------------------------------


# Connections whose user only the org knows: a client-credentials app's run-as user, a token's
# or an auth URL's owner, a Salesforce CLI alias.
USER_UNKNOWN_AUTH_MODES = ("client_credentials", "access_token", "sfdx", "sfdx_auth_url")


def connection_username(orgs: Any, alias: str, project_dir: Path) -> str | None:
    """The username orglink's connection to an org runs as, when the connection says it: the
    seeded admin of an emulator org, `username` of a jwt or password connection, or of an sfdx
    connection that names a username rather than an alias. None when only the org could tell."""
    settings = _org_settings(orgs, alias)
    if settings is None:
        return None
    try:
        admin = _emulator_entry(settings, alias, project_dir, "admin_username")
    except IntegrationConfigError:
        return None  # the emulator is not started: its connection fails the resources' checks
    if admin is not None:
        return admin
    auth = settings.get("auth")
    username = str(settings.get("username") or "")
    if auth in ("jwt", "password", "sfdx") and "@" in username:
        return username.lower()
    return None


def with_callout_users(options: IntegrationOptions, orgs: Any, project_dir: Path) -> IntegrationOptions:
    """The options with `callout_users` resolved: as configured, or else the user of orglink's own
    connection to Org A, the one who deploys and runs the verification callout."""
    if options.callout_users is not None:
        return options
    deployer = connection_username(orgs, options.org_a, project_dir)
    if deployer is not None:
        return replace(options, callout_users=(deployer,))
    settings = _org_settings(orgs, options.org_a)
    auth = settings.get("auth") if settings is not None else None
    if auth in USER_UNKNOWN_AUTH_MODES:
        raise IntegrationConfigError(
            f"{options.config_key}.callout_users: orglink cannot tell which user its connection to "
            f"Org A '{options.org_a}' (auth {auth or 'unknown'}) runs as without asking the org, and "
            "that user is the default; list the usernames whose Apex calls Org B, e.g. "
            "`callout_users: [integration@acme.com]` (include the connection's own user: the "
            "verification callout runs as it), or `callout_users: []` to assign the access to nobody"
        )
    # A connection that cannot work (missing, an unknown mode, no orgs.json) fails the preview in
    # the resources' checks, naming its own key: nobody to assign until it is fixed.
    return replace(options, callout_users=())


# ---------------------------------------------------------------------------------------------
# Org B's side: one builder per app type
# ---------------------------------------------------------------------------------------------


@dataclass
class OrgBApp:
    """What Org A's side needs from Org B's app, whatever kind of app it is."""

    consumer_key: pulumi.Output[str]
    consumer_secret: pulumi.Output[str]
    app_id: pulumi.Output[str]
    resources: list[pulumi.Resource]


def _args(settings: Mapping[str, Any], **wired: Any) -> Any:
    """Resource inputs: the user's settings, then what the integration wires (which wins)."""
    return {**settings, **wired}


def build_org_b_app(
    model: AppModel,
    options: IntegrationOptions,
    certificate_pem: pulumi.Output[str] | None,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> OrgBApp:
    """Org B's app, its policy, run-as user and access, of the classes of one app type; none of them
    starts before the resources in ``after`` (the integration's Preflight)."""
    child = pulumi.ResourceOptions(parent=parent, depends_on=list(after))
    name = f"{options.base_name}-{model.name_prefix}"
    wired: dict[str, Any] = {"org": options.org_b, "api_name": options.base_name}
    if certificate_pem is not None:
        wired["certificate"] = certificate_pem
    app = model.app(f"{name}app", _args({"label": options.label, **options.app}, **wired), child)
    part = {"org": options.org_b, "app": app.api_name, "app_id": app.app_id}
    # The app's policy, run-as user and access rows go with the app when it is deleted: restoring
    # them first would be requests for nothing (an adopted app that stays keeps the restores).
    with_app = app if app_is_deleted_on_destroy(options) else None
    of_app = pulumi.ResourceOptions(parent=parent, depends_on=list(after), deleted_with=with_app)
    policy = model.policy(f"{name}policy", _args(options.policy, **part), of_app)
    resources: list[pulumi.Resource] = [app, policy]
    if options.run_as_user:
        run_as = _args({}, **part, username=options.run_as_user)
        if model.run_as_needs_certificate and certificate_pem is not None:
            run_as["app_certificate"] = app.certificate
        resources.append(model.run_as_user(f"{name}run-as", run_as, of_app))
    access_after = [*after, policy] if model.access_waits_for_policy else list(after)
    of_access = pulumi.ResourceOptions(parent=parent, depends_on=access_after, deleted_with=with_app)
    for profile in options.profiles:
        access = _args({}, **part, profile=profile)
        resources.append(model.access(f"{name}profile-{api_name_from(profile)}", access, of_access))
    for permission_set in options.permission_sets:
        access = _args({}, **part, permission_set=permission_set)
        resources.append(model.access(f"{name}permset-{permission_set}", access, of_access))
    return OrgBApp(app.consumer_key, app.consumer_secret, app.app_id, resources)


def app_is_deleted_on_destroy(options: IntegrationOptions) -> bool:
    """False only for an adopted connected app that destroy leaves in place."""
    return not options.app.get("adopt") or bool(options.app.get("delete_on_destroy"))


def build_connected_app(
    options: IntegrationOptions,
    certificate_pem: pulumi.Output[str] | None,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> OrgBApp:
    return build_org_b_app(APP_MODELS["connected_app"], options, certificate_pem, parent, after)


def build_external_client_app(
    options: IntegrationOptions,
    certificate_pem: pulumi.Output[str] | None,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> OrgBApp:
    return build_org_b_app(APP_MODELS["external_client_app"], options, certificate_pem, parent, after)


OrgBBuilder = Callable[
    [IntegrationOptions, "pulumi.Output[str] | None", pulumi.Resource, Sequence[pulumi.Resource]], OrgBApp
]
ORG_B_BUILDERS: dict[str, OrgBBuilder] = {
    "connected_app": build_connected_app,
    "external_client_app": build_external_client_app,
}


# ---------------------------------------------------------------------------------------------
# The component
# ---------------------------------------------------------------------------------------------


class OrgToOrgIntegration(pulumi.ComponentResource):
    """Org A calls Org B: certificate, Org B app, Org A credentials and a verification."""

    consumer_key: pulumi.Output[str]
    consumer_secret: pulumi.Output[str]
    token_url: pulumi.Output[str]
    named_credential: pulumi.Output[str]
    certificate_fingerprint: pulumi.Output[str]
    certificate_expires: pulumi.Output[str]
    verification: pulumi.Output[dict[str, Any]]

    def __init__(
        self, options: IntegrationOptions, org_b_url: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("orglink:index:OrgToOrgIntegration", options.base_name, None, opts)
        name = options.base_name
        token_url = f"{org_b_url}/services/oauth2/token"
        # Asks both orgs what only they know before anything is written to either: every other
        # resource waits for it, so a mistake found there leaves no partial integration behind.
        preflight = Preflight(
            f"{name}-preflight", self._preflight_args(options), pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=[preflight])

        certificate = Certificate(f"{name}-certificate", self._certificate_args(options), child)
        org_b = ORG_B_BUILDERS[options.app_type](
            options, certificate.certificate if options.use_certificate else None, self, [preflight]
        )
        external = ExternalCredential(
            f"{name}-external-credential",
            {"org": options.org_a, "api_name": name, "label": options.label,
             "variant": FLOWS[options.flow], "token_url": token_url, "principal_name": PRINCIPAL_NAME},
            child,
        )  # fmt: skip
        gate = self._token_gate(options, org_b, token_url, certificate, [preflight, *org_b.resources])
        principal = PrincipalCredential(
            f"{name}-principal-credential",
            {"org": options.org_a, "external_credential": external.api_name,
             "principal_name": external.principal_name, "variant": FLOWS[options.flow],
             "client_id": org_b.consumer_key, "client_secret": org_b.consumer_secret},
            # Org A takes the credentials only of an app that can issue tokens (policy, run-as user
            # and access applied, and Org B's token endpoint accepting them: a new app propagates
            # for minutes): when app_type switches, the old app serves until then. Deleting the
            # external credential deletes its principals' credentials.
            pulumi.ResourceOptions(
                parent=self, depends_on=[preflight, *org_b.resources, *gate], deleted_with=external
            ),
        )  # fmt: skip
        named = NamedCredential(
            f"{name}-named-credential",
            {"org": options.org_a, "api_name": name, "label": options.label, "url": org_b_url,
             "external_credential": external.api_name},
            child,
        )  # fmt: skip
        access = PrincipalAccess(
            f"{name}-principal-access",
            {"org": options.org_a, "permission_set": options.access_permission_set,
             "label": f"{options.label} access", "principal": external.principal},
            child,
        )  # fmt: skip
        callout_access = [
            PermissionSetAssignment(
                f"{name}-callout-user-{username}",
                {"org": options.org_a, "permission_set": access.permission_set, "username": username,
                 "owned_permission_set": access.created_permission_set},
                pulumi.ResourceOptions(parent=self, depends_on=[preflight, access]),
            )
            for username in options.callout_users or ()
        ]  # fmt: skip
        everything: list[pulumi.Resource] = [preflight, certificate, *org_b.resources, *gate, external,
                                             principal, named, access, *callout_access]  # fmt: skip
        self.verification = self._verification(
            options, org_b, token_url, named, certificate, principal, everything, gate
        )

        self.consumer_key = org_b.consumer_key
        self.consumer_secret = pulumi.Output.secret(org_b.consumer_secret)
        self.token_url = pulumi.Output.from_input(token_url)
        self.named_credential = named.api_name
        self.certificate_fingerprint = certificate.fingerprint_sha256
        self.certificate_expires = certificate.expires
        self.register_outputs(
            {"consumer_key": self.consumer_key, "token_url": self.token_url,
             "named_credential": self.named_credential, "verification": self.verification}
        )  # fmt: skip

    @staticmethod
    def _preflight_args(options: IntegrationOptions) -> Any:
        args = {
            "integration": options.base_name, "config_key": options.config_key,
            "org_a": options.org_a, "org_b": options.org_b,
            "profiles": list(options.profiles), "permission_sets": list(options.permission_sets),
            "run_as_user": options.run_as_user, "existing_certificate": options.certificate.get("existing"),
            "callout_users": list(options.callout_users or ()),
        }  # fmt: skip
        if options.app_type == "connected_app":
            # What the app's create would find out only after Org A's certificate exists.
            model = APP_MODELS["connected_app"]
            args.update(
                app_api_name=options.base_name, app_adopt=bool(options.app.get("adopt")),
                app_consumer_key=options.app.get("consumer_key"),
                app_owner=default_owner(f"{options.base_name}-{model.name_prefix}app"),
            )  # fmt: skip
        else:
            # A foreign ECA of the name would otherwise be found only after Org A's certificate exists.
            model = APP_MODELS["external_client_app"]
            args.update(
                eca_api_name=options.base_name,
                eca_owner=default_eca_owner(f"{options.base_name}-{model.name_prefix}app"),
                eca_may_enable_secret_access=bool(options.app.get("enable_secret_in_rest_api")),
            )
        return args

    @staticmethod
    def _certificate_args(options: IntegrationOptions) -> Any:
        args: dict[str, Any] = {"org": options.org_a}
        if options.certificate.get("existing"):
            args["existing"] = options.certificate["existing"]
        else:
            args.update(api_name=options.base_name, label=options.certificate.get("label") or options.label)
            if options.certificate.get("key_size"):
                args["key_size"] = options.certificate["key_size"]
        return args

    def _token_gate(
        self,
        options: IntegrationOptions,
        org_b: OrgBApp,
        token_url: str,
        certificate: Certificate,
        after: list[pulumi.Resource],
    ) -> list[Verification]:
        """The verification's first half, Org B issuing a token to the app, made before Org A
        takes the app's credentials (none with `verify: off`, which asks nothing)."""
        if options.verify == "off":
            return []
        return [Verification(
            f"{options.base_name}-token-gate",
            {**self._verification_args(options, org_b, token_url), "checks": "token",
             # The named credential is only named (the gate runs before Org A's side changes).
             "named_credential": options.base_name,
             "triggers": pulumi.Output.all(org_b.app_id, certificate.fingerprint_sha256,
                                           options.run_as_user or "")},
            pulumi.ResourceOptions(parent=self, depends_on=after),
        )]  # fmt: skip

    @staticmethod
    def _verification_args(options: IntegrationOptions, org_b: OrgBApp, token_url: str) -> VerificationArgs:
        return {"org_a": options.org_a, "org_b": options.org_b, "flow": "client_credentials",
                "token_url": token_url, "consumer_key": org_b.consumer_key,
                "consumer_secret": org_b.consumer_secret, "timeout_s": options.verify_timeout_s,
                "required": options.verify == "required"}  # fmt: skip

    def _verification(
        self,
        options: IntegrationOptions,
        org_b: OrgBApp,
        token_url: str,
        named: NamedCredential,
        certificate: Certificate,
        principal: PrincipalCredential,
        everything: list[pulumi.Resource],
        gate: list[Verification],
    ) -> pulumi.Output[dict[str, Any]]:
        if options.verify == "off" or not gate:
            return pulumi.Output.from_input(
                {"ok": False, "flow": options.flow, "detail": "verification is turned off (verify: off)"}
            )
        verification = Verification(
            f"{options.base_name}-verification",
            {**self._verification_args(options, org_b, token_url), "checks": "callout",
             "named_credential": named.api_name,
             # Prove it again when any of these change: another app, certificate or credentials.
             "triggers": pulumi.Output.all(org_b.app_id, certificate.fingerprint_sha256,
                                           principal.credentials_hash, options.run_as_user or "")},
            pulumi.ResourceOptions(parent=self, depends_on=everything),
        )  # fmt: skip
        # One result of both halves, as before the split: ok only if both passed.
        return pulumi.Output.all(gate[0].ok, gate[0].detail, verification.ok, verification.detail).apply(
            lambda parts: {"ok": bool(parts[0]) and bool(parts[2]), "flow": options.flow,
                           "detail": "; ".join(str(part) for part in (parts[1], parts[3]) if part)}
        )  # fmt: skip
