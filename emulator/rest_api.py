"""REST API: /services/data/, /services/data/vXX.X/, query/queryAll, sObject get/create/delete.

Writes are allowed only where Salesforce allows them for these setup objects: SetupEntityAccess and
PermissionSetAssignment can be created and deleted (no update); the others are read-only here.
A PermissionSetAssignment names a User (AssigneeId) and a PermissionSet (PermissionSetId); a second
assignment of the same pair is refused with DUPLICATE_VALUE, and a profile's own permission set is
neither assigned nor unassigned this way (it follows the user's profile).
"""

from __future__ import annotations

from typing import Any

from . import soql
from .schema import SCHEMA, SObjectType, canonical_field, field_type, relationship_of, sobject_type
from .seed import now_iso
from .store import KEY_PREFIXES, OrgStore, same_id
from .web import (
    MAX_VERSION,
    MIN_VERSION,
    Ctx,
    Response,
    bearer_token,
    invalid_session,
    json_response,
    not_found,
    rest_error,
    session_user,
    split_version,
)


def release_label(version: int) -> str:
    """Release name of an API version: 63.0 is Spring '25, then Summer, Winter, Spring..."""
    offset = version - 63
    season = ("Spring", "Summer", "Winter")[offset % 3]
    year = 25 + offset // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year:02d}"


