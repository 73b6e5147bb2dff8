"""Metadata API SOAP endpoint (`POST /services/Soap/m/<ver>/`) of an emulated org.

The server validates the session and calls `handle_metadata_request`, which answers the CRUD calls
(createMetadata, readMetadata, updateMetadata, upsertMetadata, deleteMetadata, renameMetadata),
listMetadata and describeValueType for the types in `TYPES` and `SETTINGS`, the file-based
`deploy` / `checkDeployStatus` (emulator/deploy.py: a zip of the same types, saved as upsertMetadata
saves them and deleted as deleteMetadata deletes them; `checkOnly` validates and stores nothing),
and `retrieve` / `checkRetrieveStatus` / `describeMetadata` (emulator/retrieve.py: what readMetadata
reads, as files).

Each component type's own rules (checks, generated fields, side effects, read-back) live in its
family's module under emulator/metadata/ (connected_app, eca, certificate, credentials, built on
metadata.base); this module joins their `RULES` tables into `TYPES` and runs the calls on them.

Behaviour (docs/emulator-fidelity.md lists each rule with its source):
- requests are decoded against the WSDL (metadata_schema): an unknown element is a fault
  `sf:INVALID_FIELD`; a bad enum value is a `soapenv:Client` fault "'X' is not a valid value for the
  enum 'Y'" (Salesforce rejects both while parsing, before any component is looked at);
- every other problem is a per-component error in the SaveResult / UpsertResult / DeleteResult;
- update replaces the whole component; write-only fields (consumer secrets, a certificate's
  private key) stay in the store and are never read back;
- consumer keys and secrets are create-only: sent for an existing app (update, upsert, deploy),
  even unchanged, they are refused;
- at most 10 components per call.

Decisions where Salesforce's behaviour is not documented (keep them easy to change):
- Non-WSDL keys of a stored component (`privateKey`, `_audit`) are internal: carried over on
  update, never encoded in a response.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator import metadata_schema as ms
from emulator.metadata import certificate, connected_app, credentials, eca
from emulator.metadata.base import (
    Body,
    Call,
    ComponentError,
    TypeRules,
    audit_stamp,
    not_found,
)
from emulator.soap import client_fault, envelope, metadata_fault, xml_text
from emulator.store import Emulator, OrgStore

MAX_COMPONENTS = 10  # per CRUD call (Salesforce: "Limit: 10")
MAX_LIST_QUERIES = 3


class Discard(Exception):
    """Raised by an operation to answer `response` and roll back everything the call wrote (a
    validate-only deploy, or a failed one with rollbackOnError)."""

    def __init__(self, response: str) -> None:
        super().__init__("discarded")
        self.response = response


# -- the type table ----------------------------------------------------------------------------------

# One row per component type, from the module that holds its rules. This order is the deploy
# order: certificates before the credentials that name them, an ECA's OAuth settings before
# its global OAuth settings.
TYPES: dict[str, TypeRules] = {
    **connected_app.RULES,
    **eca.RULES,
    **certificate.RULES,
    **credentials.RULES,
}

# Org settings exposed as Settings components: {type: (fullName, {field: store setting name})}.
# Fields without a mapping are kept under "<type>.<field>".
SETTINGS: dict[str, tuple[str, dict[str, str]]] = {
    "ExternalClientAppSettings": (
        "ExternalClientApp",
        {"enableClientSecretInRestApiAccess": "enable-client-secret-in-rest-api"},
    ),
    "ConnectedAppSettings": ("ConnectedApp", {}),
}


# -- component operations ----------------------------------------------------------------------------


@dataclass
class Outcome:
    full_name: str
    error: ComponentError | None = None
    created: bool = False


def _audit(call: Call, mtype: str, old: Body | None) -> Body:
    return audit_stamp(call, mtype, TYPES[mtype].id_prefix if mtype in TYPES else "000", old)


def _load(call: Call, mtype: str, name: str) -> Body | None:
    rules = TYPES[mtype]
    if rules.load is not None:
        return rules.load(call, name)
    return call.org.get_component(mtype, name)


def _save(call: Call, mtype: str, body: Body, mode: str) -> Outcome:
    """One component of a create / update / upsert call; `mode` is one of those three words."""
    name = body.get("fullName") or ""
    try:
        if not name:
            raise ComponentError(
                "REQUIRED_FIELD_MISSING", "Required field is missing: fullName", ("fullName",)
            )
        if mtype in SETTINGS:
            _save_settings(call, mtype, body)
            return Outcome(name)
        return Outcome(name, created=_save_component(call, mtype, body, mode))
    except ComponentError as exc:
        return Outcome(name, error=exc)


save_component = _save  # for emulator.deploy: a deployed file is saved as upsertMetadata saves it


def _save_component(call: Call, mtype: str, body: Body, mode: str) -> bool:
    rules = TYPES[mtype]
    name = body["fullName"]
    old = _load(call, mtype, name)
    if mode == "create" and old is not None:
        raise ComponentError(
            "DUPLICATE_VALUE",
            "duplicate value found: fullName duplicates an existing component",
            ("fullName",),
        )
    if mode == "update" and old is None:
        raise not_found("fullName", mtype, name)
    missing = ms.first_missing_required(body, mtype)
    if missing:
        raise ComponentError("REQUIRED_FIELD_MISSING", f"Required field is missing: {missing}", (missing,))
    known = ms.schema().fields(mtype) or {}
    for key, value in (old or {}).items():
        if key not in known:  # internal keys (private key, audit) survive the whole-component replace
            body.setdefault(key, value)
    rules.prepare(call, body, old)
    body["_audit"] = _audit(call, mtype, old)
    call.org.put_component(mtype, name, body)
    rules.after_save(call, body, old)
    return old is None


def _settings_body(call: Call, mtype: str) -> Body:
    full_name, mapping = SETTINGS[mtype]
    body: Body = {"fullName": full_name}
    for name, fld in (ms.schema().fields(mtype) or {}).items():
        if name == "fullName" or fld.kind != "boolean":
            continue
        value = call.org.setting(mapping.get(name, f"{mtype}.{name}"))
        body[name] = bool(value)
    return body


def _save_settings(call: Call, mtype: str, body: Body) -> None:
    """Settings always exist: create, update and upsert all write them (update semantics)."""
    full_name, mapping = SETTINGS[mtype]
    if body["fullName"] != full_name:
        raise not_found("fullName", mtype, body["fullName"])
    for name, fld in (ms.schema().fields(mtype) or {}).items():
        if name == "fullName" or fld.kind != "boolean":
            continue
        key, value = mapping.get(name, f"{mtype}.{name}"), bool(body.get(name, False))
        # A flag deployed with the value it already has changes nothing (no new stored setting),
        # so a snapshot after a read-modify-write of one flag differs only in that flag.
        if bool(call.org.setting(key)) != value:
            call.org.set_setting(key, value)


def readable(call: Call, mtype: str, name: str) -> Body | None:
    """The component as a client may see it (readMetadata, retrieve): write-only fields dropped,
    read-side normalisation applied; None when it does not exist."""
    if mtype in SETTINGS:
        body = _settings_body(call, mtype) if name == SETTINGS[mtype][0] else None
    else:
        body = _load(call, mtype, name)
    if body is None:
        return None
    body = copy.deepcopy(body)
    body["fullName"] = name
    if mtype in TYPES:
        rules = TYPES[mtype]
        hidden = [path for path, setting in rules.hidden_unless if not call.org.setting(setting)]
        for path in (*rules.write_only, *hidden):
            _drop_path(body, path.split("."))
        body = rules.on_read(body)
    return body


def _read_one(call: Call, mtype: str, name: str) -> str:
    body = readable(call, mtype, name)
    if body is None:
        return '<records xsi:nil="true"/>'
    return f'<records xsi:type="{mtype}">{ms.encode(body, mtype)}</records>'


def _drop_path(body: Body, path: list[str]) -> None:
    if len(path) == 1:
        body.pop(path[0], None)
        return
    nested = body.get(path[0])
    for item in nested if isinstance(nested, list) else [nested]:
        if isinstance(item, dict):
            _drop_path(item, path[1:])


def _delete(call: Call, mtype: str, name: str) -> Outcome:
    """One component of a deleteMetadata call (and of a deploy's destructive changes)."""
    try:
        if mtype in SETTINGS:
            raise ComponentError("INVALID_OPERATION", f"{mtype} can't be deleted: settings always exist.")
        old = _load(call, mtype, name)
        if old is None:
            raise not_found("fullName", mtype, name)
        TYPES[mtype].before_delete(call, name, old)
        call.org.delete_component(mtype, name)
        return Outcome(name)
    except ComponentError as exc:
        return Outcome(name, error=exc)


def _rename(call: Call, mtype: str, old_name: str, new_name: str) -> Outcome:
    try:
        if mtype in SETTINGS:
            raise ComponentError("INVALID_OPERATION", f"{mtype} can't be renamed.")
        body = _load(call, mtype, old_name)
        if body is None:
            raise not_found("oldFullName", mtype, old_name)
        if not new_name:
            raise ComponentError(
                "REQUIRED_FIELD_MISSING", "Required field is missing: newFullName", ("newFullName",)
            )
        if _load(call, mtype, new_name) is not None:
            raise ComponentError(
                "DUPLICATE_VALUE",
                "duplicate value found: newFullName names an existing component",
                ("newFullName",),
            )
        rules = TYPES[mtype]
        body = dict(body)
        body["_audit"] = _audit(call, mtype, body)
        # The ConnectedApplication record is found by label, which a rename keeps: it stays as is.
        call.org.delete_component(mtype, old_name)
        call.org.put_component(mtype, new_name, body)
        rules.after_rename(call, old_name, new_name)
        return Outcome(new_name)
    except ComponentError as exc:
        return Outcome(new_name, error=exc)


delete_component = _delete  # for emulator.deploy: destructive changes delete as deleteMetadata does


def _names(call: Call, mtype: str) -> list[str]:
    if mtype in SETTINGS:
        return [SETTINGS[mtype][0]]
    rules = TYPES[mtype]
    if rules.names is not None:
        return rules.names(call)
    return [c["fullName"] for c in call.org.list_components(mtype)]


component_names = _names  # for emulator.retrieve: `*` names what listMetadata lists


def exists(call: Call, mtype: str, name: str) -> bool:
    if mtype in SETTINGS:
        return name == SETTINGS[mtype][0]
    return _load(call, mtype, name) is not None


def file_name(mtype: str, name: str) -> str:
    """Where a component lives in a deploy or retrieve zip (the CLI registry's directory and suffix)."""
    if mtype in SETTINGS:
        return f"settings/{SETTINGS[mtype][0]}.settings"
    return f"{TYPES[mtype].directory}/{name}.{TYPES[mtype].suffix}"


def file_properties(call: Call, mtype: str, name: str) -> Body:
    """listMetadata's FileProperties of one component (retrieve reports the same)."""
    body = {} if mtype in SETTINGS else (_load(call, mtype, name) or {})
    audit = body.get("_audit") or {}
    epoch = "1970-01-01T00:00:00.000Z"
    record_id = audit.get("id", "")
    if mtype in ("ConnectedApp", "ExternalClientApplication"):
        record = call.org.app_record(mtype, name)
        record_id = record["Id"] if record else record_id
    return {
        "createdById": audit.get("createdById", ""),
        "createdByName": audit.get("createdByName", ""),
        "createdDate": audit.get("createdDate", epoch),
        "fileName": file_name(mtype, name),
        "fullName": name,
        "id": record_id,
        "lastModifiedById": audit.get("lastModifiedById", ""),
        "lastModifiedByName": audit.get("lastModifiedByName", ""),
        "lastModifiedDate": audit.get("lastModifiedDate", epoch),
        "manageableState": "unmanaged",
        "type": mtype,
    }


def _file_properties(call: Call, mtype: str, name: str) -> str:
    return f"<result>{ms.encode(file_properties(call, mtype, name), 'FileProperties')}</result>"


# -- request handling --------------------------------------------------------------------------------


def _children(element: Any, name: str) -> list[Any]:
    return [c for c in element if isinstance(c.tag, str) and ms.local_name(c) == (ms.MD_NS, name)]


def _text(element: Any, name: str) -> str:
    found = _children(element, name)
    return (found[0].text or "").strip() if found else ""


def _check_type(mtype: str) -> None:
    if mtype in TYPES or mtype in SETTINGS:
        return
    if ms.schema().is_metadata_type(mtype):
        raise ms.SchemaViolation("INVALID_TYPE", f"The emulator does not support metadata type {mtype}")
    raise ms.SchemaViolation("INVALID_TYPE", f"Unknown type name '{mtype}' specified")


def _check_count(count: int) -> None:
    if count > MAX_COMPONENTS:
        raise ms.SchemaViolation(
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_COMPONENTS} records in this operation",
        )


