"""The Metadata API schema, taken from the WSDL simple-salesforce ships, and XML <-> dict mapping.

The WSDL (`simple_salesforce/metadata.wsdl`, API 63.0) is the authority for element names, order,
cardinality and enum values. It is loaded once per process with zeep (about 0.6 s) and kept at module
level; `preload()` lets the server pay that cost at start-up in a background thread instead of on
the first request. zeep drops enumeration facets, so the enum values are read from the same file
with lxml in one pass.

Components are plain dicts (the store contract of docs/design.md): WSDL element names, nested dicts
for complex elements, lists for repeated elements, bool for xsd:boolean, int for xsd:int/long, str
for everything else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import simple_salesforce
import zeep
from lxml import etree

MD_NS = "http://soap.sforce.com/2006/04/metadata"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI_NS}}}type"
XSI_NIL = f"{{{XSI_NS}}}nil"
WSDL_PATH = Path(simple_salesforce.__file__).parent / "metadata.wsdl"

_INT_TYPES = {"int", "long", "short", "integer"}


class SchemaViolation(Exception):
    """The request does not match the WSDL; Salesforce answers these with a SOAP fault.

    `code` is the fault code: `INVALID_FIELD` style codes become `sf:<code>`, `Client` becomes
    `soapenv:Client` (what Salesforce uses for values its XML parser rejects, such as bad enums).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Field:
    """One element of a complex type, as the WSDL declares it."""

    name: str
    type_name: str  # local name: an xsd builtin ("string", "boolean", ...), enum or complex type
    kind: str  # "string" | "boolean" | "int" | "enum" | "complex"
    required: bool  # minOccurs >= 1
    repeated: bool  # maxOccurs > 1 or unbounded


class Schema:
    """Per-type field tables built lazily from the zeep model and cached (requests stay cheap)."""

    def __init__(self, client: zeep.Client, enums: dict[str, tuple[str, ...]]) -> None:
        self._client = client
        self.enums = enums
        self._fields: dict[str, dict[str, Field] | None] = {}
        self._lock = threading.Lock()

    def fields(self, type_name: str) -> dict[str, Field] | None:
        """Ordered fields of a complex type in the metadata namespace, None if there is no such type."""
        if type_name in self._fields:
            return self._fields[type_name]
        with self._lock:
            built = self._build(type_name)
            self._fields[type_name] = built
        return built

    def _build(self, type_name: str) -> dict[str, Field] | None:
        try:
            ztype = self._client.get_type(f"{{{MD_NS}}}{type_name}")
        except (LookupError, zeep.exceptions.LookupError):
            return None
        if not isinstance(ztype, zeep.xsd.ComplexType):
            return None
        out: dict[str, Field] = {}
        for name, element in ztype.elements:
            out[name] = Field(
                name=name,
                type_name=_type_local_name(element.type),
                kind=self._kind(element.type),
                required=bool(element.min_occurs) and element.min_occurs >= 1,
                repeated=element.max_occurs == "unbounded" or int(element.max_occurs) > 1,
            )
        return out

    def _kind(self, ztype: Any) -> str:
        if isinstance(ztype, zeep.xsd.ComplexType):
            return "complex"
        local = _type_local_name(ztype)
        if local in self.enums:
            return "enum"
        if local == "boolean":
            return "boolean"
        if local in _INT_TYPES:
            return "int"
        return "string"

    def is_metadata_type(self, type_name: str) -> bool:
        """True for a concrete component type (one that extends Metadata, so it has fullName)."""
        fields = self.fields(type_name)
        return fields is not None and "fullName" in fields


def _type_local_name(ztype: Any) -> str:
    qname = getattr(ztype, "qname", None)
    if qname is not None:
        return str(qname.localname)
    return str(getattr(ztype, "name", "string"))


def _read_enums(path: Path) -> dict[str, tuple[str, ...]]:
    """Named simple types with enumeration facets: {type name: allowed values}."""
    tree = etree.parse(str(path))
    out: dict[str, tuple[str, ...]] = {}
    for simple in tree.iter(f"{{{XSD_NS}}}simpleType"):
        name = simple.get("name")
        if not name:
            continue
        values = tuple(e.get("value") for e in simple.iter(f"{{{XSD_NS}}}enumeration"))
        if values:
            out[name] = values
    return out


