"""HTTP/1.1 as real clients speak it, over real HTTPS: chunked bodies, keep-alive, 100-continue, gzip.

The Salesforce CLI (Node's fetch) sends chunked request bodies; curl and Java clients send
`Expect: 100-continue` before large bodies; every HTTP client library keeps connections alive and
asks for gzip. Each test drives one of these against an org port and checks the API answered.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
import ssl
import zlib
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
import requests

from tests.emulator_fixtures import API_VERSION, EmulatorHandle, org_setting

PARTNER_LOGIN = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Body><urn:login>'
    "<urn:username>{username}</urn:username><urn:password>{password}</urn:password>"
    "</urn:login></soapenv:Body></soapenv:Envelope>"
)
READ_PERMISSION_SET = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:md="http://soap.sforce.com/2006/04/metadata">'
    "<soapenv:Header><md:SessionHeader><md:sessionId>{sid}</md:sessionId></md:SessionHeader>"
    "</soapenv:Header><soapenv:Body><md:readMetadata><md:type>PermissionSet</md:type>"
    "<md:fullNames>Orglink_Integration_Access</md:fullNames></md:readMetadata></soapenv:Body>"
    "</soapenv:Envelope>"
)
SOAP_HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}


@pytest.fixture(autouse=True, scope="module")
def _soap_login_enabled(emulator: EmulatorHandle) -> Iterator[None]:
    """These tests log in with SOAP login(), which an established org enables (new orgs do not)."""
    with emulator.soap_login_enabled():
        yield


def _login_body(emulator: EmulatorHandle, alias: str = "orgA") -> bytes:
    org = emulator.orgs[alias]
    return PARTNER_LOGIN.format(username=org["admin_username"], password=org["admin_password"]).encode()


def _session_id(soap_response: str) -> str:
    found = re.search(r"<sessionId>([^<]+)</sessionId>", soap_response)
    assert found, soap_response[:500]
    return found.group(1)


def _pieces(data: bytes, size: int = 7) -> Iterator[bytes]:
    """A generator body: requests sends it with Transfer-Encoding: chunked, one chunk per piece."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _connection(emulator: EmulatorHandle, alias: str = "orgA") -> http.client.HTTPSConnection:
    url = urlsplit(emulator.orgs[alias]["instance_url"])
    context = ssl.create_default_context(cafile=emulator.ca_bundle)
    return http.client.HTTPSConnection(url.hostname or "", url.port, context=context, timeout=10)


def _login_path() -> str:
    return f"/services/Soap/u/{API_VERSION}"


# -- chunked request bodies ----------------------------------------------------------------------
def test_chunked_soap_login(emulator: EmulatorHandle) -> None:
    resp = requests.post(
        emulator.orgs["orgA"]["login_url"] + _login_path(),
        data=_pieces(_login_body(emulator)),
        headers=SOAP_HEADERS,
        verify=emulator.ca_bundle,
    )
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in resp.request.headers
    assert resp.status_code == 200, resp.text
    assert _session_id(resp.text)


def test_chunked_metadata_call(emulator: EmulatorHandle, sf_login) -> None:
    sf = sf_login("orgA")
    body = READ_PERMISSION_SET.format(sid=sf.session_id).encode()
    resp = requests.post(
        emulator.orgs["orgA"]["instance_url"] + f"/services/Soap/m/{API_VERSION}",
        data=_pieces(body, 64),
        headers=SOAP_HEADERS,
        verify=emulator.ca_bundle,
    )
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert resp.status_code == 200, resp.text
    assert "<fullName>Orglink_Integration_Access</fullName>" in resp.text


def test_chunked_oauth_token_request(emulator: EmulatorHandle, connected_app) -> None:
    app = connected_app("orgB")
    org = emulator.orgs["orgB"]
    form = (
        f"grant_type=password&client_id={quote(app.consumer_key)}&client_secret={quote(app.consumer_secret)}"
        f"&username={quote(org['admin_username'])}&password={quote(org['admin_password'])}"
    ).encode()
    with org_setting(emulator.admin, "orgB", "oauth-username-password-enabled", True):
        resp = requests.post(
            org["token_url"],
            data=_pieces(form, 16),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            verify=emulator.ca_bundle,
        )
        assert resp.request.headers.get("Transfer-Encoding") == "chunked"
        assert resp.status_code == 200, resp.text
        assert resp.json()["instance_url"] == org["instance_url"]


