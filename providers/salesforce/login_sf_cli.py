"""The login modes of the Salesforce CLI's logins: `sfdx` runs `sf` for a session, `sfdx_auth_url`
runs the refresh-token grant of an sfdx auth URL itself, without the CLI."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

import requests

from providers.salesforce.connections import CONFIG_KEY, Connection
from providers.salesforce.errors import SalesforceError
from providers.salesforce.oauth import LoginResult, token_login
from providers.salesforce.sessions import trust

# What today's sf CLI prints where the token used to be (`org display`, the login commands).
_SF_REDACTED = "[REDACTED]"
_SF_STALE_WARNING = "Unable to refresh auth"
SF_TIMEOUT_S = 120


def sfdx_login(conn: Connection, session: requests.Session) -> LoginResult:
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
    trust(session, ca_bundle)
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


def sfdx_auth_url_login(conn: Connection, session: requests.Session) -> LoginResult:
    """The refresh-token grant the sf CLI itself runs for `sf org login sfdx-url`, without the CLI."""
    parsed = parse_sfdx_auth_url(conn.alias, conn.sfdx_auth_url or "")
    form = {
        "grant_type": "refresh_token",
        "client_id": parsed.client_id,
        "refresh_token": parsed.refresh_token,
    }
    if parsed.client_secret:
        form["client_secret"] = parsed.client_secret
    trust(session, conn.ca_bundle)
    try:
        return token_login(conn, session, form, parsed.instance_url, conn.ca_bundle)
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
