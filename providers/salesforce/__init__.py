"""The one Salesforce access layer every orglink resource uses.

Connections come from the stack config key ``orglink:orgs`` (alias -> connection settings), handed to
the providers' ``configure()``. They live in this module's registry, never in a provider object: the
engine pickles provider objects into the state, and credentials must not end up there.

An :class:`OrgClient` is one logged-in org: REST through ``simple_salesforce.Salesforce`` and the
Metadata API through zeep with the WSDL simple-salesforce ships. Both share one ``requests.Session``
so the configured CA bundle reaches every call (simple-salesforce's own ``mdapi`` builds a zeep
client with a private session that only ``REQUESTS_CA_BUNDLE`` could reach; we build our own).

Every call goes through :meth:`OrgClient.call`: transient failures are retried with exponential
backoff and full jitter inside a total time budget, and an expired session is renewed once.
Errors reach the user as :class:`SalesforceError`, which keeps Salesforce's status code and message.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote_plus, urlparse
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import jwt
import requests
import simple_salesforce
import zeep
import zeep.exceptions
import zeep.helpers
import zeep.transports
import zeep.wsdl
from cryptography.fernet import Fernet, InvalidToken
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from providers.salesforce import metadata_wsdl

T = TypeVar("T")

DEFAULT_API_VERSION = "63.0"
MINIMUM_API_VERSION = (63, 0)
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
CONFIG_KEY = "orglink:orgs"
AUTH_MODES = ("jwt", "client_credentials", "password", "access_token", "sfdx", "sfdx_auth_url", "emulator")
APP_TYPES = ("connected_app", "external_client_app")
# Salesforce's shared login hosts: an External Client App is not known there.
GENERIC_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")

# Salesforce codes that mean "try again later", from REST errors, SOAP faults and metadata results.
TRANSIENT_CODES = frozenset(
    {
        "REQUEST_LIMIT_EXCEEDED",
        "ALREADY_IN_PROCESS",
        "UNABLE_TO_LOCK_ROW",
        "UNKNOWN_EXCEPTION",
        "SERVER_UNAVAILABLE",
    }
)
SESSION_CODES = frozenset({"INVALID_SESSION_ID"})

# requests has no session-wide timeout; a hung org must not hang `pulumi up` forever.
CONNECT_TIMEOUT_S = 15.0
READ_TIMEOUT_S = 180.0

# zeep logs whole envelopes (consumer secrets included) at DEBUG; keep that out of any log.
logging.getLogger("zeep.transports").setLevel(logging.INFO)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class SalesforceError(Exception):
    """A failure the user has to act on: names the resource, the org, the field and Salesforce's words.

    ``status_code`` is Salesforce's code (``DUPLICATE_VALUE``, ``invalid_grant``, ...) or one of ours
    (``ORGLINK_CONFIG``, ``NOT_FOUND``, ...). Never put a credential in any of these fields.
    """

    def __init__(
        self,
        org: str,
        resource: str | None,
        field: str | None,
        status_code: str,
        message: str,
    ) -> None:
        self.org = org
        self.resource = resource
        self.field = field
        self.status_code = status_code
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.resource} in org '{self.org}'" if self.resource else f"org '{self.org}'"
        field_part = f" (field '{self.field}')" if self.field else ""
        return f"{where}{field_part}: {self.status_code}: {self.message}"

    def about(self, resource: str | None = None, field: str | None = None) -> SalesforceError:
        """The same error, attributed to a resource and an input field (set only where still unknown)."""
        return SalesforceError(
            self.org,
            self.resource or resource,
            self.field or field,
            self.status_code,
            self.message,
        )


class _RetryableResultError(Exception):
    """A metadata result that failed with a transient code: raised inside call() so it is retried."""

    def __init__(self, status_code: str, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code


# ---------------------------------------------------------------------------------------------
# Connections: the registry filled by configure()
# ---------------------------------------------------------------------------------------------


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

_registry_lock = threading.Lock()
_connections: dict[str, Connection] | None = None
_clients: dict[str, OrgClient] = {}
_client_locks: dict[str, threading.Lock] = {}


def configure_orgs(raw: Any) -> None:
    """Install the connections from the value of ``orglink:orgs`` (a JSON object or its text).

    Problems with one connection are reported when that org is first used, so one bad entry does
    not break resources in other orgs. A changed connection drops that org's cached client.
    """
    global _connections
    parsed = _parse_orgs_value(raw)
    with _registry_lock:
        previous = _connections or {}
        for alias in set(previous) | set(parsed):
            if parsed.get(alias) != previous.get(alias):
                _clients.pop(alias, None)
                _legacy_warned.discard(alias)  # a changed connection is worth one more warning
        _connections = parsed


def configured_aliases() -> list[str] | None:
    """The configured org aliases, or None when configure() has not run in this process."""
    with _registry_lock:
        return None if _connections is None else sorted(_connections)


def reset() -> None:
    """Forget every connection and client (tests; a fresh configure follows)."""
    global _connections
    with _registry_lock:
        _connections = None
        _clients.clear()
        _legacy_warned.clear()


def _parse_orgs_value(raw: Any) -> dict[str, Connection]:
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
    with _registry_lock:
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


# ---------------------------------------------------------------------------------------------
# Logging in
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    session_id: str = field(repr=False)
    instance_url: str
    ca_bundle: str | None


# Set to a file path, every request to an org appends one JSON line there (`make contract` counts
# and times them): org alias, API family, method, path without query, status, seconds. Never a
# header, a body or a query string: those carry sessions, secrets and Apex.
REQUEST_LOG_ENV = "ORGLINK_REQUEST_LOG"
REQUEST_FAMILIES = ("login", "oauth", "rest", "metadata", "deploy", "connect", "tooling")
_DEPLOY_OPERATIONS = frozenset(
    {
        "deploy",
        "checkDeployStatus",
        "cancelDeploy",
        "retrieve",
        "checkRetrieveStatus",
        "deployRecentValidation",
    }
)
_SOAP_OPERATION = re.compile(rb"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)")
_request_log_lock = threading.Lock()


def soap_operation(body: Any) -> str:
    """The operation element of a SOAP envelope (`readMetadata`, `deploy`, `login`), or ''."""
    raw = body.encode() if isinstance(body, str) else body
    found = _SOAP_OPERATION.search(raw) if isinstance(raw, bytes) else None
    return found.group(1).decode() if found else ""


def request_family(path: str, operation: str = "") -> str:
    """Which API family a request to an org belongs to (the latency profile's keys)."""
    if "/services/Soap/u/" in path:
        return "login"
    if path.startswith("/services/oauth2/"):
        return "oauth"
    if "/services/Soap/m/" in path:
        return "deploy" if operation in _DEPLOY_OPERATIONS else "metadata"
    if "/tooling/" in path:
        return "tooling"
    if "/named-credentials/" in path or "/apps/oauth/" in path or "/connect/" in path:
        return "connect"
    return "rest"


def _form_value(body: Any, wanted: str) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        if name == wanted:
            return unquote_plus(value)
    return ""


def _client_tag(body: Any) -> str:
    """A token request's app, as 8 hex of a hash of its client id: tells apps apart in the log
    (how long each new app took to reach the login servers) without naming the key."""
    client_id = _form_value(body, "client_id")
    return hashlib.sha256(client_id.encode()).hexdigest()[:8] if client_id else ""


def log_request(
    alias: str, method: str, path: str, operation: str, status: int, seconds: float, client: str = ""
) -> None:
    """One line in the request log, when ORGLINK_REQUEST_LOG names one (no secret ever)."""
    target = os.environ.get(REQUEST_LOG_ENV)
    if not target:
        return
    line = json.dumps(
        {
            "at": round(time.time() - seconds, 3),
            "org": alias,
            "family": request_family(path, operation),
            "method": method,
            "path": path,
            "operation": operation,
            "status": status,
            "seconds": round(seconds, 4),
            "client": client,
        }
    )
    try:
        with _request_log_lock, open(target, "a", encoding="utf-8") as log:
            log.write(line + "\n")
    except OSError:
        pass  # counting must never break a resource operation


class _OrgAdapter(HTTPAdapter):
    """Every request to the org: a timeout unless the caller chose one, and the org's CA bundle.

    The bundle is applied here, not only as ``Session.verify``, because requests lets the
    environment's REQUESTS_CA_BUNDLE override a session's own setting. Here too each request is
    written to the request log (``log_request``).
    """

    def __init__(self, alias: str = "") -> None:
        super().__init__()
        self.ca_bundle: str | None = None
        self.alias = alias

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
        if self.ca_bundle:
            kwargs["verify"] = self.ca_bundle
        if not os.environ.get(REQUEST_LOG_ENV):
            return super().send(request, **kwargs)
        path = urlparse(request.url or "").path
        operation = _request_operation(path, request.body)
        client = _client_tag(request.body) if operation else ""
        started = time.monotonic()
        status = 0
        try:
            response = super().send(request, **kwargs)
            status = response.status_code
            return response
        finally:
            seconds = time.monotonic() - started
            log_request(self.alias, request.method or "", path, operation, status, seconds, client)


def _request_operation(path: str, body: Any) -> str:
    """What the log says a request did beyond its path: a SOAP operation or an OAuth grant type."""
    if "/services/Soap/" in path:
        return soap_operation(body)
    if path.startswith("/services/oauth2/token"):
        return _form_value(body, "grant_type")
    return ""


def _new_session(ca_bundle: str | None, alias: str = "") -> requests.Session:
    session = requests.Session()
    adapter = _OrgAdapter(alias)
    session.mount("https://", adapter)
    _trust(session, ca_bundle)
    session.headers["User-Agent"] = "orglink"
    return session


def _trust(session: requests.Session, ca_bundle: str | None) -> None:
    """Verify the org's certificate against its CA bundle, or the system store. Never turned off."""
    session.verify = ca_bundle if ca_bundle else True
    adapter = session.get_adapter("https://")
    if isinstance(adapter, _OrgAdapter):
        adapter.ca_bundle = ca_bundle


def _login(conn: Connection, session: requests.Session) -> LoginResult:
    """Authenticate one org with its configured mode. Never puts a credential in an error."""
    if conn.auth == "emulator":
        return _login_emulator(conn, session)
    if conn.auth == "password":
        password = (conn.password or "") + (conn.security_token or "")
        return _soap_login(conn, session, conn.login_url, conn.username or "", password, conn.ca_bundle)
    if conn.auth == "jwt":
        form = _jwt_grant(
            conn, conn.consumer_key or "", conn.username or "", conn.login_url, _private_key_text(conn)
        )
        return _token_login(conn, session, form, conn.login_url, conn.ca_bundle)
    if conn.auth == "client_credentials":
        return _token_login(
            conn,
            session,
            {
                "grant_type": "client_credentials",
                "client_id": conn.consumer_key or "",
                "client_secret": conn.consumer_secret or "",
            },
            conn.instance_url or conn.login_url,
            conn.ca_bundle,
        )
    if conn.auth == "access_token":
        return LoginResult(conn.access_token or "", (conn.instance_url or "").rstrip("/"), conn.ca_bundle)
    if conn.auth == "sfdx":
        return _sfdx_login(conn, session)
    if conn.auth == "sfdx_auth_url":
        return _sfdx_auth_url_login(conn, session)
    raise AssertionError(conn.auth)


def _emulator_config_error(conn: Connection, field_name: str, message: str) -> SalesforceError:
    field_path = f"{CONFIG_KEY}.{conn.alias}.{field_name}"
    return SalesforceError(conn.alias, None, field_path, "ORGLINK_CONFIG", message)


def _login_emulator(conn: Connection, session: requests.Session) -> LoginResult:
    """JWT bearer through the CI login app the emulator seeds in each org (orgs.json `login`).

    A new org has SOAP login() off, so the emulator mode logs in as CI should on a real org. The
    app's private key is in orgs.json sealed (Fernet) with the key file beside it; it is opened
    here, in memory only.
    """
    orgs_file = Path(conn.state_dir or "") / "orgs.json"
    try:
        orgs = json.loads(orgs_file.read_text())
    except (OSError, ValueError) as exc:
        raise _emulator_config_error(
            conn,
            "state_dir",
            f"cannot read the emulator's {orgs_file}: {type(exc).__name__}; is the emulator started?",
        ) from None
    name = conn.emulator_org or conn.alias
    org = orgs.get(name)
    if not isinstance(org, dict):
        raise _emulator_config_error(
            conn,
            "emulator_org",
            f"the emulator at {conn.state_dir} has no org '{name}' (it has: {', '.join(sorted(orgs))})",
        )
    login = org.get("login")
    if not isinstance(login, dict):
        raise _emulator_config_error(
            conn,
            "state_dir",
            f"the emulator at {conn.state_dir} is older than this orglink (its orgs.json has no `login`): "
            "restart it with `python -m emulator stop` and `start`",
        )
    ca_bundle = conn.ca_bundle or org.get("ca_bundle")
    _trust(session, ca_bundle)
    login_url = conn.login_url if conn.login_url != DEFAULT_LOGIN_URL else str(org["login_url"])
    key = _open_sealed(conn, orgs_file.parent / "secrets.key", str(login.get("private_key_sealed", "")))
    form = _jwt_grant(conn, str(login["consumer_key"]), str(login["username"]), str(login["audience"]), key)
    return _token_login(conn, session, form, login_url, ca_bundle)


def _open_sealed(conn: Connection, key_file: Path, sealed: str) -> str:
    try:
        return Fernet(key_file.read_bytes().strip()).decrypt(sealed.encode()).decode()
    except (OSError, ValueError, InvalidToken) as exc:
        raise _emulator_config_error(
            conn,
            "state_dir",
            f"cannot open the emulator's login key with {key_file}: {type(exc).__name__}",
        ) from None


_PARTNER_NS = "urn:partner.soap.sforce.com"


def _soap_login(
    conn: Connection,
    session: requests.Session,
    login_url: str,
    username: str,
    password: str,
    ca_bundle: str | None,
) -> LoginResult:
    """Partner API login; posted by hand because simple-salesforce only knows *.salesforce.com hosts."""
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?>'
        '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:urn="{_PARTNER_NS}">'
        "<env:Header><urn:CallOptions><urn:client>orglink</urn:client></urn:CallOptions></env:Header>"
        "<env:Body><urn:login>"
        f"<urn:username>{escape(username)}</urn:username>"
        f"<urn:password>{escape(password)}</urn:password>"
        "</urn:login></env:Body></env:Envelope>"
    )
    url = f"{login_url.rstrip('/')}/services/Soap/u/{soap_login_version(conn.api_version)}"
    response = session.post(
        url,
        data=envelope.encode("utf-8"),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"},
    )
    root = _parse_xml_or_none(response.content)
    session_id = _xml_text(root, "sessionId")
    server_url = _xml_text(root, "serverUrl")
    if response.status_code == 200 and session_id and server_url:
        parsed = urlparse(server_url)
        host = (parsed.netloc or "").replace("-api", "")
        return LoginResult(session_id, f"https://{host}", ca_bundle)
    code = _xml_text(root, "exceptionCode") or _xml_text(root, "faultcode") or f"HTTP_{response.status_code}"
    message = _xml_text(root, "exceptionMessage") or _xml_text(root, "faultstring") or response.reason
    if response.status_code >= 500 and code.startswith("HTTP_"):
        response.raise_for_status()  # a bare 5xx: let call() retry it
    code = code.split(":")[-1]
    if code == "INVALID_OPERATION":
        message = f"{message} ({LEGACY_AUTH_WAY_OUT})"
    raise SalesforceError(conn.alias, None, "login", code, f"login at {login_url} failed: {message}")


