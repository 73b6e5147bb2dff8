"""SOAP envelopes of every shape real clients send, read by namespace: partner login and Metadata API.

Each envelope is written by hand the way a client library writes it (jsforce and so the Salesforce
CLI, zeep, JAX-WS, Savon, .NET, a bare default-namespace one), posted over real HTTPS with that
client's `SOAPAction` (empty, quoted, named, or none). simple-salesforce and zeep themselves are
driven by tests/emulator/test_metadata_api.py and tests/emulator/test_emulator_core.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from tests.emulator_fixtures import API_VERSION, EmulatorHandle

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
MD = "http://soap.sforce.com/2006/04/metadata"

# {u} and {p}: username and password. Each shape is one client's, as it writes it.
LOGIN_SHAPES = {
    # jsforce loginBySoap (and so the Salesforce CLI): `se:` prefix, empty Header, default namespace.
    "jsforce": (
        f'<se:Envelope xmlns:se="{SOAPENV}"><se:Header/><se:Body><login xmlns="{PARTNER}">'
        "<username>{u}</username><password>{p}</password></login></se:Body></se:Envelope>",
        '""',
    ),
    # simple-salesforce: `soapenv:` and `urn:` prefixes, CallOptions in the Header, SOAPAction login.
    "simple-salesforce": (
        '<?xml version="1.0" encoding="utf-8" ?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:urn="{PARTNER}"><soapenv:Header>'
        "<urn:CallOptions><urn:client>RestForce</urn:client><urn:defaultNamespace>sf</urn:defaultNamespace>"
        "</urn:CallOptions></soapenv:Header><soapenv:Body><urn:login><urn:username>{u}</urn:username>"
        "<urn:password>{p}</urn:password></urn:login></soapenv:Body></soapenv:Envelope>",
        "login",
    ),
    # JAX-WS: `S:` prefix, no Header at all, `ns2:` for the operation.
    "jax-ws": (
        f'<?xml version="1.0" ?><S:Envelope xmlns:S="{SOAPENV}"><S:Body><ns2:login xmlns:ns2="{PARTNER}">'
        "<ns2:username>{u}</ns2:username><ns2:password>{p}</ns2:password></ns2:login></S:Body></S:Envelope>",
        '""',
    ),
    # Savon (Ruby): `env:` prefix, `tns:` declared on the envelope, a quoted named SOAPAction.
    "savon": (
        f'<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{PARTNER}" '
        f'xmlns:env="{SOAPENV}"><env:Body><tns:login><tns:username>{{u}}</tns:username>'
        "<tns:password>{p}</tns:password></tns:login></env:Body></env:Envelope>",
        '"login"',
    ),
    # .NET: `soap:` prefix, pretty-printed with a comment, CallOptions in a default namespace,
    # SOAPAction empty.
    "dotnet": (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAPENV}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f'  <soap:Header>\n    <CallOptions xmlns="{PARTNER}"><client>dotnet</client></CallOptions>\n'
        "  </soap:Header>\n  <soap:Body>\n    <!-- the call -->\n"
        f'    <login xmlns="{PARTNER}">\n      <username>{{u}}</username>\n      <password>{{p}}</password>\n'
        "    </login>\n  </soap:Body>\n</soap:Envelope>",
        "",
    ),
    # No prefix anywhere: the envelope namespace is the default one, then the partner namespace.
    "default-namespace": (
        f'<Envelope xmlns="{SOAPENV}"><Header/><Body><login xmlns="{PARTNER}"><username>{{u}}</username>'
        "<password>{p}</password></login></Body></Envelope>",
        None,
    ),
}

# {sid}: the session. readMetadata of the seeded permission set.
READ_SHAPES = {
    # jsforce's metadata envelope (what the Salesforce CLI sends): Header and Body in a default namespace,
    # SessionHeader and CallOptions unprefixed.
    "jsforce": (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAPENV}" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<soapenv:Header xmlns="{MD}"><SessionHeader><sessionId>{{sid}}</sessionId></SessionHeader>'
        "<CallOptions><client>sfdx toolbelt:</client></CallOptions></soapenv:Header>"
        f'<soapenv:Body xmlns="{MD}"><readMetadata><type>PermissionSet</type>'
        "<fullNames>Orglink_Integration_Access</fullNames></readMetadata></soapenv:Body></soapenv:Envelope>",
        '""',
    ),
    # zeep (simple-salesforce's mdapi): `soap-env:` and `ns0:` prefixes.
    "zeep": (
        f'<soap-env:Envelope xmlns:soap-env="{SOAPENV}"><soap-env:Header><ns0:SessionHeader xmlns:ns0="{MD}">'
        "<ns0:sessionId>{sid}</ns0:sessionId></ns0:SessionHeader></soap-env:Header><soap-env:Body>"
        f'<ns0:readMetadata xmlns:ns0="{MD}"><ns0:type>PermissionSet</ns0:type>'
        "<ns0:fullNames>Orglink_Integration_Access</ns0:fullNames></ns0:readMetadata></soap-env:Body>"
        "</soap-env:Envelope>",
        '""',
    ),
    # JAX-WS: `S:` prefix, the session's whitespace kept around it.
    "jax-ws": (
        f'<S:Envelope xmlns:S="{SOAPENV}"><S:Header><SessionHeader xmlns="{MD}"><sessionId>\n  {{sid}}\n'
        f'</sessionId></SessionHeader></S:Header><S:Body><readMetadata xmlns="{MD}">'
        "<type>PermissionSet</type><fullNames>Orglink_Integration_Access</fullNames></readMetadata>"
        "</S:Body></S:Envelope>",
        None,
    ),
    # No prefix on the envelope; the metadata elements under a prefix declared on the root.
    "default-namespace": (
        f'<Envelope xmlns="{SOAPENV}" xmlns:m="{MD}"><Header><m:SessionHeader><m:sessionId>{{sid}}'
        "</m:sessionId></m:SessionHeader></Header><Body><!-- a comment first --><m:readMetadata>"
        "<m:type>PermissionSet</m:type><m:fullNames>Orglink_Integration_Access</m:fullNames>"
        "</m:readMetadata></Body></Envelope>",
        "Required",
    ),
}


@pytest.fixture(autouse=True, scope="module")
def _soap_login_enabled(emulator: EmulatorHandle) -> Iterator[None]:
    """These tests log in with SOAP login(), which an established org enables (new orgs do not)."""
    with emulator.soap_login_enabled():
        yield


def _post(url: str, body: str, soap_action: str | None, ca_bundle: str) -> requests.Response:
    headers = {"Content-Type": "text/xml; charset=UTF-8"}
    if soap_action is not None:
        headers["SOAPAction"] = soap_action
    return requests.post(url, data=body.encode(), headers=headers, verify=ca_bundle)


def _login(emulator: EmulatorHandle, alias: str, shape: str) -> requests.Response:
    template, action = LOGIN_SHAPES[shape]
    return _post_login(emulator, alias, template, action)


def _post_login(emulator: EmulatorHandle, alias: str, template: str, action: str | None) -> requests.Response:
    """Post a login envelope, its {u} and {p} filled with the org admin's username and password."""
    org = emulator.orgs[alias]
    body = template.replace("{u}", org["admin_username"]).replace("{p}", org["admin_password"])
    return _post(org["login_url"] + f"/services/Soap/u/{API_VERSION}", body, action, emulator.ca_bundle)