def _decode_components(op: Any) -> list[tuple[str, Body]]:
    elements = _children(op, "metadata")
    _check_count(len(elements))
    out: list[tuple[str, Body]] = []
    for element in elements:
        mtype = ms.resolve_xsi_type(element)
        if mtype is None:
            raise ms.SchemaViolation(
                "INVALID_TYPE",
                "A metadata element needs an xsi:type naming its component type, e.g. ConnectedApp",
            )
        _check_type(mtype)
        out.append((mtype, ms.decode(element, mtype)))
    return out


def _error_xml(error: ComponentError) -> str:
    fields = "".join(f"<fields>{xml_text(f)}</fields>" for f in error.fields)
    return (
        f"<errors>{fields}<message>{xml_text(error.message)}</message>"
        f"<statusCode>{xml_text(error.status_code)}</statusCode></errors>"
    )


def _result_xml(outcome: Outcome, with_created: bool = False) -> str:
    created = f"<created>{xml_text(outcome.created)}</created>" if with_created else ""
    errors = _error_xml(outcome.error) if outcome.error else ""
    success = xml_text(outcome.error is None)
    full_name = f"<fullName>{xml_text(outcome.full_name)}</fullName>"
    return f"<result>{created}{errors}{full_name}<success>{success}</success></result>"