# SOAP login() is gone from the partner API at 65.0; a session from an earlier version's login serves
# every API version, so a newer api_version logs in through the last version that has it.
LAST_SOAP_LOGIN_VERSION = (64, 0)
LEGACY_AUTH_WAY_OUT = (
    "use auth 'sfdx' (the Salesforce CLI's `sf org login web`) on a person's machine, or auth 'jwt' "
    "(JWT bearer through your team's own External Client App) in CI"
)
_legacy_warned: set[str] = set()


def soap_login_version(api_version: str) -> str:
    major, _, minor = api_version.partition(".")
    if (int(major), int(minor or 0)) > LAST_SOAP_LOGIN_VERSION:
        return "{}.{}".format(*LAST_SOAP_LOGIN_VERSION)
    return api_version


def legacy_auth_warning(conn: Connection) -> str | None:
    """What to tell a user whose connection uses a login Salesforce is retiring, or None."""
    if conn.auth != "password":
        return None
    return (
        f"{CONFIG_KEY}.{conn.alias}.auth: 'password' logs in with SOAP API login(), which is legacy: "
        "Salesforce ends it in June 2027 (Summer '27), API 65.0 and later no longer have it and orgs "
        f"created now have it turned off; {LEGACY_AUTH_WAY_OUT}"
    )


