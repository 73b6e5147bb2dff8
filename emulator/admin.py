"""The admin side: a separate HTTPS port for tests and benchmarks, never part of the Salesforce surface.

Server side: `handle(app, req)`. Client side: `AdminClient(state_dir)`. Requests carry the token in
DIR/admin.token (0600), so only someone who can read the state dir can drive the emulator.
The pseudo org alias "login" names the shared login port for counters and faults.
"""

from __future__ import annotations

import hmac
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from . import oauth, soql
from .app import APIS, FAULTS, App, Fault
from .store import DEFAULT_SETTINGS, OrgStore
from .web import Request, Response, json_response

TOKEN_HEADER = "X-Orglink-Admin-Token"
APP_TYPES = ("ConnectedApp", "ExternalClientApplication")


def token_path(state_dir: Path) -> Path:
    return Path(state_dir) / "admin.token"


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


# -- server side ----------------------------------------------------------------------------------
def handle(app: App, req: Request) -> Response:
    expected = token_path(app.state_dir).read_text().strip()
    if not hmac.compare_digest(req.header(TOKEN_HEADER), expected):
        return _error(403, "missing or wrong admin token")
    parts = [unquote(p) for p in req.path.split("/") if p]
    if parts == ["status"]:
        return json_response(200, {"orgs": sorted(app.emulator.orgs), "ports": app.ports})
    if parts == ["shutdown"] and req.method == "POST":
        app.shutdown_event.set()
        return json_response(200, {"stopping": True})
    if len(parts) < 3 or parts[0] != "orgs":
        return _error(404, "unknown admin path")
    alias, action, rest = parts[1], parts[2], parts[3:]
    if action in ("mark", "counters", "faults"):
        if alias != "login" and alias not in app.emulator.orgs:
            return _error(404, f"unknown org {alias}")
        return _traffic(app, alias, action, req)
    org = app.emulator.orgs.get(alias)
    if org is None:
        return _error(404, f"unknown org {alias}")
    return _org_action(app, org, action, rest, req)


def _traffic(app: App, alias: str, action: str, req: Request) -> Response:
    if action == "mark":
        app.mark(alias)
        return json_response(200, {})
    if action == "counters":
        return json_response(200, app.counter_view(alias))
    if req.method == "DELETE":
        app.faults[alias].clear()
        return json_response(200, {})
    if req.method == "GET":
        with app.lock:
            faults = list(app.faults[alias])
            pending = [{"kind": f.kind, "fault": f.fault, "remaining": f.remaining} for f in faults]
        return json_response(200, {"pending": pending})
    body = req.json() or {}
    kind, fault = str(body.get("kind", "")), str(body.get("fault", ""))
    if kind not in (*APIS, "any") or fault not in FAULTS:
        return _error(400, f"kind must be one of {APIS + ('any',)}, fault one of {FAULTS}")
    app.add_fault(alias, Fault(kind, fault, int(body.get("count", 1)), float(body.get("delay_s", 0.0))))
    return json_response(200, {})


def _org_action(app: App, org: OrgStore, action: str, rest: list[str], req: Request) -> Response:
    if action == "expire-sessions":
        return json_response(200, {"expired": org.expire_sessions()})
    if action == "snapshot":
        return json_response(200, org.snapshot())
    if action == "settings":
        return _settings(org, rest, req)
    if action == "components" and len(rest) == 2:
        return _component(org, rest[0], rest[1], req)
    if action == "records" and len(rest) == 2 and req.method == "DELETE":
        # A record removed in Setup (a permission set unassigned from a user, say): no API rules apply.
        return json_response(200, {"deleted": org.delete_record(rest[0], rest[1])})
    if action == "query":
        try:
            return json_response(200, soql.execute(str((req.json() or {}).get("soql", "")), org))
        except soql.SoqlError as err:
            return _error(400, f"{err.code}: {err.message}")
    if action == "refresh-token":
        return _refresh_token(app, org, req.json() or {})
    return _error(404, "unknown admin path")


def _settings(org: OrgStore, rest: list[str], req: Request) -> Response:
    if not rest:
        return json_response(200, org.settings())
    name = rest[0]
    if name not in DEFAULT_SETTINGS:
        return _error(400, f"unknown setting {name}; known: {sorted(DEFAULT_SETTINGS)}")
    if req.method == "PUT":
        org.set_setting(name, (req.json() or {}).get("value"))
    return json_response(200, {"name": name, "value": org.setting(name)})


def _component(org: OrgStore, mtype: str, full_name: str, req: Request) -> Response:
    """Edit a component out of band, as a person in Setup would (app records follow their app)."""
    if req.method == "GET":
        comp = org.get_component(mtype, full_name)
        return _error(404, "no such component") if comp is None else json_response(200, comp)
    if req.method == "DELETE":
        with org.transaction():
            if mtype in APP_TYPES:
                org.remove_app_record(mtype, full_name)
            found = org.delete_component(mtype, full_name)
        return json_response(200 if found else 404, {"deleted": found})
    body = req.json()
    if not isinstance(body, dict):
        return _error(400, "component body must be a JSON object")
    with org.transaction():
        record = org.app_record(mtype, full_name) if mtype in APP_TYPES else None
        org.put_component(mtype, full_name, body)
        if record is not None:
            label = body.get("label", full_name)
            sobject = "ConnectedApplication" if mtype == "ConnectedApp" else "ExternalClientApplication"
            org.update_record(
                sobject,
                str(record["Id"]),
                {"Name": label} if mtype == "ConnectedApp" else {"MasterLabel": label},
            )
        elif mtype in APP_TYPES:
            org.ensure_app_record(mtype, full_name)
    return json_response(200, org.get_component(mtype, full_name))


