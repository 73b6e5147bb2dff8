"""HTTPS for the emulator's ports: cheroot speaks HTTP/1.1, this module turns it into `Request`/`Response`.

cheroot (the CherryPy project's WSGI server) does the protocol: keep-alive, chunked request bodies,
`Expect: 100-continue`, HTTP/1.0 clients, TLS through the standard `ssl` module. This module adds
what Salesforce does on top of HTTP for every API alike: request bodies in `Content-Encoding: gzip`
or `deflate` are inflated before a handler sees them, and responses are compressed when the client's
`Accept-Encoding` allows it. Handlers stay plain functions `Request -> Response` (emulator.web).
Why cheroot rather than an asyncio server is said in docs/design.md ("HTTP").
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import ssl
import struct
import threading
import traceback
import zlib
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.ssl import Adapter
from cheroot.ssl.builtin import BuiltinSSLAdapter

from .web import Request, Response

Handler = Callable[[Request], Response]
StartResponse = Callable[..., Any]

# Idle keep-alive connections are closed after this long (cheroot also uses it as the socket timeout).
IDLE_TIMEOUT_S = 60
THREADS_PER_PORT = 10
MAX_INFLATED_BYTES = 64 * 1024 * 1024  # a compressed request body may inflate to this much
# The standard phrases, but for Salesforce's 420 and the 413 phrase that Python 3.13 renamed.
_REASONS = {420: "Method Failure", 413: "Request Entity Too Large"}


class BodyEncodingError(Exception):
    """A request body in a content coding we do not know (415), that does not inflate (400), or that
    inflates to too much (413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- request side ---------------------------------------------------------------------------------
def decode_body(body: bytes, content_encoding: str) -> bytes:
    """The body without its content codings (`gzip`, `deflate`, `identity`), last applied first."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            body = _gunzip(body)
        elif coding == "deflate":
            body = _inflate(body)
        else:
            raise BodyEncodingError(
                415, f"Content-Encoding {coding} is not supported; send gzip, deflate or an uncompressed body"
            )
    return body


def _bounded(body: bytes, wbits: int) -> bytes:
    """Inflate every stream in `body`, refusing more than MAX_INFLATED_BYTES in all (a few KB can
    inflate to gigabytes). An empty body stays empty."""
    out = b""
    while body:
        stream = zlib.decompressobj(wbits)
        out += stream.decompress(body, MAX_INFLATED_BYTES + 1 - len(out))
        if len(out) > MAX_INFLATED_BYTES:
            raise BodyEncodingError(
                413, f"the request body inflates to more than {MAX_INFLATED_BYTES // (1024 * 1024)} MB"
            )
        if not stream.eof:
            raise zlib.error("the compressed data ends early")
        body = stream.unused_data
    return out


def _gunzip(body: bytes) -> bytes:
    try:
        return _bounded(body, 16 + zlib.MAX_WBITS)  # gzip members, one after another
    except zlib.error as exc:
        raise BodyEncodingError(400, f"the request body is not valid gzip: {exc}") from None


def _inflate(body: bytes) -> bytes:
    # HTTP's "deflate" is zlib-wrapped, but some clients send a raw deflate stream: take both.
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        try:
            return _bounded(body, wbits)
        except zlib.error:
            continue
    raise BodyEncodingError(400, "the request body is not valid deflate data")


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if key in environ:
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _request(environ: dict[str, Any]) -> Request:
    # REQUEST_URI is the raw target: handlers split and unquote paths themselves, as they always did.
    parts = urlsplit(str(environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")))
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    headers = _headers(environ)
    # wsgi.input ends where the body ends: at Content-Length, or at the last chunk of a chunked body.
    raw = environ["wsgi.input"].read()
    body = decode_body(raw, headers.get("content-encoding", ""))
    if body is not raw:
        headers.pop("content-encoding", None)
        headers["content-length"] = str(len(body))
    return Request(str(environ["REQUEST_METHOD"]), parts.path or "/", query, headers, body)


# -- response side --------------------------------------------------------------------------------
def _accepted_codings(accept_encoding: str) -> dict[str, float]:
    accepted: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if not name:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        accepted[name.strip().lower()] = quality
    return accepted


def response_coding(accept_encoding: str) -> str | None:
    """`gzip` or `deflate` if the client accepts it (gzip preferred), else None."""
    accepted = _accepted_codings(accept_encoding)
    for coding in ("gzip", "deflate"):
        quality = accepted.get(coding, accepted.get("*", 0.0) if coding == "gzip" else 0.0)
        if quality > 0:
            return coding
    return None


def encode_response(resp: Response, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    """Body and headers as sent: compressed when the client accepts it and the handler did not already."""
    headers = dict(resp.headers)
    body = resp.body
    coding = response_coding(accept_encoding) if body else None
    if coding is not None and not any(k.lower() == "content-encoding" for k in headers):
        # Level 1: on loopback the time to compress matters more than the bytes saved.
        body = gzip.compress(body, compresslevel=1) if coding == "gzip" else zlib.compress(body, 1)
        headers["Content-Encoding"] = coding
        headers["Vary"] = "Accept-Encoding"
    headers["Content-Length"] = str(len(body))
    return body, headers


def _status_line(status: int) -> str:
    known = status in HTTPStatus._value2member_map_
    return f"{status} {_REASONS.get(status) or (HTTPStatus(status).phrase if known else 'Unknown')}"


def wsgi_app(handler: Handler) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application around one port's handler."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            req = _request(environ)
        except BodyEncodingError as exc:
            resp = Response(exc.status, str(exc).encode(), {"Content-Type": "text/plain;charset=UTF-8"})
        else:
            try:
                resp = handler(req)
            except Exception:  # the handler wraps its own errors; this is the last resort
                traceback.print_exc()
                resp = Response(500, b"Internal Server Error", {"Content-Type": "text/plain"})
        if resp.reset:
            raise ResetConnection
        body, headers = encode_response(resp, str(environ.get("HTTP_ACCEPT_ENCODING", "")))
        start_response(_status_line(resp.status), list(headers.items()))
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    return app


class ResetConnection(Exception):  # noqa: N818 - a signal to the gateway, not an error
    """A handler answered with a TCP reset: the gateway drops the connection instead of answering."""


# -- server ---------------------------------------------------------------------------------------
class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, which can also drop a connection with a TCP reset."""

    def respond(self) -> None:
        try:
            super().respond()
        except ResetConnection:
            self._reset()

    def _reset(self) -> None:
        conn = self.req.conn
        # SO_LINGER with a zero timeout makes close() send RST: the client sees a connection reset.
        # `linger` tells cheroot the socket is gone: it must not shut it down (a FIN) or close it again.
        with contextlib.suppress(OSError):
            conn.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.socket.close()
        conn.linger = True
        self.req.close_connection = True


def origin_form(request_line: bytes) -> bytes:
    """The request line with a target starting `//` made `/...`.

    Clients join an instance URL ending in "/" with "/services/...": the Salesforce CLI does (Node's
    URL adds the slash to a bare host), so its deploys ask for `//services/Soap/m/<v>`, which
    Salesforce serves as the path. cheroot would read "services" as a host and refuse the request.
    """
    method, space, rest = request_line.partition(b" ")
    if not space or not rest.startswith(b"//"):
        return request_line
    return method + b" /" + rest.lstrip(b"/")


class _RequestLineReader:
    """The connection's reader, with the request line passed through `origin_form`."""

    def __init__(self, rfile: Any) -> None:
        self._rfile = rfile

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self._rfile.readline(size)
        return line if line in (b"", b"\r\n") else origin_form(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rfile, name)


class _Request(cheroot_server.HTTPRequest):
    def read_request_line(self) -> Any:
        reader = self.rfile
        self.rfile = _RequestLineReader(reader)  # only while the request line is read
        try:
            return super().read_request_line()
        finally:
            self.rfile = reader


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


class _QuietServer(wsgi.Server):
    """cheroot logs every dropped TLS handshake, and a port probe is one: keep the emulator log quiet."""

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        return


class TlsAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, serving with emulator.tls's context rather than one of its own.

    BuiltinSSLAdapter's constructor would build a second context and parse the certificate through
    a loopback handshake (60 ms of start-up) for WSGI environ entries no handler reads.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        Adapter.__init__(self, "", "")
        self.context = context

    def get_environ(self, sock: ssl.SSLSocket) -> dict[str, Any]:  # type: ignore[override]
        return {"wsgi.url_scheme": "https", "HTTPS": "on"}


class HttpsServer:
    """One HTTPS port. `bind()` listens (connections queue from then on); `start()` serves them."""

    def __init__(self, port: int, handler: Handler, adapter: TlsAdapter, name: str) -> None:
        self.name = name
        self._server = _QuietServer(
            ("127.0.0.1", port),
            wsgi_app(handler),
            numthreads=THREADS_PER_PORT,
            server_name="SFDC",
            request_queue_size=64,
            timeout=IDLE_TIMEOUT_S,
            shutdown_timeout=2,
        )
        self._server.gateway = _Gateway
        self._server.ConnectionClass = _Connection
        self._server.ssl_adapter = adapter
        # Clients pool their connections (a deploy opens several); cheroot's default keeps only 10.
        self._server.keep_alive_conn_limit = 1000
        self._thread: threading.Thread | None = None

    def bind(self) -> None:
        self._server.prepare()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve, name=f"https-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.stop()
