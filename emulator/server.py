"""The emulator process: one HTTPS port per org, a shared login port and an admin port.

`serve(state_dir, aliases)` binds every port first (reusing the ports saved in DIR/ports.json),
writes DIR/orgs.json and DIR/emulator.json, and only then serves: by the time `start` sees the
files, every port already accepts connections.

Per request on an org port: classify (api kind, read/write), count, consume an injected fault if one
matches, then route to the handler module.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import soap
from .seed import admin_password, seed_org, username
from .store import Emulator, OrgStore
from .tls import TlsFiles, client_context, ensure_tls, server_context
from .web import Ctx, Request, Response, json_response, rest_error, xml_response

APIS = ("soap_login", "oauth", "metadata", "rest", "connect", "tooling")
FAULTS = (
    "503",
    "UNKNOWN_EXCEPTION",
    "REQUEST_LIMIT_EXCEEDED",
    "ALREADY_IN_PROCESS",
    "UNABLE_TO_LOCK_ROW",
    "reset",
    "delay",
)
LOGIN_ALIAS = "login"  # counters and faults of the shared login port
_METADATA_READS = {
    "readMetadata",
    "listMetadata",
    "describeMetadata",
    "describeValueType",
    "checkStatus",
    "checkDeployStatus",
    "checkRetrieveStatus",
    "retrieve",  # builds a zip of what exists; writes nothing
}
_SOAP_OP = re.compile(rb"<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?([\w]+)")
# A validate-only deploy (DeployOptions checkOnly) writes nothing: it counts as a read.
_CHECK_ONLY = re.compile(rb"<(?:[\w.-]+:)?checkOnly>\s*(?:true|1)\s*<", re.IGNORECASE)


@dataclass
class Fault:
    kind: str
    fault: str
    remaining: int
    delay_s: float


class App:
    """Everything the handlers share: the orgs, their URLs, counters and injected faults."""

    def __init__(self, state_dir: Path, aliases: list[str], ports: dict[str, int], tls: TlsFiles) -> None:
        self.state_dir = state_dir
        self.emulator = Emulator(state_dir, aliases)
        self.ports = ports
        self.tls = tls
        self.client_ssl = client_context(tls)
        self.lock = threading.Lock()
        self.counters: dict[str, dict[str, int]] = defaultdict(dict)
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.shutdown_event = threading.Event()  # set by the admin /shutdown call
        for org in self.emulator.orgs.values():
            seed_org(org)

    # -- URLs ------------------------------------------------------------------------------------
    def instance_url(self, alias: str) -> str:
        return f"https://127.0.0.1:{self.ports[alias]}"

    @property
    def generic_login_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['_login']}"

    @property
    def admin_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['_admin']}"

    def find_user(self, org: OrgStore | None, uname: str) -> tuple[OrgStore, dict] | None:
        """A user by Username: in `org`, or in any org when on the shared login port."""
        orgs = [org] if org is not None else list(self.emulator.orgs.values())
        for candidate in orgs:
            for user in candidate.records("User"):
                if str(user.get("Username", "")).lower() == uname.lower():
                    return candidate, user
        return None

    def orgs_json(self) -> dict[str, dict[str, Any]]:
        out = {}
        for alias, org in self.emulator.orgs.items():
            url = self.instance_url(alias)
            out[alias] = {
                "instance_url": url,
                "login_url": url,
                "token_url": f"{url}/services/oauth2/token",
                "ca_bundle": str(self.tls.ca_bundle),
                "org_id": org.org_id,
                "my_domain": f"orglink-{alias.lower()}.my.salesforce.com",
                "admin_username": username(alias, "admin"),
                "admin_password": admin_password(org),
            }
        return out

    # -- counters and faults ---------------------------------------------------------------------
    def count(self, alias: str, api: str, rw: str) -> None:
        with self.lock:
            bucket = self.counters[alias]
            key = f"{api}.{rw}"
            bucket[key] = bucket.get(key, 0) + 1

    def mark(self, alias: str) -> None:
        with self.lock:
            self.counters[alias] = {}

    def counter_view(self, alias: str) -> dict[str, int]:
        with self.lock:
            out = {f"{api}.{rw}": 0 for api in APIS for rw in ("read", "write")}
            out.update(self.counters[alias])
        return out

    def add_fault(self, alias: str, fault: Fault) -> None:
        with self.lock:
            self.faults[alias].append(fault)

    def take_fault(self, alias: str, api: str) -> Fault | None:
        with self.lock:
            for f in self.faults[alias]:
                if f.remaining > 0 and f.kind in (api, "any"):
                    f.remaining -= 1
                    if f.remaining == 0:
                        self.faults[alias].remove(f)
                    return f
        return None


# -- classification and fault answers -------------------------------------------------------------
def classify(req: Request) -> tuple[str, str] | None:
    """(api kind, "read" | "write") of a Salesforce API request, or None for an unknown path."""
    path = req.path
    if path.startswith("/services/Soap/u/"):
        return "soap_login", "write"
    if path.startswith("/services/Soap/m/"):
        m = _SOAP_OP.search(req.body)
        op = m.group(1).decode() if m else ""
        if op == "deploy" and _CHECK_ONLY.search(req.body):
            return "metadata", "read"
        return "metadata", "read" if op in _METADATA_READS else "write"
    if path.startswith("/services/oauth2/") or path.startswith("/id/"):
        return "oauth", "write" if req.method == "POST" else "read"
    if path.startswith("/services/data"):
        rw = "read" if req.method in ("GET", "HEAD") else "write"
        if "/tooling/" in path:
            # executeAnonymous runs code (and callouts), so it counts as a write though it is a GET.
            return "tooling", "write" if "executeAnonymous" in path else rw
        if "/apps/oauth/credentials" in path or "/named-credentials/" in path:
            return "connect", rw
        return "rest", rw
    return None


def fault_response(api: str, fault: str) -> Response:
    if fault == "reset":
        return Response(0, reset=True)
    messages = {
        "UNKNOWN_EXCEPTION": "An unexpected error occurred. Please include this ErrorId if you contact "
        "support: 1618033988-42 (-1234567890)",
        "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
        "ALREADY_IN_PROCESS": "Another setup operation is already in progress. Try again later.",
        "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record or 1 records",
    }
    if fault == "503":
        if api in ("rest", "connect", "tooling"):
            return rest_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable; try again later.")
        return Response(503, b"Service Unavailable", {"Content-Type": "text/plain"})
    message = messages[fault]
    if api in ("soap_login", "metadata"):
        body = soap.metadata_fault(fault, message) if api == "metadata" else soap.soap_fault(fault, message)
        return xml_response(500, body)
    if api == "oauth":
        if fault == "UNKNOWN_EXCEPTION":
            return json_response(500, {"error": "unknown_error", "error_description": "retry your request"})
        return json_response(400, {"error": fault.lower(), "error_description": message})
    status = {"UNKNOWN_EXCEPTION": 500, "REQUEST_LIMIT_EXCEEDED": 403}.get(fault, 400)
    return rest_error(status, fault, message)


# -- routing --------------------------------------------------------------------------------------
def route(ctx: Ctx, api: str) -> Response:
    # Handler modules are imported here, not at module top, so a broken optional part (the
    # Metadata API handler is written separately) cannot stop the whole emulator from starting.
    if api == "soap_login":
        from . import soap_login

        return soap_login.handle(ctx)
    if api == "oauth":
        from . import oauth

        return oauth.handle(ctx)
    if ctx.org is None:
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    if api == "metadata":
        return metadata(ctx, ctx.org)
    if api == "connect":
        from . import connect_api

        return connect_api.handle(ctx)
    if api == "tooling":
        from . import tooling_api

        return tooling_api.handle(ctx)
    from . import rest_api

    return rest_api.handle(ctx)


_SESSION_HEADER = re.compile(rb"<(?:[\w.-]+:)?sessionId>([^<]*)</(?:[\w.-]+:)?sessionId>")


def metadata(ctx: Ctx, org: OrgStore) -> Response:
    """Metadata API: validate the SessionHeader, then hand over to emulator.metadata_api."""
    if ctx.req.method != "POST":
        return Response(405, b"", {"Allow": "POST"})
    m = _SESSION_HEADER.search(ctx.req.body)
    token = m.group(1).decode().strip() if m else ""
    row = org.valid_session(token) if token else None
    user = org.get_record("User", str(row["user_id"])) if row else None
    if user is None:
        return xml_response(
            500,
            soap.metadata_fault(
                "INVALID_SESSION_ID",
                "Invalid Session ID found in SessionHeader: "
                "Illegal Session. Session not found, missing session hash",
            ),
        )
    try:
        from .metadata_api import handle_metadata_request
    except ImportError:
        return Response(501, b"Metadata API handler not installed", {"Content-Type": "text/plain"})
    status, body = handle_metadata_request(ctx.app.emulator, org, ctx.req.body, user)
    return xml_response(status, body)


class _Handler(BaseHTTPRequestHandler):
    """One class per port (see `_handler_for`): `app`, `alias`, `admin` are set as class attributes."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK adds ~40 ms.
    disable_nagle_algorithm = True
    app: App
    alias: str
    admin: bool = False
    server_version = "SFDC"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the base
        # Request lines can carry tokens in query strings; never log them.
        return

    def _request(self) -> Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        return Request(self.command, parts.path, query, headers, body)

    def _serve(self) -> None:
        try:
            req = self._request()
            resp = self._dispatch(req)
        except Exception as exc:  # a handler bug must answer, not hang the client
            # The traceback (code lines, no request values) goes to DIR/emulator.log for debugging.
            traceback.print_exc()
            resp = rest_error(500, "UNKNOWN_EXCEPTION", f"emulator error: {type(exc).__name__}")
        if resp.reset:
            self._reset()
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def _dispatch(self, req: Request) -> Response:
        if self.admin:
            from . import admin

            return admin.handle(self.app, req)
        org = self.app.emulator.orgs.get(self.alias)
        ctx = Ctx(self.app, org, self.alias, req)
        kind = classify(req)
        if kind is None:
            return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
        api, rw = kind
        self.app.count(self.alias, api, rw)
        fault = self.app.take_fault(self.alias, api)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.fault != "delay":
                return fault_response(api, fault.fault)
        return route(ctx, api)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST: the client sees a connection reset.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


