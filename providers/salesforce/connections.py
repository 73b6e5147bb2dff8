"""The org connections: the stack config key ``orglink:orgs`` (alias -> connection settings).

They are handed to the providers' ``configure()`` and live in this module's registry, never in a
provider object: the engine pickles provider objects into the state, and credentials must not end
up there. A connection is validated when its org is first used, so one bad entry does not break
resources in other orgs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from providers.salesforce.errors import SalesforceError

Cache = TypeVar("Cache", dict[str, Any], set[str])

DEFAULT_API_VERSION = "63.0"
MINIMUM_API_VERSION = (63, 0)
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
# The program reads it as `orgs` of pulumi.Config("orglink"), a provider's configure() by full key.
CONFIG_NAMESPACE = "orglink"
CONFIG_NAME = "orgs"
CONFIG_KEY = f"{CONFIG_NAMESPACE}:{CONFIG_NAME}"
AUTH_MODES = ("jwt", "client_credentials", "password", "access_token", "sfdx", "sfdx_auth_url", "emulator")
APP_TYPES = ("connected_app", "external_client_app")
# Salesforce's shared login hosts: an External Client App is not known there.
GENERIC_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


@dataclass(frozen=True)
class Connection:
    """How to reach one org. Holds secrets: its repr shows none of them."""

    alias: str
    auth: str
    login_url: str = DEFAULT_LOGIN_URL
    instance_url: str | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    consumer_key: str | None = field(default=None, repr=False)
    consumer_secret: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    # force://<clientId>:<clientSecret>:<refreshToken>@<host>, what `sf org auth show-sfdx-auth-url` prints.
    sfdx_auth_url: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    api_version: str = DEFAULT_API_VERSION
    state_dir: str | None = None
    # The org's key in the emulator's orgs.json when it differs from the alias.
    emulator_org: str | None = None
    # The kind of app behind a jwt / client_credentials / password login: `connected_app` (what
    # orglink assumes when left out) or `external_client_app`, whose OAuth flows work only through
    # the org's My Domain and never by username and password.
    app_type: str | None = None


_CONNECTION_FIELDS = {f.name for f in fields(Connection)} - {"alias"}
_REQUIRED_BY_AUTH: dict[str, tuple[str, ...]] = {
    "jwt": ("consumer_key", "username", "private_key"),
    "client_credentials": ("consumer_key", "consumer_secret"),
    "password": ("username", "password"),
    "access_token": ("access_token", "instance_url"),
    "sfdx": ("username",),
    "sfdx_auth_url": ("sfdx_auth_url",),
    "emulator": ("state_dir",),
}


registry_lock = threading.Lock()
_connections: dict[str, Connection] | None = None
# Caches keyed by org alias that hold what a connection gave (logged-in clients, warnings already
# shown): emptied for an alias whose connection changes, and entirely by reset().
_alias_caches: list[dict[str, Any] | set[str]] = []


def per_alias_cache(cache: Cache) -> Cache:
    """Register a cache keyed by org alias with the registry (see _alias_caches); returns it."""
    _alias_caches.append(cache)
    return cache


def _forget_alias(alias: str | None) -> None:
    """Empty every per-alias cache for one alias, or for all of them (None). Hold registry_lock."""
    for cache in _alias_caches:
        if alias is None:
            cache.clear()
        elif isinstance(cache, dict):
            cache.pop(alias, None)
        else:
            cache.discard(alias)


def orgs_value(config: Any) -> Any:
    """The value of ``orglink:orgs`` in a stack's config, read from the program's
    ``pulumi.Config("orglink")`` (by its name in the namespace) or from the config a dynamic
    provider's configure() receives (by its full key)."""
    if hasattr(config, "get_object"):
        return config.get_object(CONFIG_NAME)
    return config.get(CONFIG_KEY)


def configure_orgs(raw: Any) -> None:
    """Install the connections from the value of ``orglink:orgs`` (a JSON object or its text).

    Problems with one connection are reported when that org is first used, so one bad entry does
    not break resources in other orgs. A changed connection drops that org's cached client.
    """
    global _connections
    parsed = parse_orgs_value(raw)
    with registry_lock:
        previous = _connections or {}
        for alias in set(previous) | set(parsed):
            if parsed.get(alias) != previous.get(alias):
                # Its client logs in anew; its legacy-auth warning is worth showing once more.
                _forget_alias(alias)
        _connections = parsed


def configured_aliases() -> list[str] | None:
    """The configured org aliases, or None when configure() has not run in this process."""
    with registry_lock:
        return None if _connections is None else sorted(_connections)


def reset() -> None:
    """Forget every connection and client (tests; a fresh configure follows)."""
    global _connections
    with registry_lock:
        _connections = None
        _forget_alias(None)


def parse_orgs_value(raw: Any) -> dict[str, Connection]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            # Never echo the text: it holds passwords.
            raise SalesforceError(
                "*", None, CONFIG_KEY, "ORGLINK_CONFIG", f"`{CONFIG_KEY}` is not valid JSON"
            ) from None
    if not isinstance(raw, Mapping):
        raise SalesforceError(
            "*",
            None,
            CONFIG_KEY,
            "ORGLINK_CONFIG",
            f"`{CONFIG_KEY}` must be an object of alias -> connection",
        )
    connections: dict[str, Connection] = {}
    for alias, settings in raw.items():
        if isinstance(settings, Mapping):
            connections[str(alias)] = _connection_from_settings(str(alias), settings)
    return connections


