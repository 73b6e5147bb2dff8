"""Logging in to an org in its configured mode, and the warning for logins Salesforce is retiring.

jwt, client_credentials and emulator post to the OAuth token endpoint (providers.salesforce.oauth),
password logs in with SOAP login(), access_token takes a session as given, sfdx and sfdx_auth_url
reuse a Salesforce CLI login (providers.salesforce.login_sf_cli). No credential ever reaches an
error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import requests
from cryptography.fernet import Fernet, InvalidToken

from providers.salesforce.connections import (
    CONFIG_KEY,
    DEFAULT_LOGIN_URL,
    Connection,
    parse_orgs_value,
    per_alias_cache,
    registry_lock,
)
from providers.salesforce.engine_log import pulumi_log
from providers.salesforce.errors import SalesforceError
from providers.salesforce.login_sf_cli import sfdx_auth_url_login, sfdx_login
from providers.salesforce.oauth import LoginResult, jwt_grant, private_key_text, token_login
from providers.salesforce.sessions import trust


def log_in(conn: Connection, session: requests.Session) -> LoginResult:
    """Authenticate one org with its configured mode. Never puts a credential in an error."""
    if conn.auth == "emulator":
        return _login_emulator(conn, session)
    if conn.auth == "password":
        password = (conn.password or "") + (conn.security_token or "")
        return _soap_login(conn, session, conn.login_url, conn.username or "", password, conn.ca_bundle)
    if conn.auth == "jwt":
        form = jwt_grant(
            conn, conn.consumer_key or "", conn.username or "", conn.login_url, private_key_text(conn)
        )
        return token_login(conn, session, form, conn.login_url, conn.ca_bundle)
    if conn.auth == "client_credentials":
        return token_login(
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
        return sfdx_login(conn, session)
    if conn.auth == "sfdx_auth_url":
        return sfdx_auth_url_login(conn, session)
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
    trust(session, ca_bundle)
    login_url = conn.login_url if conn.login_url != DEFAULT_LOGIN_URL else str(org["login_url"])
    key = _open_sealed(conn, orgs_file.parent / "secrets.key", str(login.get("private_key_sealed", "")))
    form = jwt_grant(conn, str(login["consumer_key"]), str(login["username"]), str(login["audience"]), key)
    return token_login(conn, session, form, login_url, ca_bundle)


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
_legacy_warned: set[str] = per_alias_cache(set())


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
        connections = parse_orgs_value(raw_orgs)
    except SalesforceError:
        return []  # reported where the connections are used
    return [m for m in (legacy_auth_warning(c) for c in connections.values()) if m is not None]


def warn_legacy_auth(conn: Connection) -> None:
    """Log legacy_auth_warning once per org alias and process (every resource's check asks)."""
    message = legacy_auth_warning(conn)
    with registry_lock:
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