# -- keep-alive ----------------------------------------------------------------------------------
def test_several_requests_share_one_connection(emulator: EmulatorHandle) -> None:
    conn = _connection(emulator)
    try:
        conn.request("POST", _login_path(), body=_login_body(emulator), headers=SOAP_HEADERS)
        resp = conn.getresponse()
        sid = _session_id(resp.read().decode())
        assert resp.status == 200 and resp.getheader("Connection") != "close"
        sock = conn.sock
        assert sock is not None
        local = sock.getsockname()
        soql = quote("SELECT Id, Name FROM Profile")
        for _ in range(3):
            conn.request(
                "GET",
                f"/services/data/v{API_VERSION}/query?q={soql}",
                headers={"Authorization": f"Bearer {sid}"},
            )
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["totalSize"] == 3
        conn.request(
            "POST",
            f"/services/Soap/m/{API_VERSION}",
            body=READ_PERMISSION_SET.format(sid=sid),
            headers=SOAP_HEADERS,
        )
        resp = conn.getresponse()
        assert resp.status == 200 and b"Orglink_Integration_Access" in resp.read()
        # http.client opens a new socket when the server closes one; the same socket means keep-alive.
        assert conn.sock is sock and sock.getsockname() == local
    finally:
        conn.close()


def test_a_target_starting_with_two_slashes_is_served_as_the_path(emulator: EmulatorHandle) -> None:
    """The Salesforce CLI joins its instance URL (stored with a trailing "/") with "/services/...":
    its deploys ask for `//services/Soap/m/<v>`, which Salesforce answers as `/services/Soap/m/<v>`."""
    conn = _connection(emulator)
    try:
        answers = []
        for path in ("/services/data/", "//services/data/"):
            conn.request("GET", path)
            resp = conn.getresponse()
            answers.append((resp.status, json.loads(resp.read())))
        assert answers[0][0] == 200 and answers[1] == answers[0]
    finally:
        conn.close()