def _connection_from_settings(alias: str, settings: Mapping[str, Any]) -> Connection:
    values: dict[str, Any] = {}
    for name in _CONNECTION_FIELDS:
        value = settings.get(name)
        if value is not None and value != "":
            values[name] = str(value) if name != "api_version" else value
    values.setdefault("auth", "")
    if "api_version" in values:
        values["api_version"] = _normalise_api_version(values["api_version"])
    return Connection(alias=alias, **values)


def _normalise_api_version(value: Any) -> str:
    text = str(value).strip().lstrip("vV")
    try:
        major, _, minor = text.partition(".")
        return f"{int(major)}.{int(minor or 0)}"
    except ValueError:
        return text  # rejected with a clear message by _validate_connection


def connection(alias: str) -> Connection:
    """The validated connection for an alias, or a SalesforceError saying how to add it."""
    with registry_lock:
        known = _connections
    if known is None:
        raise SalesforceError(
            alias,
            None,
            "org",
            "ORGLINK_CONFIG",
            f"no org connections are configured: set `{CONFIG_KEY}` in the stack config",
        )
    found = known.get(alias)
    if found is None:
        names = ", ".join(sorted(known)) or "none"
        raise SalesforceError(
            alias,
            None,
            "org",
            "ORGLINK_CONFIG",
            f"org alias '{alias}' is not in `{CONFIG_KEY}` (configured: {names}); add it with "
            f"`pulumi config set --path '{CONFIG_KEY}.{alias}.auth' <mode>`",
        )
    _validate_connection(found)
    return found


def _validate_connection(conn: Connection) -> None:
    def fail(field_name: str, message: str) -> None:
        raise SalesforceError(
            conn.alias, None, f"{CONFIG_KEY}.{conn.alias}.{field_name}", "ORGLINK_CONFIG", message
        )

    if conn.auth not in AUTH_MODES:
        fail("auth", f"auth must be one of {', '.join(AUTH_MODES)} (got '{conn.auth}')")
    for required in _REQUIRED_BY_AUTH[conn.auth]:
        if getattr(conn, required) is None:
            fail(required, f"auth '{conn.auth}' needs '{required}'")
    for url_field in ("login_url", "instance_url"):
        url = getattr(conn, url_field)
        if url is not None and not url.startswith("https://"):
            fail(url_field, f"{url_field} must be an https:// URL (got '{url}')")
    try:
        major, minor = (int(part) for part in conn.api_version.split("."))
    except ValueError:
        fail("api_version", f"api_version must look like '63.0' (got '{conn.api_version}')")
    else:
        if (major, minor) < MINIMUM_API_VERSION:
            fail("api_version", f"api_version {conn.api_version} is too old: orglink needs 63.0 or newer")
    _validate_app_type(conn, fail)
    if conn.ca_bundle is not None and conn.ca_bundle.lower() in ("false", "0", "no"):
        fail("ca_bundle", "certificate verification cannot be turned off; give the path of a CA bundle")
    if conn.ca_bundle is not None and not Path(conn.ca_bundle).is_file():
        fail("ca_bundle", f"CA bundle '{conn.ca_bundle}' does not exist")


def _is_generic_login_host(url: str | None) -> bool:
    host = (urlparse(url or "").hostname or "").lower()
    return host in GENERIC_LOGIN_HOSTS


def _validate_app_type(conn: Connection, fail: Callable[[str, str], None]) -> None:
    """An External Client App's flows fail on login/test.salesforce.com (`app_not_found`
    "External client app is not installed in this org", or "audience is invalid" for a JWT), and
    ECAs have no username-password flow: say so before any login is tried."""
    if conn.app_type is None:
        return
    if conn.app_type not in APP_TYPES:
        fail("app_type", f"app_type must be one of {', '.join(APP_TYPES)} (got '{conn.app_type}')")
    if conn.app_type != "external_client_app":
        return
    if conn.auth == "password":
        fail(
            "auth",
            "External Client Apps do not support the username-password flow, so auth 'password' "
            "cannot log in through one; use auth 'jwt' (the ECA's consumer_key, a username and the "
            "private key of the certificate in the ECA) or 'client_credentials', with login_url set "
            "to the org's My Domain",
        )
    if conn.auth == "jwt" and _is_generic_login_host(conn.login_url):
        fail(
            "login_url",
            f"an External Client App's JWT bearer flow fails on {urlparse(conn.login_url).hostname} "
            "(Salesforce answers app_not_found or 'audience is invalid'): set login_url to the org's "
            "My Domain, e.g. https://acme.my.salesforce.com (it is also the JWT's audience)",
        )
    if conn.auth == "client_credentials" and _is_generic_login_host(conn.instance_url or conn.login_url):
        where = "instance_url" if conn.instance_url else "login_url"
        fail(
            where,
            f"an External Client App's client credentials flow fails on "
            f"{urlparse(getattr(conn, where)).hostname} (Salesforce answers app_not_found): set {where} "
            "to the org's My Domain, e.g. https://acme.my.salesforce.com",
        )
