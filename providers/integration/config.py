"""The stack config `orglink:integrations`, parsed and checked into IntegrationOptions, and what the
program reads of `orglink:orgs` to wire an integration (Org B's My Domain, the callout users).

Every mistake is an IntegrationConfigError whose message starts with the config key to fix, raised
before any resource is registered: `pulumi preview` shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from providers import salesforce
from providers.framework import values
from providers.integration.app_models import (
    APP_MODELS,
    APP_TYPES,
    PLANNED_APP_TYPES,
    WIRED_APP_KEYS,
    WIRED_POLICY_KEYS,
)
from providers.salesforce.connections import GENERIC_LOGIN_HOSTS

CONFIG_KEY = "orglink:integrations"
FLOWS = {"client_credentials": "ClientCredentialsClientSecret",
         "client_credentials_basic": "ClientCredentialsClientSecretBasic"}  # fmt: skip
VERIFY_MODES = ("required", "report", "off")
PRINCIPAL_NAME = "OrgB"
MAX_BASE_LENGTH = 70  # room for "_Access" within Salesforce's 80-character API names


class IntegrationConfigError(ValueError):
    """A mistake in the stack config; the message starts with the config key to fix."""


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