_schema: Schema | None = None
_schema_lock = threading.Lock()


def schema() -> Schema:
    """The process-wide schema; the first caller loads the WSDL, everybody else waits for it."""
    global _schema
    if _schema is None:
        with _schema_lock:
            if _schema is None:
                client = zeep.Client(str(WSDL_PATH), settings=zeep.Settings(strict=False))
                _schema = Schema(client, _read_enums(WSDL_PATH))
    return _schema


def preload() -> threading.Thread:
    """Start loading the schema in a daemon thread (call at server start-up)."""
    thread = threading.Thread(target=schema, name="metadata-wsdl-loader", daemon=True)
    thread.start()
    return thread


# -- decoding ------------------------------------------------------------------------------------


def local_name(element: Any) -> tuple[str | None, str]:
    """(namespace, local name) of an lxml element."""
    qname = etree.QName(element)
    return qname.namespace, qname.localname


def resolve_xsi_type(element: Any) -> str | None:
    """Local name of the element's xsi:type in the metadata namespace.

    The value is a QName whose prefix is declared on the element or a parent; it is resolved
    through the in-scope namespace declarations, never by matching the prefix text.
    """
    raw = element.get(XSI_TYPE)
    if raw is None:
        return None
    prefix, _, local = raw.rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if namespace != MD_NS:
        raise SchemaViolation(
            "INVALID_TYPE", f"Unknown type {{{namespace or ''}}}{local} in xsi:type '{raw}'"
        )
    return local


def decode(element: Any, type_name: str) -> dict[str, Any]:
    """Decode the children of `element` as `type_name`, validating names and enum values."""
    sch = schema()
    fields = sch.fields(type_name)
    if fields is None:
        raise SchemaViolation("INVALID_TYPE", f"Unknown type name '{type_name}'")
    out: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        namespace, name = local_name(child)
        field = fields.get(name)
        if field is None or namespace != MD_NS:
            raise SchemaViolation(
                "INVALID_FIELD",
                f"Element {{{namespace or ''}}}{name} invalid at this location in type {type_name}",
            )
        value = _decode_value(child, field)
        if field.repeated:
            # An empty repeated element (e.g. <profileName/>) is how clients clear a list.
            if value not in (None, ""):
                out.setdefault(name, []).append(value)
            else:
                out.setdefault(name, [])
        elif value is not None:
            out[name] = value
    return out


def _decode_value(child: Any, field: Field) -> Any:
    if child.get(XSI_NIL) in ("true", "1"):
        return None
    if field.kind == "complex":
        nested_type = resolve_xsi_type(child) or field.type_name
        return decode(child, nested_type)
    text = child.text or ""
    if field.kind == "boolean":
        if text.strip() in ("true", "1"):
            return True
        if text.strip() in ("false", "0"):
            return False
        raise SchemaViolation("Client", f"'{text}' is not a valid value for the type xsd:boolean")
    if field.kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise SchemaViolation("Client", f"'{text}' is not a valid value for the type xsd:int") from None
    if field.kind == "enum" and text not in schema().enums[field.type_name]:
        raise SchemaViolation("Client", f"'{text}' is not a valid value for the enum '{field.type_name}'")
    return text


def first_missing_required(body: dict[str, Any], type_name: str) -> str | None:
    """Name of the first required field (WSDL minOccurs=1) that is absent, searching nested types."""
    fields = schema().fields(type_name) or {}
    for field in fields.values():
        value = body.get(field.name)
        if field.required and value in (None, "", []):
            return field.name
        if field.kind != "complex" or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            missing = first_missing_required(item, field.type_name)
            if missing:
                return missing
    return None


# -- encoding ------------------------------------------------------------------------------------


def encode(body: dict[str, Any], type_name: str) -> str:
    """Children of `body` as XML in WSDL order (default namespace); keys the WSDL lacks are skipped."""
    fields = schema().fields(type_name) or {}
    parts: list[str] = []
    for field in fields.values():
        value = body.get(field.name)
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            parts.append(_encode_item(field, item))
    return "".join(parts)


def _encode_item(field: Field, item: Any) -> str:
    if field.kind == "complex":
        return f"<{field.name}>{encode(item, field.type_name)}</{field.name}>"
    text = ("true" if item else "false") if isinstance(item, bool) else escape(str(item))
    return f"<{field.name}>{text}</{field.name}>"
