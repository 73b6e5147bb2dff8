"""The OAuth token endpoint every token-based login mode posts to, and the JWT bearer grant."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import requests

from providers.salesforce.connections import CONFIG_KEY, Connection
from providers.salesforce.errors import SalesforceError


@dataclass(frozen=True)
class LoginResult:
    session_id: str = field(repr=False)
    instance_url: str
    ca_bundle: str | None


def jwt_grant(conn: Connection, issuer: str, subject: str, audience: str, key: str) -> dict[str, str]:
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


def private_key_text(conn: Connection) -> str:
    value = conn.private_key or ""
    if "-----BEGIN" in value:
        return value
    path = Path(value).expanduser()
    if path.is_file():
        return path.read_text()
    return value


def token_login(
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