# -- Expect: 100-continue ------------------------------------------------------------------------
def _read_head(sock: ssl.SSLSocket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, f"connection closed after {head!r}"
        head += chunk
    return head


def test_expect_100_continue_gets_the_interim_response_before_the_body(emulator: EmulatorHandle) -> None:
    body = _login_body(emulator)
    conn = _connection(emulator)
    try:
        conn.putrequest("POST", _login_path())
        headers = {**SOAP_HEADERS, "Content-Length": str(len(body)), "Expect": "100-continue"}
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()  # headers only: the body waits for the server's go-ahead
        assert isinstance(conn.sock, ssl.SSLSocket)
        interim = _read_head(conn.sock)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.send(body)
        resp = conn.getresponse()
        assert resp.status == 200
        assert _session_id(resp.read().decode())
    finally:
        conn.close()


# -- compressed request bodies -------------------------------------------------------------------
def test_gzip_request_bodies(emulator: EmulatorHandle, sf_login) -> None:
    org = emulator.orgs["orgA"]
    resp = requests.post(
        org["login_url"] + _login_path(),
        data=gzip.compress(_login_body(emulator)),
        headers={**SOAP_HEADERS, "Content-Encoding": "gzip"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 200, resp.text
    sid = _session_id(resp.text)
    resp = requests.post(
        org["instance_url"] + f"/services/Soap/m/{API_VERSION}",
        data=gzip.compress(READ_PERMISSION_SET.format(sid=sid).encode()),
        headers={**SOAP_HEADERS, "Content-Encoding": "gzip"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 200 and "Orglink_Integration_Access" in resp.text


def test_gzip_and_chunked_together(emulator: EmulatorHandle) -> None:
    resp = requests.post(
        emulator.orgs["orgB"]["login_url"] + _login_path(),
        data=_pieces(gzip.compress(_login_body(emulator, "orgB")), 10),
        headers={**SOAP_HEADERS, "Content-Encoding": "gzip"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 200 and _session_id(resp.text)


def test_deflate_request_body(emulator: EmulatorHandle) -> None:
    resp = requests.post(
        emulator.orgs["orgA"]["login_url"] + _login_path(),
        data=zlib.compress(_login_body(emulator)),
        headers={**SOAP_HEADERS, "Content-Encoding": "deflate"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 200 and _session_id(resp.text)


def test_unknown_or_broken_content_encoding_is_refused(emulator: EmulatorHandle) -> None:
    url = emulator.orgs["orgA"]["login_url"] + _login_path()
    resp = requests.post(
        url,
        data=_login_body(emulator),
        headers={**SOAP_HEADERS, "Content-Encoding": "br"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 415 and "Content-Encoding br is not supported" in resp.text
    resp = requests.post(
        url,
        data=b"not gzip at all",
        headers={**SOAP_HEADERS, "Content-Encoding": "gzip"},
        verify=emulator.ca_bundle,
    )
    assert resp.status_code == 400 and "not valid gzip" in resp.text


def test_a_body_that_inflates_too_far_is_refused(emulator: EmulatorHandle) -> None:
    # 64 KB on the wire, over 64 MB inflated: refused before any handler sees it.
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024 + 1), compresslevel=9)
    resp = requests.post(
        emulator.orgs["orgA"]["login_url"] + _login_path(),
        data=bomb,
        headers={**SOAP_HEADERS, "Content-Encoding": "gzip"},
        verify=emulator.ca_bundle,
    )
    assert len(bomb) < 100_000
    assert resp.status_code == 413 and "inflates to more than 64 MB" in resp.text


# -- compressed responses ------------------------------------------------------------------------
def _query(emulator: EmulatorHandle, sid: str, accept_encoding: str | None) -> http.client.HTTPResponse:
    conn = _connection(emulator)
    headers = {"Authorization": f"Bearer {sid}"}
    if accept_encoding is not None:
        headers["Accept-Encoding"] = accept_encoding
    soql = quote("SELECT Id FROM Profile")
    conn.request("GET", f"/services/data/v{API_VERSION}/query?q={soql}", headers=headers)
    return conn.getresponse()


def test_gzip_response_when_the_client_accepts_it(emulator: EmulatorHandle, sf_login) -> None:
    sid = sf_login("orgA").session_id
    resp = _query(emulator, sid, "gzip, deflate")
    raw = resp.read()
    assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip"
    assert resp.getheader("Content-Length") == str(len(raw))
    assert json.loads(gzip.decompress(raw))["totalSize"] == 3


def test_deflate_response_when_only_deflate_is_accepted(emulator: EmulatorHandle, sf_login) -> None:
    sid = sf_login("orgA").session_id
    resp = _query(emulator, sid, "deflate")
    assert resp.getheader("Content-Encoding") == "deflate"
    assert json.loads(zlib.decompress(resp.read()))["totalSize"] == 3


def test_plain_response_without_accept_encoding_or_with_q0(emulator: EmulatorHandle, sf_login) -> None:
    sid = sf_login("orgA").session_id
    for accept in (None, "identity", "gzip;q=0"):
        resp = _query(emulator, sid, accept)
        assert resp.getheader("Content-Encoding") is None, accept
        assert json.loads(resp.read())["totalSize"] == 3


def test_soap_responses_are_compressed_too(emulator: EmulatorHandle) -> None:
    # requests asks for gzip by default; it inflates the body and keeps the header.
    resp = requests.post(
        emulator.orgs["orgA"]["login_url"] + _login_path(),
        data=_login_body(emulator),
        headers=SOAP_HEADERS,
        verify=emulator.ca_bundle,
    )
    assert resp.headers.get("Content-Encoding") == "gzip"
    assert _session_id(resp.text)