def versions() -> list[dict[str, str]]:
    return [
        {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
        for v in range(MIN_VERSION, MAX_VERSION + 1)
    ]


def resources(version: str) -> dict[str, str]:
    base = f"/services/data/v{version}"
    names = (
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "contact-tracing",
        "jobs",
        "query",
        "queryAll",
        "sobjects",
        "search",
        "connect",
        "apps",
        "named-credentials",
        "limits",
        "recent",
        "composite",
        "actions",
        "analytics",
        "theme",
        "nouns",
        "event",
        "chatter",
        "licensing",
        "process",
    )
    return {n: f"{base}/{n}" for n in names}


def handle(ctx: Ctx) -> Response:
    path = ctx.req.path
    if path.rstrip("/") == "/services/data":
        return json_response(200, versions())  # the versions list needs no session
    split = split_version(path)
    if split is None:
        return not_found()
    version, rest = split
    user = session_user(ctx, bearer_token(ctx.req))
    if user is None:
        return invalid_session()
    assert ctx.org is not None  # session_user returns None without an org
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return json_response(200, resources(version))
    if parts[0] in ("query", "queryAll") and len(parts) == 1:
        if ctx.req.query.get("columns", "").lower() == "true":
            return query_columns(ctx.org, ctx.req.query.get("q", ""))
        return query(ctx.org, ctx.req.query.get("q", ""), version)
    if parts[0] == "sobjects":
        return sobjects(ctx, ctx.org, parts[1:], version)
    if parts[0] == "limits":
        return json_response(200, {"DailyApiRequests": {"Max": 15000, "Remaining": 14999}})
    return not_found()


def query(org: OrgStore, text: str, version: str) -> Response:
    if not text:
        return rest_error(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
    try:
        return json_response(200, soql.execute(text, org, version))
    except soql.SoqlError as err:
        return rest_error(400, err.code, err.message)


def query_columns(org: OrgStore, text: str) -> Response:
    """`/query?q=...&columns=true`: the query's column metadata, which `sf data query` asks first."""
    if not text:
        return rest_error(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
    try:
        return json_response(200, soql.columns(text, org))
    except soql.SoqlError as err:
        return rest_error(400, err.code, err.message)


def _type_or_404(name: str) -> SObjectType | Response:
    stype = sobject_type(name)
    if stype is None:
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    return stype


def sobjects(ctx: Ctx, org: OrgStore, parts: list[str], version: str) -> Response:
    method = ctx.req.method
    if not parts:
        return json_response(200, describe_global(version))
    stype = _type_or_404(parts[0])
    if isinstance(stype, Response):
        return stype
    if len(parts) == 1:
        if method == "POST":
            return create(ctx, org, stype)
        return json_response(200, {"objectDescribe": describe_summary(stype, version), "recentItems": []})
    if parts[1] == "describe" and len(parts) == 2:
        return json_response(200, describe(stype, version))
    if len(parts) != 2:
        return not_found()
    record_id = parts[1]
    if method == "GET":
        return get(ctx, org, stype, record_id, version)
    if method == "DELETE":
        if stype.name == "PermissionSetAssignment":
            return delete_permission_set_assignment(org, record_id)
        return delete(org, stype, record_id)
    if method == "PATCH":
        return (
            rest_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {stype.label}")
            if not stype.updateable
            else not_found()
        )
    return rest_error(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE"
    )


def get(ctx: Ctx, org: OrgStore, stype: SObjectType, record_id: str, version: str) -> Response:
    record = org.get_record(stype.name, record_id)
    if record is None:
        return not_found()
    wanted = ctx.req.query.get("fields")
    fields = list(stype.fields)
    if wanted:
        fields = []
        for name in wanted.split(","):
            canon = canonical_field(stype, name.strip())
            if canon is None:
                return rest_error(
                    400, "INVALID_FIELD", f"No such column '{name.strip()}' on sobject of type {stype.name}"
                )
            fields.append(canon)
    return json_response(200, soql.shape_record(org, stype, record, fields, version))


def _setup_entity_type(org: OrgStore, entity_id: str) -> str | None:
    sobject = org.sobject_of(entity_id)
    return sobject if sobject in ("ConnectedApplication", "ExternalClientApplication") else None


def create(ctx: Ctx, org: OrgStore, stype: SObjectType) -> Response:
    if not stype.createable:
        return rest_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {stype.label}")
    try:
        body = ctx.req.json()
    except ValueError:
        return rest_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
    if not isinstance(body, dict):
        return rest_error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from array value")
    fields: dict[str, Any] = {}
    for name, value in body.items():
        if name == "attributes":
            continue
        canon = canonical_field(stype, name)
        if canon is None:
            return rest_error(
                400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {stype.name}", [name]
            )
        fields[canon] = value
    if stype.name == "PermissionSetAssignment":
        return create_permission_set_assignment(org, fields)
    return create_setup_entity_access(org, fields)


def _required(fields: dict[str, Any], names: tuple[str, ...]) -> Response | None:
    missing = [f for f in names if not fields.get(f)]
    if not missing:
        return None
    return rest_error(
        400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
    )


PROFILE_OWNED = "You can't assign or unassign this permission set because it's associated with a profile."


def _existing_row(org: OrgStore, sobject: str, match: dict[str, Any]) -> dict[str, Any] | None:
    """The ``sobject`` row whose fields hold the ids in ``match`` (15 or 18 characters alike): the
    junction a second insert duplicates."""
    for row in org.records(sobject):
        if all(same_id(row.get(field), value) for field, value in match.items()):
            return row
    return None


def create_permission_set_assignment(org: OrgStore, fields: dict[str, Any]) -> Response:
    refused = _required(fields, ("AssigneeId", "PermissionSetId"))
    if refused is not None:
        return refused
    user = org.get_record("User", str(fields["AssigneeId"]))
    if user is None:
        return rest_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["AssigneeId"])
    permission_set = org.get_record("PermissionSet", str(fields["PermissionSetId"]))
    if permission_set is None:
        return rest_error(
            400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["PermissionSetId"]
        )
    if permission_set.get("IsOwnedByProfile"):
        return rest_error(400, "INVALID_CROSS_REFERENCE_KEY", PROFILE_OWNED, ["PermissionSetId"])
    with org.transaction():
        match = {"AssigneeId": user["Id"], "PermissionSetId": permission_set["Id"]}
        if _existing_row(org, "PermissionSetAssignment", match) is not None:
            return rest_error(
                400,
                "DUPLICATE_VALUE",
                f"Duplicate PermissionSetAssignment. Assignee: {user['Id'][:15]}; "
                f"Permission Set: {permission_set['Id'][:15]}",
            )
        new_id = org.insert_record(
            "PermissionSetAssignment",
            {
                "AssigneeId": user["Id"],
                "PermissionSetId": permission_set["Id"],
                "IsActive": bool(user.get("IsActive")),
                "SystemModstamp": now_iso(),
            },
        )
    return json_response(201, {"id": new_id, "success": True, "errors": []})


def delete_permission_set_assignment(org: OrgStore, record_id: str) -> Response:
    row = org.get_record("PermissionSetAssignment", record_id)
    if row is None:
        return rest_error(404, "ENTITY_IS_DELETED", "entity is deleted")
    permission_set = org.get_record("PermissionSet", str(row.get("PermissionSetId"))) or {}
    if permission_set.get("IsOwnedByProfile"):
        return rest_error(400, "INVALID_CROSS_REFERENCE_KEY", PROFILE_OWNED, ["PermissionSetId"])
    org.delete_record("PermissionSetAssignment", record_id)
    return Response(204)


def create_setup_entity_access(org: OrgStore, fields: dict[str, Any]) -> Response:
    refused = _required(fields, ("ParentId", "SetupEntityId"))
    if refused is not None:
        return refused
    parent = org.get_record("PermissionSet", str(fields["ParentId"]))
    if parent is None:
        return rest_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["ParentId"])
    entity_type = _setup_entity_type(org, str(fields["SetupEntityId"]))
    if entity_type is None:
        return rest_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["SetupEntityId"])
    with org.transaction():
        sea = _existing_row(
            org, "SetupEntityAccess", {"ParentId": parent["Id"], "SetupEntityId": fields["SetupEntityId"]}
        )
        if sea is not None:
            return rest_error(
                400,
                "DUPLICATE_VALUE",
                f"duplicate value found: <unknown> duplicates value on record with id: {sea['Id']}",
            )
        entity = org.get_record(entity_type, str(fields["SetupEntityId"])) or {}
        new_id = org.insert_record(
            "SetupEntityAccess",
            {
                "ParentId": parent["Id"],
                "SetupEntityId": entity.get("Id", fields["SetupEntityId"]),
                "SetupEntityType": entity_type,
                "SystemModstamp": now_iso(),
            },
        )
    return json_response(201, {"id": new_id, "success": True, "errors": []})