def legacy_auth_warnings(raw_orgs: Any) -> list[str]:
    """legacy_auth_warning of every connection in a value of ``orglink:orgs`` (the program warns
    with these at every preview and up, where the engine shows them)."""
    try:
        connections = _parse_orgs_value(raw_orgs)
    except SalesforceError:
        return []  # reported where the connections are used
    return [m for m in (legacy_auth_warning(c) for c in connections.values()) if m is not None]


def warn_legacy_auth(conn: Connection) -> None:
    """Log legacy_auth_warning once per org alias and process (every resource's check asks)."""
    message = legacy_auth_warning(conn)
    with _registry_lock:
        if message is None or conn.alias in _legacy_warned:
            return
        _legacy_warned.add(conn.alias)
    pulumi_log(message, warning=True)


def _parse_xml_or_none(content: bytes) -> ElementTree.Element | None:
    try:
        return ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return None


def _xml_text(root: ElementTree.Element | None, local_name: str) -> str | None:
    """Text of the first element with this local name, whatever its namespace."""
    if root is None:
        return None
    for element in root.iter():
        if element.tag == local_name or element.tag.endswith("}" + local_name):
            return (element.text or "").strip() or None
    return None


def _jwt_grant(conn: Connection, issuer: str, subject: str, audience: str, key: str) -> dict[str, str]:
    claims = {"iss": issuer, "sub": subject, "aud": audience.rstrip("/"), "exp": int(time.time()) + 180}
    try:
        assertion = jwt.encode(claims, key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        raise SalesforceError(
            conn.alias,
            None,
            f"{CONFIG_KEY}.{conn.alias}.private_key",
            "ORGLINK_CONFIG",
            "private_key is not a PEM RSA private key (give the PEM text or a path to it)",
        ) from None
    return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}


def _private_key_text(conn: Connection) -> str:
    value = conn.private_key or ""
    if "-----BEGIN" in value:
        return value
    path = Path(value).expanduser()
    if path.is_file():
        return path.read_text()
    return value


def _token_login(
    conn: Connection, session: requests.Session, form: dict[str, str], base: str, ca_bundle: str | None
) -> LoginResult:
    url = f"{base.rstrip('/')}/services/oauth2/token"
    response = session.post(url, data=form, headers={"Accept": "application/json"})
    if response.status_code >= 500:
        response.raise_for_status()
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and body.get("access_token") and body.get("instance_url"):
        return LoginResult(body["access_token"], str(body["instance_url"]).rstrip("/"), ca_bundle)
    raise SalesforceError(
        conn.alias,
        None,
        "login",
        str(body.get("error") or f"HTTP_{response.status_code}"),
        f"token request to {url} failed: {body.get('error_description') or response.reason}",
    )


# What today's sf CLI prints where the token used to be (`org display`, the login commands).
_SF_REDACTED = "[REDACTED]"
_SF_STALE_WARNING = "Unable to refresh auth"
SF_TIMEOUT_S = 120


def _sfdx_login(conn: Connection, session: requests.Session) -> LoginResult:
    """Reuse a Salesforce CLI login: the instance URL from `sf org display`, the token from
    `sf org auth show-access-token`, which refreshes it first (`org display` only shows it redacted)."""
    target = conn.username or ""
    display = _run_sf(conn, ["org", "display", "--json", "--target-org", target])
    instance_url = str(display.get("result", {}).get("instanceUrl") or "").rstrip("/")
    if not instance_url:
        raise _sf_login_missing(conn, "`sf org display` gave no instance URL")
    shown = _run_sf(conn, ["org", "auth", "show-access-token", "--json", "--target-org", target])
    token = str(shown.get("result", {}).get("accessToken") or "")
    if not token or token.startswith(_SF_REDACTED) or any(ch.isspace() for ch in token):
        # A placeholder is not a session: sending it would only fail later as INVALID_SESSION_ID.
        raise _sf_login_missing(conn, "`sf org auth show-access-token` gave no access token")
    if any(_SF_STALE_WARNING in str(w) for w in shown.get("warnings") or []) and not _token_works(
        session, instance_url, token, conn.ca_bundle
    ):
        raise SalesforceError(
            conn.alias,
            None,
            "login",
            "INVALID_SESSION_ID",
            f"the Salesforce CLI login '{target}' has expired or was revoked and sf could not refresh it: "
            f"log in again with `sf org login web --alias {target} --instance-url {instance_url}` "
            "(or `sf org login sfdx-url` / `sf org login jwt` where no browser is at hand)",
        )
    return LoginResult(token, instance_url, conn.ca_bundle)


