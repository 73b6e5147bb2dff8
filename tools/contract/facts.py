"""The read-only half of the contract: what both orgs answer before anything is written.

Every fact logs in and asks through providers.salesforce (the layer `pulumi up` uses), so what it
sees is what orglink will see; the requests it made come from the access layer's request log.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from providers import salesforce
from providers.org_b import checks as org_b_checks
from providers.org_b.connected_app import checks as connected_app_checks
from providers.org_b.external_client_app import app as eca_app
from providers.org_b.run_as_user import check_run_as_user
from providers.salesforce.records import permission_set_query

from .report import FAIL, INFO, PASS, SKIP, Check, Redactor, RequestLog

# SOAP login() is gone from API 65.0; 64.0 is the last version whose answer says whether the org
# still allows it.
SOAP_PROBE_VERSION = "64.0"
# A user no org has: a refused login of an unknown user locks nobody out.
SOAP_PROBE_USER = "orglink-contract-probe@example.invalid"


@dataclass
class OrgFacts:
    """What the lifecycle needs from the read-only half."""

    logged_in: dict[str, bool] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)  # who orglink logs in as, per org
    instance_urls: dict[str, str] = field(default_factory=dict)  # each org's My Domain, from its login
    run_as_user: str | None = None
    may_create_connected_app: bool = False
    creation_words: str = ""
    eca_secret_readable: bool = False
    adoptable_app: bool = False  # the connected app named by --adopt-connected-app exists in Org B


class FactRunner:
    def __init__(
        self, log: RequestLog, redact: Redactor, checks: list[Check], progress: Callable[[str], None]
    ) -> None:
        self.log, self.redact, self.checks, self.progress = log, redact, checks, progress

    def fact(self, name: str, ask: Callable[[], tuple[str, str]], field_name: str | None = None) -> Check:
        """Run one question; its check lists every request it made (org, method, path, status)."""
        mark, started = self.log.mark(), time.monotonic()
        try:
            status, answer = ask()
        except salesforce.SalesforceError as err:
            status, answer = FAIL, f"{err.status_code}: {err.message}"
            field_name = field_name or err.field
        except (OSError, ValueError, KeyError, TypeError) as exc:  # an answer not shaped as expected
            status, answer = FAIL, f"{type(exc).__name__}: {exc}"
        check = Check(
            "fact", name, status, self.redact(answer),
            [r.short() for r in self.log.since(mark)], field_name, round(time.monotonic() - started, 3),
        )  # fmt: skip
        self.checks.append(check)
        self.progress(f"{name}: {status}: {check.answer}")
        return check


def read_only_facts(
    runner: FactRunner, run_as_user: str | None, connections: dict[str, dict[str, Any]],
    adopt_app: str | None = None,
) -> OrgFacts:  # fmt: skip
    found = OrgFacts()
    for alias, role in (("orgA", "Org A"), ("orgB", "Org B")):
        login = runner.fact(f"{role}: login ({connections[alias].get('auth')})", partial(_login, alias))
        found.logged_in[alias] = login.status == PASS
        if not found.logged_in[alias]:
            continue
        client = salesforce.org(alias)
        found.instance_urls[alias] = client.instance_url
        runner.fact(f"{role}: login user", partial(_login_user, client, found))
        runner.fact(f"{role}: API versions", partial(_api_versions, client))
        runner.fact(f"{role}: My Domain and org", partial(_my_domain, client))
        runner.fact(f"{role}: SOAP login() (API {SOAP_PROBE_VERSION})", partial(_soap_login_enabled, client))
    if not found.logged_in.get("orgB"):
        return found
    org_b = salesforce.org("orgB")
    found.run_as_user = run_as_user or found.usernames.get("orgB")
    probe = f"Probe_orglink_contract_{secrets.token_hex(4)}"
    creation = runner.fact(
        "Org B: may create connected apps (validate-only deploy)", lambda: _creation(org_b, probe, found)
    )
    found.may_create_connected_app = creation.status == PASS
    if adopt_app:
        adoptable = runner.fact(
            f"Org B: connected app {adopt_app} to adopt", lambda: _adoptable(org_b, adopt_app)
        )
        found.adoptable_app = adoptable.status == PASS
    runner.fact("Org B: REST may read ECA secrets", lambda: _eca_secrets(org_b, found))
    runner.fact("Org B: profile System Administrator", lambda: _profiles(org_b, ["System Administrator"]))
    if found.run_as_user:
        runner.fact(
            f"Org B: run-as user {found.run_as_user}", lambda: _run_as_user(org_b, str(found.run_as_user))
        )
    else:
        runner.checks.append(
            Check(
                "fact",
                "Org B: run-as user",
                SKIP,
                "not asked: Org B's login names no user; give --run-as-user",
            )
        )
    return found


def _login(alias: str) -> tuple[str, str]:
    client = salesforce.org(alias)
    return PASS, f"logged in; instance {urlparse(client.instance_url).netloc}, API {client.api_version}"


def _login_user(client: salesforce.OrgClient, found: OrgFacts) -> tuple[str, str]:
    """The user orglink's connection runs as (OAuth userinfo): Org A's runs the verification
    callout and needs the principal's access, Org B's is the default run-as user."""
    info = client.call("userinfo", lambda: _get(client, "/services/oauth2/userinfo"))
    username = str(info.get("preferred_username") or "")
    if not username:
        return FAIL, "userinfo named no user"
    found.usernames[client.alias] = username
    return PASS, f"{username}"


def _api_versions(client: salesforce.OrgClient) -> tuple[str, str]:
    response = client.call("list API versions", lambda: _get(client, "/services/data/"))
    offered = [str(v.get("version")) for v in response if isinstance(v, dict)]
    latest = max(offered, key=lambda v: tuple(int(p) for p in v.split(".")), default="none")
    wanted = client.api_version
    status = PASS if wanted in offered else FAIL
    return (
        status,
        f"offers {len(offered)} versions, latest {latest}; orglink's {wanted} "
        + ("offered" if status == PASS else "NOT offered"),
    )


def _get(client: salesforce.OrgClient, path: str) -> Any:
    response = client.session.get(
        client.instance_url + path, headers={"Authorization": f"Bearer {client.sf.session_id}"}
    )
    response.raise_for_status()
    return response.json()


def _my_domain(client: salesforce.OrgClient) -> tuple[str, str]:
    host = urlparse(client.instance_url).netloc
    rows = client.query("SELECT Name, OrganizationType, IsSandbox, InstanceName FROM Organization")
    org = rows[0] if rows else {}
    generic = host in ("login.salesforce.com", "test.salesforce.com")
    kind = "sandbox" if org.get("IsSandbox") else str(org.get("OrganizationType") or "org")
    status = FAIL if generic else PASS
    return status, f"My Domain {host}; {kind} '{org.get('Name')}' on {org.get('InstanceName')}"


def _soap_login_enabled(client: salesforce.OrgClient) -> tuple[str, str]:
    """An unknown user's SOAP login: INVALID_LOGIN means the org checked credentials (login() on);
    any other refusal means it turned login() away first. Only the password mode needs it."""
    conn = salesforce.Connection(
        alias=client.alias, auth="password", login_url=client.instance_url,
        ca_bundle=_ca_bundle(client), api_version=SOAP_PROBE_VERSION,
    )  # fmt: skip
    try:
        salesforce._soap_login(
            conn, client.session, client.instance_url, SOAP_PROBE_USER, "x", conn.ca_bundle
        )
    except salesforce.SalesforceError as err:
        if err.status_code == "INVALID_LOGIN":
            return INFO, "enabled: an unknown user's login() was refused with INVALID_LOGIN"
        return INFO, f"disabled or restricted: {err.status_code}: {err.message}"
    return FAIL, "an unknown user's login() succeeded"


def _ca_bundle(client: salesforce.OrgClient) -> str | None:
    verify = client.session.verify
    return verify if isinstance(verify, str) else None


def _creation(client: salesforce.OrgClient, probe: str, found: OrgFacts) -> tuple[str, str]:
    verdict = connected_app_checks.creation_verdict(client, probe)
    found.creation_words = verdict.words
    if verdict.allowed:
        return PASS, f"allowed: a checkOnly deploy of connected app '{probe}' succeeded (nothing written)"
    return SKIP, f"refused ({verdict.code}): {verdict.words}; the connected-app part is skipped"


def _adoptable(client: salesforce.OrgClient, name: str) -> tuple[str, str]:
    app = client.read_component("ConnectedApp", name)
    if app is None:
        return FAIL, f"Org B has no connected app '{name}'; give the API Name Setup > App Manager shows"
    return PASS, f"exists (label '{app.get('label', '')}'); the lifecycle adopts it and leaves it on destroy"


def _eca_secrets(client: salesforce.OrgClient, found: OrgFacts) -> tuple[str, str]:
    found.eca_secret_readable = eca_app.secret_access_enabled(client)
    if found.eca_secret_readable:
        return PASS, f"{eca_app.SETTINGS_TYPE}.{eca_app.SECRET_SETTING} is on"
    return INFO, (
        f"{eca_app.SETTINGS_TYPE}.{eca_app.SECRET_SETTING} is off: the lifecycle sets "
        "`enable_secret_in_rest_api: true`, so orglink turns it on and its destroy turns it off again"
    )


def _profiles(client: salesforce.OrgClient, profiles: list[str]) -> tuple[str, str]:
    rows = client.query(permission_set_query(profiles, []))
    missing, _ = org_b_checks.missing_holders(rows, profiles, [])
    if missing:
        return FAIL, f"missing: {', '.join(missing)}"
    return PASS, f"found {', '.join(profiles)} (its profile-owned permission set)"


def _run_as_user(client: salesforce.OrgClient, username: str) -> tuple[str, str]:
    warnings: list[str] = []
    check_run_as_user(client, username, warnings.append)
    return PASS, "exists and is active" + (f"; {' '.join(warnings)}" if warnings else "")


# -- the behaviours orglink relies on (docs/emulator-fidelity.md, docs/design.md) --------------------

# Which contract checks exercise each section of the fidelity notes: a behaviour of that family is
# "exercised" when they passed; nothing but a test against the emulator shows it directly.
SECTION_CHECKS = {
    "Callout access (named credentials)": ("verification",),
    "Connected apps": ("up", "may create connected apps"),
    "External Client Apps": ("up", "REST may read ECA secrets"),
    "External and principal credentials": ("up", "verification"),
    "Logins (SOAP, OAuth)": ("login", "SOAP login()", "token gate"),
    "Secrets at rest": (),
    "HTTP, SOAP envelopes and the Salesforce CLI": ("login", "API versions"),
}
# Older behaviours the design notes rely on, with the checks that observe them.
DESIGN_BEHAVIOURS = (
    (
        "Connected-app creation is refused unless Support enabled it (validate-only deploy tells)",
        ("may create connected apps",),
    ),
    (
        "ExternalClientAppSettings.enableClientSecretInRestApiAccess gates reading ECA secrets",
        ("REST may read ECA secrets",),
    ),
    (
        "A new app's token endpoint answers invalid_client_id until it reaches the login servers",
        ("token gate",),
    ),
    (
        "A ConnectedApp / ECA create makes its app record; deletes remove it and its access rows",
        ("up", "sweep"),
    ),
    ("Metadata updates replace the whole component (read-modify-write)", ("one-field change", "drift")),
    ("Refresh reads what someone changed in Setup; the next up restores it", ("drift",)),
)


def fidelity_rows(doc: Path) -> list[tuple[str, str, str]]:
    """(section, behaviour, how sure) of every table row of the fidelity notes."""
    rows, section = [], ""
    for line in doc.read_text().splitlines() if doc.is_file() else []:
        if line.startswith("## "):
            section = line[3:].strip()
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if (
            not line.startswith("|")
            or len(cells) < 3
            or cells[0] in ("behaviour", "")
            or set(cells[0]) <= set("-: ")
        ):
            continue
        rows.append((section, cells[0], cells[2]))
    return rows


def behaviour_checks(checks: list[Check], doc: Path) -> list[Check]:
    """One check per behaviour orglink relies on. A design behaviour has checks that observe it:
    pass when they passed. A fidelity row is only as close as its API family: info when the
    checks of that family passed (they exercised it, they did not single it out). Either is fail
    when a covering check failed, skip when none ran or the contract cannot see it."""
    listed = [
        (f"{section}: {behaviour} ({sure})", SECTION_CHECKS.get(section, ()), INFO)
        for section, behaviour, sure in fidelity_rows(doc)
    ]
    listed += [(f"design: {behaviour}", names, PASS) for behaviour, names in DESIGN_BEHAVIOURS]
    return [_behaviour(name, covering, verdict, checks) for name, covering, verdict in listed]


def _behaviour(name: str, covering: tuple[str, ...], verdict: str, checks: list[Check]) -> Check:
    ran = [c for c in checks if any(_covers(key, c.name) for key in covering) and c.status != SKIP]
    requests = list(dict.fromkeys(r for c in ran for r in c.requests))
    if not ran:
        return Check("fidelity", name, SKIP, "not observed by the contract")
    failed = [c.name for c in ran if c.status == FAIL]
    if failed:
        return Check("fidelity", name, FAIL, "contradicted? failed: " + ", ".join(failed), requests)
    if verdict == PASS:
        return Check("fidelity", name, PASS, "observed by: " + ", ".join(c.name for c in ran), requests)
    # Org A's and Org B's check of one kind are one name here: the row is about the kind.
    kinds = sorted({c.name.split(": ", 1)[-1] for c in ran})
    return Check("fidelity", name, INFO, "its API family exercised by: " + ", ".join(kinds), requests[:3])


def _covers(key: str, check_name: str) -> bool:
    return re.search(rf"(^|[:\s]){re.escape(key)}", check_name) is not None