def _refresh_token(app: App, org: OrgStore, body: dict) -> Response:
    key = str(body.get("consumer_key", ""))
    user = app.find_user(org, str(body.get("username", "")))
    if key == oauth.PLATFORM_CLI_KEY and user is not None:
        # The CLI's global app is in every org: a person who ran `sf org login web`.
        return json_response(
            200, {"refresh_token": oauth.issue_refresh_token(oauth.platform_cli_app(org), user[1])}
        )
    found = app.emulator.find_app_by_key(key)
    if found is None or found[0] is not org or user is None:
        return _error(404, "unknown consumer key or username in this org")
    forg, mtype, comp = found
    oapp = (
        oauth._connected_app(forg, comp)
        if mtype == "ConnectedApp"
        else oauth._external_client_app(forg, comp)
    )
    return json_response(200, {"refresh_token": oauth.issue_refresh_token(oapp, user[1])})


# -- client side ----------------------------------------------------------------------------------
class AdminError(Exception):
    pass


class AdminClient:
    """Drives a running emulator through its admin port (HTTPS, verified against the emulator CA)."""

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        info = json.loads((self.state_dir / "emulator.json").read_text())
        self.url = str(info["admin_url"])
        self._ssl = ssl.create_default_context(cafile=str(info["ca_bundle"]))
        self._token = token_path(self.state_dir).read_text().strip()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={TOKEN_HEADER: self._token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._ssl) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            payload = err.read().decode("utf-8", "replace")
            if err.code == 404 and method == "GET" and "/components/" in path:
                return None
            raise AdminError(f"{method} {path}: HTTP {err.code}: {payload}") from None

    @staticmethod
    def _q(value: str) -> str:
        return quote(value, safe="")

    def status(self) -> dict:
        return dict(self._call("GET", "/status"))

    def shutdown(self) -> None:
        self._call("POST", "/shutdown")

    def mark(self, org: str) -> None:
        self._call("POST", f"/orgs/{self._q(org)}/mark")

    def counters(self, org: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._call("GET", f"/orgs/{self._q(org)}/counters").items()}

    def inject_fault(self, org: str, kind: str, fault: str, count: int = 1, delay_s: float = 0.0) -> None:
        self._call(
            "POST",
            f"/orgs/{self._q(org)}/faults",
            {"kind": kind, "fault": fault, "count": count, "delay_s": delay_s},
        )

    def pending_faults(self, org: str) -> list[dict[str, Any]]:
        """Injected faults not yet served: [{kind, fault, remaining}]."""
        pending: list[dict[str, Any]] = self._call("GET", f"/orgs/{self._q(org)}/faults")["pending"]
        return pending

    def clear_faults(self, org: str) -> None:
        self._call("DELETE", f"/orgs/{self._q(org)}/faults")

    def expire_sessions(self, org: str) -> int:
        return int(self._call("POST", f"/orgs/{self._q(org)}/expire-sessions")["expired"])

    def set_setting(self, org: str, name: str, value: Any) -> None:
        self._call("PUT", f"/orgs/{self._q(org)}/settings/{self._q(name)}", {"value": value})

    def settings(self, org: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/orgs/{self._q(org)}/settings"))

    def _component_path(self, org: str, mtype: str, full_name: str) -> str:
        return f"/orgs/{self._q(org)}/components/{self._q(mtype)}/{self._q(full_name)}"

    def get_component(self, org: str, type: str, full_name: str) -> dict | None:  # noqa: A002 - contract name
        result = self._call("GET", self._component_path(org, type, full_name))
        return None if result is None else dict(result)

    def put_component(self, org: str, type: str, full_name: str, body: dict) -> dict:  # noqa: A002
        return dict(self._call("PUT", self._component_path(org, type, full_name), body))

    def delete_component(self, org: str, type: str, full_name: str) -> bool:  # noqa: A002
        try:
            return bool(self._call("DELETE", self._component_path(org, type, full_name))["deleted"])
        except AdminError as err:
            if "HTTP 404" in str(err):
                return False
            raise

    def delete_record(self, org: str, sobject: str, record_id: str) -> bool:
        """Remove a record out of band, as a person in Setup would; False when there was none."""
        path = f"/orgs/{self._q(org)}/records/{self._q(sobject)}/{self._q(record_id)}"
        return bool(self._call("DELETE", path)["deleted"])

    def snapshot(self, org: str) -> dict:
        return dict(self._call("GET", f"/orgs/{self._q(org)}/snapshot"))

    def query(self, org: str, soql: str) -> dict:
        return dict(self._call("POST", f"/orgs/{self._q(org)}/query", {"soql": soql}))

    def issue_refresh_token(self, org: str, consumer_key: str, username: str) -> str:
        """A refresh token as if `username` had approved the app in a browser (no such flow is served)."""
        result = self._call(
            "POST",
            f"/orgs/{self._q(org)}/refresh-token",
            {"consumer_key": consumer_key, "username": username},
        )
        return str(result["refresh_token"])
