"""Small helpers for SOAP 1.1 envelopes and faults, shared by the partner login and Metadata API.

simple-salesforce parses login faults with minidom and expects the detail children prefixed `sf:`
(reference section 9); zeep maps a `soapenv:Fault` to `zeep.exceptions.Fault`.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
PARTNER_NS = "urn:partner.soap.sforce.com"
PARTNER_FAULT_NS = "urn:fault.partner.soap.sforce.com"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"


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
