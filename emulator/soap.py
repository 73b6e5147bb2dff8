"""SOAP 1.1 envelopes in and out, shared by the partner login and the Metadata API.

Requests are read by namespace, never by text: clients use any prefix (`soapenv:`, `soap:`, `env:`,
`S:`) or a default namespace, send a `Header` with or without `SessionHeader`/`CallOptions` (or an
empty one, or none), and put the operation element in a default namespace or under a prefix.
`SOAPAction` is not read: clients send it empty, quoted, named or not at all.

simple-salesforce parses login faults with minidom and expects the detail children prefixed `sf:`;
zeep maps a `soapenv:Fault` to `zeep.exceptions.Fault`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
PARTNER_NS = "urn:partner.soap.sforce.com"
PARTNER_FAULT_NS = "urn:fault.partner.soap.sforce.com"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
# No entities, no network, no unbounded text: request bodies come from anyone who can reach the port.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


class EnvelopeError(Exception):
    """A request body that is not a SOAP 1.1 envelope; `code` is the SOAP fault code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Envelope:
    """A parsed request: its Header (if any) and the first element of its Body (if any), as lxml elements."""

    header: Any | None
    operation: Any | None

    def header_text(self, namespace: str, block: str, name: str) -> str | None:
        """Text of `<block><name>` in the Header, both in `namespace` (e.g. SessionHeader/sessionId)."""
        if self.header is None:
            return None
        found = self.header.find(f"{{{namespace}}}{block}/{{{namespace}}}{name}")
        return None if found is None else (found.text or "")

    def operation_name(self) -> tuple[str | None, str] | None:
        """(namespace, local name) of the operation element, or None when the Body is empty."""
        if self.operation is None:
            return None
        qname = etree.QName(self.operation)
        return qname.namespace, qname.localname


def _elements(parent: Any) -> list[Any]:
    return [child for child in parent if isinstance(child.tag, str)]  # not comments or PIs


def parse_envelope(body: bytes) -> Envelope:
    """Read a SOAP 1.1 request by namespace; raise EnvelopeError (fault code, message) otherwise."""
    try:
        root = etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError as exc:
        raise EnvelopeError("Client", f"Could not parse the SOAP request: {exc}") from None
    if root.tag == f"{{{SOAP12_NS}}}Envelope":
        raise EnvelopeError("VersionMismatch", "SOAP 1.2 is not supported: send a SOAP 1.1 envelope")
    if root.tag != f"{{{SOAPENV_NS}}}Envelope":
        raise EnvelopeError("Client", f"The request root must be {{{SOAPENV_NS}}}Envelope, not {root.tag}")
    header = body_element = None
    for child in _elements(root):
        if child.tag == f"{{{SOAPENV_NS}}}Header" and header is None and body_element is None:
            header = child
        elif child.tag == f"{{{SOAPENV_NS}}}Body" and body_element is None:
            body_element = child
    if body_element is None:
        raise EnvelopeError("Client", "The SOAP request has no Body")
    operations = _elements(body_element)
    return Envelope(header, operations[0] if operations else None)


def xml_text(value: object) -> str:
    """Escape a value for element text; bools are lowercase as in xsd:boolean."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def envelope(body_xml: str, header_xml: str = "") -> bytes:
    """Wrap body (and optional header) XML in a SOAP 1.1 envelope."""
    header = f"<soapenv:Header>{header_xml}</soapenv:Header>" if header_xml else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV_NS}" xmlns:xsi="{XSI_NS}" xmlns:xsd="{XSD_NS}">'
        f"{header}<soapenv:Body>{body_xml}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def soap_fault(
    code: str, message: str, fault_ns: str = PARTNER_FAULT_NS, detail_type: str | None = None
) -> bytes:
    """A SOAP fault as Salesforce sends it (HTTP 500): faultcode `sf:<code>`, detail with sf: children.

    `detail_type` is the detail element name, e.g. `LoginFault` for a failed login or
    `UnexpectedErrorFault`; it defaults to `UnexpectedErrorFault` (what INVALID_SESSION_ID uses).
    """
    dtype = detail_type or ("LoginFault" if code == "INVALID_LOGIN" else "UnexpectedErrorFault")
    msg = xml_text(message)
    body = (
        f'<soapenv:Fault xmlns:sf="{fault_ns}">'
        f"<faultcode>sf:{xml_text(code)}</faultcode>"
        f"<faultstring>{xml_text(code)}: {msg}</faultstring>"
        f'<detail><sf:{dtype} xsi:type="sf:{dtype}">'
        f"<sf:exceptionCode>{xml_text(code)}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{msg}</sf:exceptionMessage>"
        f"</sf:{dtype}></detail></soapenv:Fault>"
    )
    return envelope(body)


def metadata_fault(code: str, message: str) -> bytes:
    """A fault from the Metadata API endpoint (fault namespace of the metadata WSDL)."""
    return soap_fault(code, message, fault_ns="http://soap.sforce.com/2006/04/metadata")


def client_fault(message: str, code: str = "Client") -> bytes:
    """A fault with a SOAP code (`soapenv:Client`, `soapenv:VersionMismatch`), for requests the
    SOAP layer rejects before any Salesforce code runs."""
    return envelope(
        f"<soapenv:Fault><faultcode>soapenv:{xml_text(code)}</faultcode>"
        f"<faultstring>{xml_text(message)}</faultstring></soapenv:Fault>"
    )