def _op_save(mode: str) -> Callable[[Call, Any], str]:
    def handle(call: Call, op: Any) -> str:
        outcomes = [_save(call, mtype, body, mode) for mtype, body in _decode_components(op)]
        return "".join(_result_xml(o, with_created=mode == "upsert") for o in outcomes)

    return handle


def _names_request(op: Any) -> tuple[str, list[str]]:
    mtype = _text(op, "type")
    _check_type(mtype)
    names = [(e.text or "").strip() for e in _children(op, "fullNames")]
    _check_count(len(names))
    return mtype, names


def _op_read(call: Call, op: Any) -> str:
    mtype, names = _names_request(op)
    if not names:
        # An empty <result/> crashes zeep-based clients; Salesforce requires at least one name.
        raise ms.SchemaViolation("REQUIRED_FIELD_MISSING", "Required field is missing: fullNames")
    return "<result>" + "".join(_read_one(call, mtype, n) for n in names) + "</result>"


def _op_delete(call: Call, op: Any) -> str:
    mtype, names = _names_request(op)
    return "".join(_result_xml(_delete(call, mtype, n)) for n in names)


def _op_rename(call: Call, op: Any) -> str:
    mtype = _text(op, "type")
    _check_type(mtype)
    return _result_xml(_rename(call, mtype, _text(op, "oldFullName"), _text(op, "newFullName")))