def _run_sf(conn: Connection, args: list[str]) -> dict[str, Any]:
    """One `sf ... --json` command; its JSON answer, or a SalesforceError saying what to run."""
    try:
        completed = subprocess.run(
            ["sf", *args],
            capture_output=True,
            text=True,
            timeout=SF_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise SalesforceError(
            conn.alias,
            None,
            f"{CONFIG_KEY}.{conn.alias}.auth",
            "ORGLINK_CONFIG",
            "auth 'sfdx' runs the Salesforce CLI, and `sf` is not on PATH: install it "
            "(`npm install --global @salesforce/cli`, Node 22 or newer) or choose another auth mode",
        ) from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SalesforceError(
            conn.alias,
            None,
            "login",
            "ORGLINK_CONFIG",
            f"cannot run the Salesforce CLI `sf`: {type(exc).__name__}",
        ) from None
    try:
        answer = json.loads(completed.stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    if completed.returncode != 0 or answer.get("status") not in (0, None):
        # sf's own name and message (never its full output, which can hold a token).
        reason = (
            f"{answer.get('name') or 'sf error'}: {answer.get('message') or f'exit {completed.returncode}'}"
        )
        raise _sf_login_missing(conn, reason.strip())
    return answer


def _sf_login_missing(conn: Connection, reason: str) -> SalesforceError:
    target = conn.username or ""
    return SalesforceError(
        conn.alias,
        None,
        f"{CONFIG_KEY}.{conn.alias}.username",
        "ORGLINK_CONFIG",
        f"no usable Salesforce CLI login '{target}' ({reason}): log in with "
        f"`sf org login web --alias {target} --instance-url https://<your-domain>.my.salesforce.com` "
        "(or `sf org login sfdx-url --sfdx-url-file <file> --alias ...`), check it with "
        f"`sf org display --target-org {target}`, then run again",
    )


def _token_works(session: requests.Session, instance_url: str, token: str, ca_bundle: str | None) -> bool:
    _trust(session, ca_bundle)
    response = session.get(
        f"{instance_url}/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"}
    )
    if response.status_code >= 500:
        response.raise_for_status()  # transient: the login is retried
    return response.status_code == 200


@dataclass(frozen=True)
class SfdxAuthUrl:
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    instance_url: str


def parse_sfdx_auth_url(alias: str, value: str) -> SfdxAuthUrl:
    """`force://<clientId>:<clientSecret>:<refreshToken>@<host[:port]>`, as the sf CLI writes it
    (the host without https://; given with it, it is accepted too). Never echoes the value."""
    text = value.strip()
    rest = text[len("force://") :] if text.startswith("force://") else ""
    credentials, at, host = rest.rpartition("@")
    parts = credentials.split(":", 2)
    if host.startswith("https://"):
        host = host[len("https://") :]
    if not at or len(parts) != 3 or not parts[0] or not parts[2] or not host or "/" in host.rstrip("/"):
        raise SalesforceError(
            alias,
            None,
            f"{CONFIG_KEY}.{alias}.sfdx_auth_url",
            "ORGLINK_CONFIG",
            "sfdx_auth_url must look like force://<clientId>:<clientSecret>:<refreshToken>@<my-domain host>; "
            "print one with `sf org auth show-sfdx-auth-url --target-org <alias>` (a web login's)",
        )
    return SfdxAuthUrl(parts[0], parts[1], parts[2], f"https://{host.rstrip('/')}")


def _sfdx_auth_url_login(conn: Connection, session: requests.Session) -> LoginResult:
    """The refresh-token grant the sf CLI itself runs for `sf org login sfdx-url`, without the CLI."""
    parsed = parse_sfdx_auth_url(conn.alias, conn.sfdx_auth_url or "")
    form = {
        "grant_type": "refresh_token",
        "client_id": parsed.client_id,
        "refresh_token": parsed.refresh_token,
    }
    if parsed.client_secret:
        form["client_secret"] = parsed.client_secret
    _trust(session, conn.ca_bundle)
    try:
        return _token_login(conn, session, form, parsed.instance_url, conn.ca_bundle)
    except SalesforceError as err:
        if err.status_code != "invalid_grant":
            raise
        raise SalesforceError(
            conn.alias,
            None,
            f"{CONFIG_KEY}.{conn.alias}.sfdx_auth_url",
            err.status_code,
            f"{err.message}; the refresh token in sfdx_auth_url no longer works (revoked, expired or "
            "rotated): log in again (`sf org login web`), print a fresh URL with "
            "`sf org auth show-sfdx-auth-url --target-org <alias>` and set it with "
            f"`pulumi config set --secret --path '{CONFIG_KEY}.{conn.alias}.sfdx_auth_url' ...`",
        ) from None


# ---------------------------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a total time budget."""

    budget_s: float = 120.0
    base_s: float = 0.5
    cap_s: float = 10.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * (2**attempt)))


def _retry_policy_from_env() -> RetryPolicy:
    """Tests and impatient users can shrink the budget with ORGLINK_RETRY_BUDGET_S / ORGLINK_RETRY_BASE_S."""
    defaults = RetryPolicy()
    try:
        return RetryPolicy(
            budget_s=float(os.environ.get("ORGLINK_RETRY_BUDGET_S", defaults.budget_s)),
            base_s=float(os.environ.get("ORGLINK_RETRY_BASE_S", defaults.base_s)),
        )
    except ValueError:
        return defaults


def _rest_error_code(exc: SimpleSalesforceError) -> tuple[str, str]:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", f"HTTP_{exc.status}")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or f"HTTP_{exc.status}"), str(
            content.get("message") or content.get("error_description") or ""
        )
    return f"HTTP_{exc.status}", str(content)[:500]


def _fault_code(fault: zeep.exceptions.Fault) -> str:
    """`sf:INVALID_SESSION_ID` -> INVALID_SESSION_ID; falls back to the detail's exceptionCode."""
    code = (fault.code or "").split(":")[-1]
    if code in ("Server", "Client", "") and fault.detail is not None:
        for element in fault.detail.iter():
            if str(element.tag).endswith("exceptionCode") and element.text:
                return element.text.strip().split(":")[-1]
    return code or "SOAP_FAULT"