def _handler_for(app: App, alias: str, admin: bool = False) -> type[_Handler]:
    return type(f"Handler_{alias}", (_Handler,), {"app": app, "alias": alias, "admin": admin})


class TlsServer(ThreadingHTTPServer):
    """TLS is negotiated in the per-connection thread, so a slow handshake never blocks accept()."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, port: int, handler: type[_Handler], ctx: ssl.SSLContext) -> None:
        self.ssl_ctx = ctx
        super().__init__(("127.0.0.1", port), handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls_sock = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the CA, or a port probe
        try:
            super().finish_request(tls_sock, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls_sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients dropping connections are normal; nothing to report


# -- process entry points -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_ports(state_dir: Path, aliases: list[str]) -> dict[str, int]:
    """Ports chosen once and saved in DIR/ports.json, so a restart keeps every URL."""
    path = state_dir / "ports.json"
    ports: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for name in [*aliases, "_login", "_admin"]:
        if name not in ports:
            ports[name] = _free_port()
            changed = True
    if changed:
        _write_json(path, ports)
    return ports


def _write_json(path: Path, payload: Any, private: bool = False) -> None:
    """Write atomically (readers poll these files) and, for files holding passwords, 0600."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)


def _ensure_admin_token(state_dir: Path) -> None:
    path = state_dir / "admin.token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))