def _metadata(
    emulator: EmulatorHandle, alias: str, body: str, action: str | None = '""'
) -> requests.Response:
    url = emulator.orgs[alias]["instance_url"] + f"/services/Soap/m/{API_VERSION}"
    return _post(url, body, action, emulator.ca_bundle)


def _fault_code(resp: requests.Response) -> str:
    found = re.search(r"<faultcode>([^<]+)</faultcode>", resp.text)
    assert resp.status_code == 500 and found, resp.text[:500]
    return found.group(1)


@pytest.mark.parametrize("shape", sorted(LOGIN_SHAPES))
def test_partner_login_in_every_client_shape(emulator: EmulatorHandle, shape: str) -> None:
    resp = _login(emulator, "orgA", shape)
    assert resp.status_code == 200, resp.text
    assert re.search(r"<sessionId>[^<]+</sessionId>", resp.text)
    assert f"<organizationId>{emulator.orgs['orgA']['org_id']}</organizationId>" in resp.text


def test_login_in_another_namespace_is_not_a_partner_login(emulator: EmulatorHandle) -> None:
    body = (
        f'<se:Envelope xmlns:se="{SOAPENV}"><se:Body><login xmlns="urn:enterprise.soap.sforce.com">'
        "<username>{u}</username><password>{p}</password></login></se:Body></se:Envelope>"
    )
    resp = _post_login(emulator, "orgA", body, '""')
    assert _fault_code(resp) == "sf:UNKNOWN_EXCEPTION"
    assert "Element {urn:enterprise.soap.sforce.com}login invalid at this location" in resp.text


