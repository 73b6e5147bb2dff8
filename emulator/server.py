"""The emulator process: one HTTPS port per org, a shared login port and an admin port.

`serve(state_dir, aliases)` binds every port first (reusing the ports saved in DIR/ports.json),
writes DIR/orgs.json and DIR/emulator.json, and only then serves: by the time `start` sees the
files, every port already accepts connections.

Per request on an org port (`answer`): classify (api kind, read/write), count, consume an injected
fault if one matches, then route to the handler module. HTTP itself is emulator.transport's.
This module is the top of the emulator: it imports every handler, and no handler imports it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from lxml import etree

from . import (
    admin,
    connect_api,
    deploy,
    metadata_api,
    oauth,
    rest_api,
    retrieve,
    soap,
    soap_login,
    tooling_api,
)
from .app import LOGIN_ALIAS, App
from .latency import LatencyModel, family_of
from .store import DEFAULT_PROFILE, OrgStore
from .tls import ensure_tls, server_context
from .transport import Handler, HttpsServer, TlsAdapter
from .web import Ctx, Request, Response, json_response, rest_error, xml_response

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
# The Metadata API's operations: the component calls and the deploy and retrieve calls built on them.
METADATA_OPERATIONS = {**metadata_api.OPERATIONS, **deploy.OPERATIONS, **retrieve.OPERATIONS}


# -- classification and fault answers -------------------------------------------------------------
def classify(req: Request) -> tuple[str, str] | None:
    """(api kind, "read" | "write") of a Salesforce API request, or None for an unknown path."""
    path = req.path
    if path.startswith("/services/Soap/u/"):
        return "soap_login", "write"
    if path.startswith("/services/Soap/m/"):
        return "metadata", _metadata_kind(req)
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


def _metadata_kind(req: Request) -> str:
    name = _operation_name(req)
    if not name:
        return "write"  # answered with a fault; unknown calls count as writes
    if name == "deploy" and _check_only(req.envelope().operation):
        return "read"  # a validate-only deploy writes nothing
    return "read" if name in _METADATA_READS else "write"


def _operation_name(req: Request) -> str:
    try:
        operation = req.envelope().operation
    except soap.EnvelopeError:
        return ""
    return etree.QName(operation).localname if operation is not None else ""


def _check_only(deploy_call: Any) -> bool:
    """DeployOptions/checkOnly of a deploy call, its elements found as emulator.deploy finds them."""
    options = deploy.child(deploy_call, "DeployOptions")
    check_only = deploy.child(options, "checkOnly") if options is not None else None
    return check_only is not None and (check_only.text or "").strip().lower() in ("true", "1")


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
    if api == "soap_login":
        return soap_login.handle(ctx)
    if api == "oauth":
        return oauth.handle(ctx)
    if ctx.org is None:
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    if api == "metadata":
        return metadata(ctx, ctx.org)
    if api == "connect":
        return connect_api.handle(ctx)
    if api == "tooling":
        return tooling_api.handle(ctx)
    return rest_api.handle(ctx)


def metadata(ctx: Ctx, org: OrgStore) -> Response:
    """Metadata API: read the envelope, check its SessionHeader, then hand over to emulator.metadata_api."""
    if ctx.req.method != "POST":
        return Response(405, b"", {"Allow": "POST"})
    try:
        envelope = ctx.req.envelope()
    except soap.EnvelopeError as err:
        return xml_response(500, soap.client_fault(err.message, err.code))
    # The header of the metadata WSDL, in its namespace: a partner SessionHeader is not this one.
    token = (envelope.header_text(soap.METADATA_NS, "SessionHeader", "sessionId") or "").strip()
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
    status, body = metadata_api.handle_metadata_request(
        ctx.app.emulator, org, envelope.operation, user, METADATA_OPERATIONS
    )
    return xml_response(status, body)


def answer(app: App, alias: str, req: Request) -> Response:
    """One request on an org port or the shared login port, as Salesforce would answer it."""
    try:
        return _answer(app, alias, req)
    except Exception as exc:  # a handler bug must answer, not hang the client
        # The traceback (code lines, no request values) goes to DIR/emulator.log for debugging.
        traceback.print_exc()
        return rest_error(500, "UNKNOWN_EXCEPTION", f"emulator error: {type(exc).__name__}")


def _answer(app: App, alias: str, req: Request) -> Response:
    kind = classify(req)
    if kind is None:
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    api, rw = kind
    app.count(alias, api, rw)
    # Whatever delays or replaces an API call's answer happens here, between counting and routing:
    # the latency model (a real org's answer time per API family) and injected faults.
    if app.latency is not None:
        time.sleep(
            app.latency.delay(family_of(api, req.path, _operation_name(req) if api == "metadata" else ""))
        )
    fault = app.take_fault(alias, api)
    if fault is not None:
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.fault != "delay":
            return fault_response(api, fault.fault)
    return route(Ctx(app, app.emulator.orgs.get(alias), alias, req), api)


def _port_handler(app: App, alias: str) -> Handler:
    return lambda req: answer(app, alias, req)


def _admin_handler(app: App) -> Handler:
    def handle(req: Request) -> Response:
        try:
            return admin.handle(app, req)
        except Exception as exc:
            traceback.print_exc()
            return json_response(500, {"error": f"emulator error: {type(exc).__name__}"})

    return handle


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

    def __init__(
        self,
        state_dir: Path,
        aliases: list[str],
        profile: str = DEFAULT_PROFILE,
        latency: LatencyModel | None = None,
    ) -> None:
        state_dir = Path(state_dir).resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        tls = ensure_tls(state_dir)
        _ensure_admin_token(state_dir)
        ports = load_ports(state_dir, aliases)
        self.app = App(state_dir, aliases, ports, tls, profile, latency)
        adapter = TlsAdapter(server_context(tls))
        handlers: list[tuple[str, Handler]] = [(a, _port_handler(self.app, a)) for a in aliases]
        handlers.append(("_login", _port_handler(self.app, LOGIN_ALIAS)))
        handlers.append(("_admin", _admin_handler(self.app)))
        self.servers = [HttpsServer(ports[name], handler, adapter, name) for name, handler in handlers]
        for server in self.servers:
            server.bind()
        self.stopped = threading.Event()
        _write_json(state_dir / "orgs.json", self.app.orgs_json(), private=True)
        _write_json(
            state_dir / "emulator.json",
            {
                "pid": os.getpid(),
                "admin_url": self.app.admin_url,
                "generic_login_url": self.app.generic_login_url,
                "ca_bundle": str(tls.ca_bundle),
                "latency": latency.name if latency is not None else None,
            },
        )
        for server in self.servers:
            server.start()

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        for server in self.servers:
            server.stop()
        self.app.emulator.close()


def serve(
    state_dir: Path, aliases: list[str], profile: str = DEFAULT_PROFILE, latency: str | None = None
) -> None:
    """Serve in the foreground until SIGTERM/SIGINT or an admin shutdown; `latency` is a profile
    file (or `default`) whose delays every answer on an org or login port takes."""
    from . import latency as latency_model
    from .metadata_schema import preload

    model = latency_model.load(latency) if latency else None
    preload()  # the WSDL takes ~300 ms to load; do it before the first metadata call needs it
    running = Running(state_dir, aliases, profile, model)
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