def _op_list(call: Call, op: Any) -> str:
    queries = _children(op, "queries")
    if len(queries) > MAX_LIST_QUERIES:
        raise ms.SchemaViolation("INVALID_CROSS_REFERENCE_KEY", "A listMetadata call takes at most 3 queries")
    parts: list[str] = []
    for query in queries:
        mtype = ms.decode(query, "ListMetadataQuery").get("type", "")
        _check_type(mtype)
        parts.extend(_file_properties(call, mtype, name) for name in _names(call, mtype))
    return "".join(parts)


def _op_describe(call: Call, op: Any) -> str:
    raw = _text(op, "type")
    mtype = raw.rpartition("}")[2] if raw.startswith("{") else raw
    _check_type(mtype)
    fields = ms.schema().fields(mtype) or {}
    value_fields = "".join(
        "<valueTypeFields>"
        f"<isForeignKey>false</isForeignKey><isNameField>{xml_text(f.name == 'fullName')}</isNameField>"
        f"<minOccurs>{int(f.required)}</minOccurs><name>{f.name}</name>"
        f"<soapType>{f.type_name}</soapType><valueRequired>{xml_text(f.required)}</valueRequired>"
        "</valueTypeFields>"
        for f in fields.values()
    )
    flags = "".join(
        f"<{n}>true</{n}>" for n in ("apiCreatable", "apiDeletable", "apiReadable", "apiUpdatable")
    )
    return f"<result>{flags}{value_fields}</result>"


Operation = Callable[[Call, Any], str]
# The component calls. Modules built on this one (emulator.deploy, emulator.retrieve) keep their own
# tables; the server joins them into the one it passes to `handle_metadata_request`.
OPERATIONS: dict[str, Operation] = {
    "createMetadata": _op_save("create"),
    "updateMetadata": _op_save("update"),
    "upsertMetadata": _op_save("upsert"),
    "readMetadata": _op_read,
    "deleteMetadata": _op_delete,
    "renameMetadata": _op_rename,
    "listMetadata": _op_list,
    "describeValueType": _op_describe,
}


def _fault(violation: ms.SchemaViolation) -> tuple[int, bytes]:
    if violation.code == "Client":
        return 500, client_fault(violation.message)
    return 500, metadata_fault(violation.code, violation.message)


def handle_metadata_request(
    emulator: Emulator,
    org: OrgStore,
    op: Any | None,
    session_user: dict[str, Any],
    operations: Mapping[str, Operation],
) -> tuple[int, bytes]:
    """Answer one Metadata API call, the first element of the envelope's Body (read and session
    checked by the server, emulator.soap): (HTTP status, XML)."""
    try:
        if op is None:
            raise ms.SchemaViolation("Client", "The SOAP request has no operation in its Body")
        namespace, name = ms.local_name(op)
        handler = operations.get(name) if namespace == ms.MD_NS else None
        if handler is None:
            raise ms.SchemaViolation(
                "INVALID_OPERATION", f"The emulator does not support the operation {name}"
            )
        call = Call(emulator, org, session_user)
        # One transaction per call: concurrent requests to an org never interleave, and a fault
        # raised half-way rolls back whatever the call had written.
        try:
            with org.transaction():
                inner = handler(call, op)
        except Discard as discarded:
            inner = discarded.response  # the transaction was rolled back: nothing was stored
    except ms.SchemaViolation as violation:
        return _fault(violation)
    return 200, envelope(f'<{name}Response xmlns="{ms.MD_NS}">{inner}</{name}Response>')