def classify(exc: BaseException) -> str | None:
    """'session' for an expired session, 'transient' for a retryable failure, None otherwise."""
    if isinstance(exc, requests.exceptions.SSLError):
        return None  # a certificate problem does not fix itself
    if isinstance(
        exc,
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ),
    ):
        return "transient"
    if isinstance(exc, requests.exceptions.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return "transient" if status >= 500 else None
    if isinstance(exc, _RetryableResultError):
        return "transient"
    if isinstance(exc, SalesforceError):  # from a login: a busy org answers with a transient code
        return "transient" if exc.status_code.upper() in TRANSIENT_CODES else None
    if isinstance(exc, SimpleSalesforceError):
        code, _ = _rest_error_code(exc)
        if code in SESSION_CODES or exc.status == 401:
            return "session"
        if code in TRANSIENT_CODES or (isinstance(exc.status, int) and exc.status >= 500):
            return "transient"
        return None
    if isinstance(exc, zeep.exceptions.Fault):
        code = _fault_code(exc)
        if code in SESSION_CODES:
            return "session"
        return "transient" if code in TRANSIENT_CODES else None
    if isinstance(exc, zeep.exceptions.TransportError):
        return "transient" if exc.status_code >= 500 or exc.status_code == 0 else None
    return None


def _as_salesforce_error(alias: str, what: str, exc: BaseException) -> SalesforceError:
    """Turn a client library's exception into our error, keeping Salesforce's code and message."""
    if isinstance(exc, SalesforceError):
        return exc
    if isinstance(exc, SimpleSalesforceError):
        code, message = _rest_error_code(exc)
        return SalesforceError(alias, None, None, code, f"{what}: {message}")
    if isinstance(exc, zeep.exceptions.Fault):
        return SalesforceError(alias, None, None, _fault_code(exc), f"{what}: {exc.message}")
    if isinstance(exc, zeep.exceptions.TransportError):
        return SalesforceError(alias, None, None, f"HTTP_{exc.status_code}", f"{what}: {exc.message}")
    if isinstance(exc, _RetryableResultError):
        return SalesforceError(alias, None, None, exc.status_code, f"{what}: {exc}")
    if isinstance(exc, requests.exceptions.SSLError):
        return SalesforceError(
            alias,
            None,
            "ca_bundle",
            "TLS_ERROR",
            f"{what}: the org's certificate is not trusted; "
            f"set `ca_bundle` for this org ({type(exc).__name__})",
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return SalesforceError(alias, None, None, "CONNECTION_ERROR", f"{what}: {type(exc).__name__}: {exc}")
    return SalesforceError(alias, None, None, type(exc).__name__, f"{what}: {exc}")


# ---------------------------------------------------------------------------------------------
# Metadata API results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetadataProblem:
    status_code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetadataResult:
    """One SaveResult / UpsertResult / DeleteResult."""

    full_name: str
    success: bool
    problems: tuple[MetadataProblem, ...] = ()
    created: bool | None = None

    def error(self, alias: str, what: str) -> SalesforceError:
        first = self.problems[0] if self.problems else MetadataProblem("UNKNOWN", "no detail given")
        message = "; ".join(p.message for p in self.problems) or first.message
        field_name = first.fields[0] if first.fields else None
        return SalesforceError(
            alias, None, field_name, first.status_code, f"{what} '{self.full_name}': {message}"
        )


def _metadata_result(raw: Any) -> MetadataResult:
    problems = tuple(
        MetadataProblem(
            str(getattr(e, "statusCode", "UNKNOWN")),
            str(getattr(e, "message", "")),
            tuple(getattr(e, "fields", None) or ()),
        )
        for e in (getattr(raw, "errors", None) or [])
    )
    return MetadataResult(
        full_name=str(getattr(raw, "fullName", "") or ""),
        success=bool(getattr(raw, "success", False)),
        problems=problems,
        created=getattr(raw, "created", None),
    )


def _plain(value: Any) -> Any:
    """zeep objects -> plain dicts and lists, without None values and empty lists."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            plain = _plain(item)
            if plain is None or plain == []:
                continue
            out[key] = plain
        return out
    if isinstance(value, list):
        return [_plain(item) for item in value if item is not None]
    return value


_WSDL_PATH = Path(simple_salesforce.__file__).parent / "metadata.wsdl"
_WSDL_LOCK = threading.Lock()
_wsdl_document: zeep.wsdl.Document | None = None
_ZEEP_SETTINGS = zeep.Settings(strict=False, xsd_ignore_sequence_order=True)
METADATA_BATCH = 10  # the Metadata API's CRUD calls take at most 10 components


class _MetadataTransport(zeep.transports.Transport):
    """zeep's transport on the org's session, failing clearly on an HTTP error without a SOAP body.

    zeep handles a SOAP fault (HTTP 500 with XML) itself, but crashes on a plain-text error page
    such as a 503 from a load balancer; such an answer becomes an HTTPError, which is retried.
    """

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        response: requests.Response = super().post(address, message, headers)
        if response.status_code >= 400 and not response.content.lstrip().startswith(b"<"):
            response.raise_for_status()
        return response


def _metadata_wsdl() -> zeep.wsdl.Document:
    """The Metadata WSDL, parsed once per process.

    Parsed from the trimmed copy (providers.metadata_wsdl): the full 1.5 MB WSDL takes 0.5-1 s of
    every provider process's start-up, the types and operations orglink uses well under 0.1 s.
    """
    global _wsdl_document
    with _WSDL_LOCK:
        if _wsdl_document is None:
            # From memory (zeep reads any file-like object): the WSDL imports nothing relative
            # to its location. zeep annotates `transport` as a class, but wants an instance.
            _wsdl_document = zeep.wsdl.Document(
                io.BytesIO(metadata_wsdl.trimmed_wsdl(_WSDL_PATH)),
                zeep.transports.Transport(),  # type: ignore[arg-type]
                settings=_ZEEP_SETTINGS,
            )
        return _wsdl_document


def _batches(items: list[T], size: int = METADATA_BATCH) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------------------------
# Joining the metadata calls of resources applied at the same time
# ---------------------------------------------------------------------------------------------

# How long a metadata call waits for the same call from other resources. The engine hands
# independent resources (K certificates, K apps) to the provider one after another, tens of
# milliseconds apart; only a kind of call already made within BUSY_S waits, so a lone resource (or
# the one kind of call a small stack makes once) is sent at once.
BATCH_WINDOW_S = 0.15
BUSY_S = 0.5


@dataclass
class _Batch:
    items: list[Any]
    full: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    results: list[Any] = field(default_factory=list)
    error: BaseException | None = None


class Coalescer:
    """Sends the same kind of call from several threads as one request of up to ``limit`` items.

    The first caller of a kind waits up to BATCH_WINDOW_S for others, then sends everything that
    joined and hands each caller the results of its own items (Metadata API results come back in
    the order of the request). A request that fails fails for everyone in it.
    """

    def __init__(self, limit: int = METADATA_BATCH) -> None:
        self._limit = limit
        self._guard = threading.Lock()
        self._open: dict[tuple[str, ...], _Batch] = {}
        self._last_call: dict[tuple[str, ...], float] = {}

    def run(self, kind: tuple[str, ...], items: list[T], send: Callable[[list[T]], list[Any]]) -> list[Any]:
        joined = self._join(kind, items)
        if joined is None:
            return send(items)
        batch, start, leader = joined
        if leader:
            self._send(kind, batch, send)
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.results[start : start + len(items)]

    def _join(self, kind: tuple[str, ...], items: list[Any]) -> tuple[_Batch, int, bool] | None:
        """(batch, where our items start in it, whether we send it); None to send alone at once."""
        if len(items) >= self._limit:
            return None
        with self._guard:
            now = time.monotonic()
            busy = now - self._last_call.get(kind, -BUSY_S) < BUSY_S
            self._last_call[kind] = now
            batch = self._open.get(kind)
            if batch is not None and len(batch.items) + len(items) <= self._limit:
                start = len(batch.items)
                batch.items.extend(items)
                if len(batch.items) >= self._limit:
                    del self._open[kind]
                    batch.full.set()
                return batch, start, False
            if not busy:
                return None
            batch = self._open[kind] = _Batch(list(items))
            return batch, 0, True

    def _send(self, kind: tuple[str, ...], batch: _Batch, send: Callable[[list[Any]], list[Any]]) -> None:
        batch.full.wait(BATCH_WINDOW_S)
        with self._guard:
            if self._open.get(kind) is batch:
                del self._open[kind]
        try:
            batch.results = send(batch.items)
        except BaseException as exc:  # raised in every caller of the batch
            batch.error = exc
        finally:
            batch.done.set()


# ---------------------------------------------------------------------------------------------
# One logged-in org
# ---------------------------------------------------------------------------------------------


class OrgClient:
    """One logged-in org, shared by every resource in this process (thread-safe)."""

    def __init__(self, conn: Connection, retry: RetryPolicy | None = None) -> None:
        self.alias = conn.alias
        self._conn = conn
        self.api_version = conn.api_version
        self.retry = retry or _retry_policy_from_env()
        self._lock = threading.Lock()
        # The components this process last read or wrote (see known_component); one provider
        # process lives for one pulumi operation, so this never outlives it.
        self._known: dict[tuple[str, str], dict[str, Any]] = {}
        self._lookups: dict[str, Any] = {}
        self._lookup_locks: dict[str, threading.Lock] = {}
        self._created: set[tuple[str, str]] = set()
        self._coalescer = Coalescer()
        self._known_lock = threading.Lock()
        self._session = _new_session(conn.ca_bundle, conn.alias)
        self._login_result = self._login_with_retries()
        self.sf = self._rest_client()
        self._zeep = zeep.Client(
            _metadata_wsdl(),
            transport=_MetadataTransport(session=self._session),
            settings=_ZEEP_SETTINGS,
        )
        self._metadata = self._zeep.create_service(
            "{http://soap.sforce.com/2006/04/metadata}MetadataBinding", self.sf.metadata_url
        )

    # -- what this process last saw of each component ------------------------------------------

    def known_component(self, mtype: str, full_name: str) -> dict[str, Any] | None:
        """The component as this process last read or wrote it, or None when it has not seen it since.

        Lets a read-modify-write skip the read when a sibling resource of the same operation has
        just read or written the component (an app's policy after the app's create, its run-as user
        after the policy). Every write that does not go through modify_component forgets it.
        """
        with self._known_lock:
            found = self._known.get((mtype, full_name.lower()))
        return copy.deepcopy(found) if found is not None else None

    def remember_component(self, mtype: str, full_name: str, component: dict[str, Any] | None) -> None:
        with self._known_lock:
            if component is None:
                self._known.pop((mtype, full_name.lower()), None)
            else:
                self._known[(mtype, full_name.lower())] = copy.deepcopy(component)

    def created_here(self, mtype: str, full_name: str) -> bool:
        """True when this process created the component: nothing in the org can point at it yet
        (a new app has no access rows), so a caller may skip looking for such things."""
        with self._known_lock:
            return (mtype, full_name.lower()) in self._created

    def _forget(self, mtype: str, full_names: list[str]) -> None:
        for name in full_names:
            self.remember_component(mtype, name, None)

    def lookup(self, key: str, ask: Callable[[], T], keep: Callable[[T], bool] = bool) -> T:
        """``ask()`` once per process for a fact that does not change during one operation (a
        user's profile, a profile's permission set Id): K integrations share one query, not K, also
        when they ask at the same moment. Failures, empty answers (nothing found yet: it may be
        made later) and answers ``keep`` refuses are not remembered."""
        with self._known_lock:
            if key in self._lookups:
                return copy.deepcopy(self._lookups[key])  # type: ignore[no-any-return]
            one_asker = self._lookup_locks.setdefault(key, threading.Lock())
        with one_asker:
            with self._known_lock:
                if key in self._lookups:
                    return copy.deepcopy(self._lookups[key])  # type: ignore[no-any-return]
            answer = ask()
            if keep(answer):
                with self._known_lock:
                    self._lookups[key] = copy.deepcopy(answer)
        return answer

    # -- session ---------------------------------------------------------------------------

    @property
    def instance_url(self) -> str:
        return self._login_result.instance_url

    @property
    def session(self) -> requests.Session:
        return self._session

    def _login_with_retries(self) -> LoginResult:
        deadline = time.monotonic() + self.retry.budget_s
        attempt = 0
        while True:
            try:
                return _login(self._conn, self._session)
            except Exception as exc:
                if classify(exc) == "transient" and time.monotonic() + self.retry.delay(attempt) < deadline:
                    time.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise _as_salesforce_error(self.alias, "login", exc) from None

    def _rest_client(self) -> Salesforce:
        return Salesforce(
            instance_url=self._login_result.instance_url,
            session_id=self._login_result.session_id,
            version=self.api_version,
            session=self._session,
        )

    def _renew_session(self, stale_session_id: str) -> None:
        """Log in again, once for all threads that saw the same expired session."""
        with self._lock:
            if self._login_result.session_id != stale_session_id:
                return  # another thread already renewed it
            if self._conn.auth == "access_token":
                raise SalesforceError(
                    self.alias,
                    None,
                    f"{CONFIG_KEY}.{self.alias}.access_token",
                    "INVALID_SESSION_ID",
                    "the configured access token has expired; set a fresh one",
                )
            self._login_result = self._login_with_retries()
            self.sf = self._rest_client()

    def _session_header(self) -> Any:
        return self._zeep.get_element("ns0:SessionHeader")(sessionId=self._login_result.session_id)

    def _soap(self, operation: str, *args: Any) -> Any:
        """One Metadata API operation, with the session current at the time it is sent."""
        return getattr(self._metadata, operation)(*args, _soapheaders=[self._session_header()])

    # -- the one way every request is made ---------------------------------------------------

    def call(self, what: str, request: Callable[[], T]) -> T:
        """Run ``request``; retry transient failures within the budget; renew an expired session once.

        ``request`` must read ``self.sf`` / the session header when it runs (not capture them
        earlier), so a retry after a renewal uses the new session.
        """
        deadline = time.monotonic() + self.retry.budget_s
        attempt = 0
        renewed = False
        while True:
            session_id = self._login_result.session_id
            try:
                return request()
            except Exception as exc:
                kind = classify(exc)
                if kind == "session" and not renewed:
                    pulumi_log(f"{self.alias}: session expired during {what}; logging in again")
                    self._renew_session(session_id)
                    renewed = True
                    continue
                delay = self.retry.delay(attempt)
                if kind == "transient" and time.monotonic() + delay < deadline:
                    pulumi_log(
                        f"{self.alias}: {what} failed ({_short_reason(exc)}); "
                        f"retry {attempt + 1} in {delay:.1f}s"
                    )
                    time.sleep(delay)
                    attempt += 1
                    continue
                raise _as_salesforce_error(self.alias, what, exc) from None

    # -- REST ----------------------------------------------------------------------------------

    def query(self, soql: str) -> list[dict[str, Any]]:
        """All records of a SOQL query, without the `attributes` entries."""
        result = self.call(f"query {soql.split(' FROM ')[-1].split()[0]}", lambda: self.sf.query_all(soql))
        return [_strip_attributes(record) for record in result.get("records", [])]

    def create_record(self, sobject: str, values: dict[str, Any]) -> str:
        result = self.call(f"create {sobject}", lambda: getattr(self.sf, sobject).create(values))
        return str(result["id"])

    def delete_record(self, sobject: str, record_id: str) -> bool:
        """Delete a record; False when it was already gone."""
        try:
            self.call(f"delete {sobject} {record_id}", lambda: getattr(self.sf, sobject).delete(record_id))
        except SalesforceError as err:
            if err.status_code in (
                "ENTITY_IS_DELETED",
                "NOT_FOUND",
                "HTTP_404",
                "INVALID_CROSS_REFERENCE_KEY",
            ):
                return False
            raise
        return True

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        """A REST call relative to /services/data/vXX.X/ (JSON in, JSON out)."""
        return self.call(
            f"{method} {path.split('?')[0]}", lambda: self.sf.restful(path, method=method, **kwargs)
        )

    # -- Metadata API ----------------------------------------------------------------------------

    def read_metadata(self, mtype: str, full_names: list[str]) -> dict[str, dict[str, Any] | None]:
        """Read components by name (batched by 10, with other resources' reads of the type); a
        missing component maps to None."""
        found: dict[str, dict[str, Any] | None] = {}
        for batch in _batches(full_names):
            records = self._coalescer.run(("read", mtype), batch, partial(self._read_batch, mtype))
            found.update(zip(batch, records, strict=True))
        for name, component in found.items():
            self.remember_component(mtype, name, component)
        return found

    def _read_batch(self, mtype: str, names: list[str]) -> list[dict[str, Any] | None]:
        records = self.call(f"read {mtype}", partial(self._soap, "readMetadata", mtype, names))
        by_name: dict[str, dict[str, Any]] = {}
        for record in records or []:
            plain = _plain(zeep.helpers.serialize_object(record, dict)) if record is not None else None
            if plain and plain.get("fullName"):
                by_name[str(plain["fullName"]).lower()] = plain  # names are case-insensitive
        return [copy.deepcopy(by_name.get(name.lower())) for name in names]

    def read_component(self, mtype: str, full_name: str) -> dict[str, Any] | None:
        return self.read_metadata(mtype, [full_name])[full_name]

    def list_metadata(self, mtype: str, folder: str | None = None) -> list[dict[str, Any]]:
        """The type's components; resources listing the same type at the same time share one answer."""

        def send(callers: list[None]) -> list[list[dict[str, Any]]]:
            query = self._zeep.get_type("ns0:ListMetadataQuery")(type=mtype, folder=folder)
            results = self.call(
                f"list {mtype}", partial(self._soap, "listMetadata", [query], self.api_version)
            )
            listed = [_plain(zeep.helpers.serialize_object(r, dict)) for r in results or []]
            return [copy.deepcopy(listed) for _ in callers]

        [listed] = self._coalescer.run(("list", mtype, folder or ""), [None], send)
        return listed  # type: ignore[no-any-return]

    def create_metadata(self, mtype: str, components: list[dict[str, Any]]) -> list[MetadataResult]:
        return self._save("createMetadata", mtype, components)

    def update_metadata(self, mtype: str, components: list[dict[str, Any]]) -> list[MetadataResult]:
        """Update existing components; their create-only elements (CREATE_ONLY) are never sent."""
        return self._save("updateMetadata", mtype, [without_create_only(mtype, c) for c in components])

    def upsert_metadata(self, mtype: str, components: list[dict[str, Any]]) -> list[MetadataResult]:
        return self._save("upsertMetadata", mtype, components)

    def delete_metadata(self, mtype: str, full_names: list[str]) -> list[MetadataResult]:
        self._forget(mtype, full_names)
        results: list[MetadataResult] = []

        def send(names: list[str]) -> list[MetadataResult]:
            return self._with_transient_results(
                f"delete {mtype}", partial(self._soap, "deleteMetadata", mtype, names)
            )

        for batch in _batches(full_names):
            results.extend(self._coalescer.run(("deleteMetadata", mtype), batch, send))
        return results

    def rename_metadata(self, mtype: str, old_full_name: str, new_full_name: str) -> MetadataResult:
        self._forget(mtype, [old_full_name, new_full_name])
        rename = partial(self._soap, "renameMetadata", mtype, old_full_name, new_full_name)
        return self._with_transient_results(f"rename {mtype}", lambda: [rename()])[0]

    def _save(self, operation: str, mtype: str, components: list[dict[str, Any]]) -> list[MetadataResult]:
        component_type = self._zeep.get_type(f"ns0:{mtype}")
        results: list[MetadataResult] = []
        for batch in _batches(components):
            # A typed top-level object: a plain dict would go out without xsi:type.
            typed = [component_type(**component) for component in batch]
            names = [str(component.get("fullName", "")) for component in batch]
            # Before and after: a write racing a modify_component must leave nothing stale behind.
            self._forget(mtype, names)
            try:
                saved = self._coalescer.run(
                    (operation, mtype), typed, partial(self._send_save, operation, mtype)
                )
            finally:
                self._forget(mtype, names)
            if operation == "createMetadata":
                with self._known_lock:
                    self._created.update((mtype, r.full_name.lower()) for r in saved if r.success)
            results.extend(saved)
        return results

    def _send_save(self, operation: str, mtype: str, typed: list[Any]) -> list[MetadataResult]:
        return self._with_transient_results(
            f"{operation.replace('Metadata', '')} {mtype}", partial(self._soap, operation, typed)
        )

    def _with_transient_results(self, what: str, request: Callable[[], Any]) -> list[MetadataResult]:
        """Like call(), but a result failing with a transient code (ALREADY_IN_PROCESS...) also retries.

        Saves and deletes are retried whole, also when the call carries several resources'
        components (Coalescer): an update sent twice is the same update, and create/delete callers
        treat "already exists as we made it"/"already gone" after a retry as done.
        """

        def attempt() -> list[MetadataResult]:
            results = [_metadata_result(raw) for raw in (request() or [])]
            for result in results:
                for problem in result.problems:
                    if problem.status_code in TRANSIENT_CODES:
                        raise _RetryableResultError(problem.status_code, problem.message)
            return results

        return self.call(what, attempt)

    # -- strict single-component helpers --------------------------------------------------------

    def create_component(self, mtype: str, component: dict[str, Any]) -> None:
        _raise_on_failure(self.alias, f"create {mtype}", self.create_metadata(mtype, [component]))

    def update_component(self, mtype: str, component: dict[str, Any]) -> None:
        _raise_on_failure(self.alias, f"update {mtype}", self.update_metadata(mtype, [component]))

    def upsert_component(self, mtype: str, component: dict[str, Any]) -> bool:
        """Create or update; True when it was created."""
        results = self.upsert_metadata(mtype, [component])
        _raise_on_failure(self.alias, f"upsert {mtype}", results)
        return bool(results[0].created)

    def delete_component(self, mtype: str, full_name: str) -> bool:
        """Delete; False when it did not exist."""
        result = self.delete_metadata(mtype, [full_name])[0]
        if result.success:
            return True
        if any(p.status_code in ("INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND") for p in result.problems):
            return False
        raise result.error(self.alias, f"delete {mtype}")

    def rename_component(self, mtype: str, old_full_name: str, new_full_name: str) -> None:
        _raise_on_failure(
            self.alias, f"rename {mtype}", [self.rename_metadata(mtype, old_full_name, new_full_name)]
        )


# Elements an org takes only when the component is created: sent for an existing one, even
# unchanged, they are refused ("You cannot provide a Consumer Key"). A read returns the key, so a
# read-modify-write would send it back.
CREATE_ONLY: dict[str, tuple[tuple[str, ...], ...]] = {
    "ConnectedApp": (("oauthConfig", "consumerKey"), ("oauthConfig", "consumerSecret")),
    "ExtlClntAppGlobalOauthSettings": (("consumerKey",), ("consumerSecret",)),
}


def without_create_only(mtype: str, component: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``component`` without the elements the org takes only at creation."""
    paths = CREATE_ONLY.get(mtype, ())
    if not paths:
        return component
    copied = copy.deepcopy(component)
    for *parents, leaf in paths:
        holder: Any = copied
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            holder.pop(leaf, None)
    return copied


def _raise_on_failure(alias: str, what: str, results: list[MetadataResult]) -> None:
    for result in results:
        if not result.success:
            raise result.error(alias, what)


def _strip_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        out[key] = _strip_attributes(value) if isinstance(value, Mapping) else value
    return out


def _short_reason(exc: BaseException) -> str:
    kind = type(exc).__name__
    if isinstance(exc, SimpleSalesforceError):
        return f"{kind} {_rest_error_code(exc)[0]}"
    if isinstance(exc, zeep.exceptions.Fault):
        return f"fault {_fault_code(exc)}"
    if isinstance(exc, zeep.exceptions.TransportError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, _RetryableResultError):
        return exc.status_code
    return kind


# ---------------------------------------------------------------------------------------------
# The per-process client cache and per-component locks
# ---------------------------------------------------------------------------------------------


def org(alias: str) -> OrgClient:
    """The logged-in client for an org alias, created once per process (per configuration)."""
    conn = connection(alias)
    with _registry_lock:
        client = _clients.get(alias)
        if client is not None and client._conn == conn:
            return client
        alias_lock = _client_locks.setdefault(alias, threading.Lock())
    # Log in outside the registry lock so one slow org does not block the others.
    with alias_lock:
        with _registry_lock:
            client = _clients.get(alias)
            if client is not None and client._conn == conn:
                return client
        pulumi_log(f"{alias}: logging in ({conn.auth})")
        client = OrgClient(conn)
        with _registry_lock:
            _clients[alias] = client
        return client


_component_locks_guard = threading.Lock()
_component_locks: dict[tuple[str, str, str], threading.RLock] = {}


@contextmanager
def component_lock(alias: str, mtype: str, full_name: str) -> Iterator[None]:
    """Serialise read-modify-write of one component within this process.

    Metadata updates replace the whole component, so two resources editing one app must not
    interleave. One stack is applied by one provider process, so a process-wide lock is enough.
    """
    key = (alias, mtype, full_name.lower())
    with _component_locks_guard:
        lock = _component_locks.setdefault(key, threading.RLock())
    with lock:
        yield


Change = Callable[[dict[str, Any]], dict[str, Any]]

# How long the first of several resources editing one component waits for the others (an app's
# policy and run-as user start together when the app is made): one read and one write for all.
GROUP_WINDOW_S = 0.05


@dataclass
class _PendingChange:
    change: Change
    done: bool = False
    written: dict[str, Any] | None = None
    error: BaseException | None = None


_pending_guard = threading.Lock()
_pending: dict[tuple[str, str, str], list[_PendingChange]] = {}


def modify_component(alias: str, mtype: str, full_name: str, change: Change, resource: str) -> dict[str, Any]:
    """Read a component, apply ``change`` to a copy, write it back if it changed; return what was written.

    Changes other resources ask for at the same time are applied together: one read and one write
    (a metadata update replaces the whole component, so they must be serialised anyway). When such a
    group fails, each change is tried alone so that the error lands on the resource that caused it.
    The read is skipped when this process has just read or written the component (the app's create
    read it back, a sibling part wrote it): within one operation that copy is what the org holds,
    since every writer here holds the component's lock.
    Raises SalesforceError NOT_FOUND when the component does not exist.
    """
    key = (alias, mtype, full_name.lower())
    mine = _PendingChange(change)
    with _pending_guard:
        _pending.setdefault(key, []).append(mine)
    with component_lock(alias, mtype, full_name):
        if not mine.done:
            time.sleep(GROUP_WINDOW_S)
            with _pending_guard:
                group = _pending.pop(key, [])
            _apply_group(org(alias), mtype, full_name, group)
    if mine.error is not None:
        raise mine.error
    if mine.written is None:
        raise SalesforceError(alias, resource, None, "NOT_FOUND", f"{mtype} '{full_name}' does not exist")
    return mine.written


def _apply_group(client: OrgClient, mtype: str, full_name: str, group: list[_PendingChange]) -> None:
    try:
        written = _apply_changes(client, mtype, full_name, [p.change for p in group])
        for pending in group:
            pending.written = written
    except Exception as err:  # handed to the caller(s) as they are
        if len(group) == 1:
            group[0].error = err
        else:
            for pending in group:
                try:
                    pending.written = _apply_changes(client, mtype, full_name, [pending.change])
                except Exception as alone:  # handed to that caller
                    pending.error = alone
    finally:
        for pending in group:
            pending.done = True


def _apply_changes(
    client: OrgClient, mtype: str, full_name: str, changes: list[Change]
) -> dict[str, Any] | None:
    """One read (unless known) and at most one write for all ``changes``; None when it is gone."""
    current = client.known_component(mtype, full_name)
    if current is None:
        current = client.read_component(mtype, full_name)
    if current is None:
        return None
    wanted = copy.deepcopy(current)
    for change in changes:
        wanted = change(wanted)
    if wanted != current:
        client.update_component(mtype, wanted)
        client.remember_component(mtype, full_name, wanted)
    return wanted


def pulumi_log(message: str, warning: bool = False) -> None:
    """A progress line (or warning) in the engine's output. Never pass a secret."""
    import pulumi

    try:
        (pulumi.log.warn if warning else pulumi.log.info)(message)
    except Exception:  # logging must never break a resource operation
        logging.getLogger("orglink").info(message)