def test_a_login_element_outside_the_body_is_not_read(emulator: EmulatorHandle) -> None:
    body = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}"><soapenv:Header><login xmlns="{PARTNER}">'
        "<username>{u}</username><password>{p}</password></login>"
        "</soapenv:Header><soapenv:Body/></soapenv:Envelope>"
    )
    resp = _post_login(emulator, "orgA", body, '""')
    assert _fault_code(resp) == "sf:UNKNOWN_EXCEPTION"


@pytest.mark.parametrize("shape", sorted(READ_SHAPES))
def test_metadata_call_in_every_client_shape(emulator: EmulatorHandle, sf_login, shape: str) -> None:
    sid = sf_login("orgA").session_id
    template, action = READ_SHAPES[shape]
    emulator.admin.mark("orgA")
    resp = _metadata(emulator, "orgA", template.replace("{sid}", sid), action)
    assert resp.status_code == 200, resp.text
    assert "<readMetadataResponse" in resp.text
    assert "<fullName>Orglink_Integration_Access</fullName>" in resp.text
    counts = emulator.admin.counters("orgA")
    assert counts["metadata.read"] == 1 and counts["metadata.write"] == 0


def _read_with_header(header: str) -> str:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:md="{MD}">{header}<soapenv:Body>'
        "<md:readMetadata><md:type>PermissionSet</md:type><md:fullNames>Orglink_Integration_Access"
        "</md:fullNames></md:readMetadata></soapenv:Body></soapenv:Envelope>"
    )


@pytest.mark.parametrize(
    "header",
    [
        "",  # no Header
        "<soapenv:Header/>",  # an empty one
        "<soapenv:Header><md:CallOptions><md:client>x</md:client></md:CallOptions></soapenv:Header>",
        # The partner WSDL's SessionHeader is another element than the metadata WSDL's.
        f'<soapenv:Header><p:SessionHeader xmlns:p="{PARTNER}"><p:sessionId>{{sid}}</p:sessionId>'
        "</p:SessionHeader></soapenv:Header>",
        # A sessionId outside a SessionHeader is no session either.
        "<soapenv:Header><md:sessionId>{sid}</md:sessionId></soapenv:Header>",
    ],
    ids=["no-header", "empty-header", "call-options-only", "partner-session-header", "bare-session-id"],
)
def test_metadata_call_without_a_metadata_session_header(
    emulator: EmulatorHandle, sf_login, header: str
) -> None:
    sid = sf_login("orgA").session_id
    resp = _metadata(emulator, "orgA", _read_with_header(header.replace("{sid}", sid)))
    assert _fault_code(resp) == "sf:INVALID_SESSION_ID"


def test_a_validate_only_deploy_counts_as_a_read_whatever_the_prefixes(
    emulator: EmulatorHandle, sf_login
) -> None:
    sid = sf_login("orgA").session_id
    body = (
        f'<Envelope xmlns="{SOAPENV}"><Header><SessionHeader xmlns="{MD}"><sessionId>{sid}</sessionId>'
        f'</SessionHeader></Header><Body><deploy xmlns="{MD}">'
        "<ZipFile>UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==</ZipFile>"
        "<DeployOptions><checkOnly>true</checkOnly></DeployOptions></deploy></Body></Envelope>"
    )
    emulator.admin.mark("orgA")
    resp = _metadata(emulator, "orgA", body)
    assert resp.status_code == 200, resp.text
    assert "<deployResponse" in resp.text
    counts = emulator.admin.counters("orgA")
    assert counts["metadata.read"] == 1 and counts["metadata.write"] == 0


def test_soap_1_2_is_a_version_mismatch(emulator: EmulatorHandle) -> None:
    body = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
        f'<login xmlns="{PARTNER}"><username>a</username><password>b</password></login>'
        "</env:Body></env:Envelope>"
    )
    assert _fault_code(_metadata(emulator, "orgA", body)) == "soapenv:VersionMismatch"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<readMetadata/>", "The request root must be"),
        (f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}"><soapenv:Header/></soapenv:Envelope>', "has no Body"),
        (
            f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}"><soapenv:Header><SessionHeader xmlns="{MD}">'
            "<sessionId>{sid}</sessionId></SessionHeader></soapenv:Header><soapenv:Body/></soapenv:Envelope>",
            "no operation",
        ),
        ("<soapenv:Envelope>", "Could not parse the SOAP request"),
    ],
    ids=["not-an-envelope", "no-body", "empty-body", "not-xml"],
)
def test_requests_that_are_not_envelopes_are_client_faults(
    emulator: EmulatorHandle, sf_login, body: str, message: str
) -> None:
    resp = _metadata(emulator, "orgA", body.replace("{sid}", sf_login("orgA").session_id))
    assert _fault_code(resp) == "soapenv:Client"
    assert message in resp.text
