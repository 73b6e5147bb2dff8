"""Request/response types and helpers shared by the protocol handlers.

Handlers are plain functions `handle(ctx: Ctx) -> Response`; the server builds the `Ctx` (which org
the port belongs to, the parsed request) and writes the `Response`. Keeping them free of
the HTTP server (emulator.transport) makes them small and testable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from . import soap

if TYPE_CHECKING:
    from .app import App
    from .store import OrgStore


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, str]  # first value of each query parameter
    headers: dict[str, str]  # lower-cased names
    body: bytes
    # The parsed SOAP envelope, or why the body is not one: classifying and answering share one parse.
    _envelope: soap.Envelope | soap.EnvelopeError | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def envelope(self) -> soap.Envelope:
        """The body as a SOAP 1.1 envelope (parsed once); raises soap.EnvelopeError if it is not one."""
        if self._envelope is None:
            try:
                self._envelope = soap.parse_envelope(self.body)
            except soap.EnvelopeError as err:
                self._envelope = err
        if isinstance(self._envelope, soap.EnvelopeError):
            raise self._envelope
        return self._envelope

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        """The body as JSON whatever the Content-Type says (clients send JSON under text/xml)."""
        return json.loads(self.body.decode("utf-8") or "null")

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # drop the connection with a TCP reset instead of answering


@dataclass
class Ctx:
    app: App
    org: OrgStore | None  # None on the shared login port
    alias: str  # org alias, or "login" for the shared login port
    req: Request


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    hdrs = {"Content-Type": "application/json;charset=UTF-8"}
    hdrs.update(headers or {})
    return Response(status, json.dumps(payload).encode(), hdrs)


def xml_response(status: int, body: bytes) -> Response:
    return Response(status, body, {"Content-Type": "text/xml;charset=UTF-8"})


def rest_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    """The REST error shape: a JSON list of {message, errorCode, fields}."""
    return json_response(status, [{"message": message, "errorCode": code, "fields": fields or []}])


def not_found() -> Response:
    return rest_error(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> Response:
    return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


_VERSION_RE = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
MIN_VERSION, MAX_VERSION = 20, 67  # Summer '26 is API 67.0


def split_version(path: str) -> tuple[str, str] | None:
    """('63.0', '/rest/of/path') for a /services/data/vXX.X/... path of a served version."""
    m = _VERSION_RE.match(path)
    if m is None:
        return None
    version = m.group(1)
    if not version.endswith(".0") or not MIN_VERSION <= int(float(version)) <= MAX_VERSION:
        return None
    return version, m.group(2) or "/"


def bearer_token(req: Request) -> str | None:
    auth = req.header("authorization")
    for scheme in ("Bearer ", "OAuth "):
        if auth.startswith(scheme):
            return auth[len(scheme) :].strip()
    return None


def session_user(ctx: Ctx, token: str | None) -> dict | None:
    """The User record behind a live session of this org, or None."""
    if not token or ctx.org is None:
        return None
    row = ctx.org.valid_session(token)
    if row is None:
        return None
    return ctx.org.get_record("User", str(row["user_id"]))