def delete(org: OrgStore, stype: SObjectType, record_id: str) -> Response:
    if not stype.deletable:
        return rest_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {stype.label}")
    if not org.delete_record(stype.name, record_id):
        return rest_error(404, "ENTITY_IS_DELETED", "entity is deleted")
    return Response(204)


def _plural(label: str) -> str:
    return label[:-1] + "ies" if label.endswith("y") else label + "s"


def describe_summary(stype: SObjectType, version: str) -> dict[str, Any]:
    """One entry of the global describe (and the `objectDescribe` of /sobjects/<Type>)."""
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": stype.createable,
        "custom": False,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": stype.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": KEY_PREFIXES.get(stype.name),
        "label": stype.label,
        "labelPlural": _plural(stype.label),
        "layoutable": False,
        "mergeable": False,
        "mruEnabled": False,
        "name": stype.name,
        "queryable": True,
        "replicateable": False,
        "retrieveable": True,
        "searchable": False,
        "triggerable": False,
        "undeletable": False,
        "updateable": stype.updateable,
        "urls": {
            "rowTemplate": f"/services/data/v{version}/sobjects/{stype.name}/{{ID}}",
            "describe": f"/services/data/v{version}/sobjects/{stype.name}/describe",
            "sobject": f"/services/data/v{version}/sobjects/{stype.name}",
        },
    }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "int": "xsd:int",
    "double": "xsd:double",
}
_LENGTHS = {"id": 18, "reference": 18, "string": 255, "picklist": 255, "email": 80}


def describe_field(stype: SObjectType, name: str) -> dict[str, Any]:
    """A field as /describe lists it: type, length, reference target and what a client may do."""
    kind = field_type(stype, name)
    relationship = relationship_of(stype, name) if kind == "reference" else None
    writable = stype.createable and name in stype.insert_fields
    length = _LENGTHS.get(kind, 0)
    return {
        "aggregatable": kind not in ("boolean",),
        "autoNumber": False,
        "byteLength": length * 3 if kind in ("string", "picklist", "email") else length,
        "calculated": False,
        "caseSensitive": False,
        "createable": writable,
        "custom": False,
        "defaultValue": None,
        "defaultedOnCreate": kind == "boolean" or name in ("Id", "CreatedDate", "SystemModstamp"),
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 0,
        "externalId": False,
        "filterable": True,
        "groupable": kind not in ("datetime", "double"),
        "idLookup": name == "Id",
        "label": _label(name),
        "length": length,
        "name": name,
        "nameField": name == "Name",
        "namePointing": False,
        "nillable": name != "Id" and kind != "boolean",
        "permissionable": False,
        "picklistValues": [],
        "polymorphicForeignKey": relationship is not None and relationship[1] is None,
        "precision": 0,
        "referenceTargetField": None,
        "referenceTo": [relationship[1]] if relationship and relationship[1] else [],
        "relationshipName": relationship[0] if relationship else None,
        "relationshipOrder": None,
        "restrictedPicklist": kind == "picklist",
        "scale": 0,
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": True,
        "type": kind,
        "unique": False,
        "updateable": False,
    }


def _label(name: str) -> str:
    """Salesforce labels split the API name into words and drop the Id of references: Profile ID."""
    if name == "Id":
        return "Record ID"
    words = []
    current = ""
    for ch in name:
        if ch.isupper() and current and not current[-1].isupper():
            words.append(current)
            current = ch
        else:
            current += ch
    words.append(current)
    if words[-1] == "Id" and len(words) > 1:
        words[-1] = "ID"
    return " ".join(words)


def child_relationships(stype: SObjectType) -> list[dict[str, Any]]:
    """The other served types that point at this one (each relationship's Id field)."""
    children = []
    for other in SCHEMA.values():
        for id_field, target in other.relationships.values():
            if target == stype.name:
                children.append(
                    {
                        "cascadeDelete": False,
                        "childSObject": other.name,
                        "deprecatedAndHidden": False,
                        "field": id_field,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": None,
                        "restrictedDelete": False,
                    }
                )
    return children


def describe(stype: SObjectType, version: str) -> dict[str, Any]:
    """/sobjects/<Type>/describe: the summary's keys plus fields, child relationships and layouts."""
    full = describe_summary(stype, version)
    full.update(
        actionOverrides=[],
        childRelationships=child_relationships(stype),
        compactLayoutable=False,
        defaultImplementation=None,
        extendedBy=None,
        extendsInterfaces=None,
        fields=[describe_field(stype, f) for f in stype.fields],
        implementedBy=None,
        implementsInterfaces=None,
        listviewable=None,
        lookupLayoutable=None,
        namedLayoutInfos=[],
        networkScopeFieldName=None,
        recordTypeInfos=[],
        searchLayoutable=False,
        sobjectDescribeOption="FULL",
        supportedScopes=[{"label": "All records", "name": "everything"}],
    )
    return full


def describe_global(version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [describe_summary(stype, version) for stype in SCHEMA.values()],
    }