class Running:
    """A started emulator inside this process (used by `serve` and usable in-process)."""

    def __init__(self, state_dir: Path, aliases: list[str]) -> None:
        state_dir = Path(state_dir).resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        tls = ensure_tls(state_dir)
        _ensure_admin_token(state_dir)
        ports = load_ports(state_dir, aliases)
        self.app = App(state_dir, aliases, ports, tls)
        ctx = server_context(tls)
        self.servers = [TlsServer(ports[a], _handler_for(self.app, a), ctx) for a in aliases]
        self.servers.append(TlsServer(ports["_login"], _handler_for(self.app, LOGIN_ALIAS), ctx))
        self.servers.append(TlsServer(ports["_admin"], _handler_for(self.app, "_admin", admin=True), ctx))
        self.stopped = threading.Event()
        _write_json(state_dir / "orgs.json", self.app.orgs_json(), private=True)
        _write_json(
            state_dir / "emulator.json",
            {
                "pid": os.getpid(),
                "admin_url": self.app.admin_url,
                "generic_login_url": self.app.generic_login_url,
                "ca_bundle": str(tls.ca_bundle),
            },
        )
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in self.servers]
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        for s in self.servers:
            s.shutdown()
            s.server_close()
        self.app.emulator.close()


def serve(state_dir: Path, aliases: list[str]) -> None:
    """Serve in the foreground until SIGTERM/SIGINT or an admin shutdown."""
    from .metadata_schema import preload

    preload()  # the WSDL takes ~300 ms to load; do it before the first metadata call needs it
    running = Running(state_dir, aliases)
    done = running.app.shutdown_event

    def _stop(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    done.wait()
    running.stop()
    pid_file = Path(state_dir) / "emulator.json"
    try:
        if json.loads(pid_file.read_text()).get("pid") == os.getpid():
            pid_file.unlink()
    except (OSError, ValueError):
        pass
