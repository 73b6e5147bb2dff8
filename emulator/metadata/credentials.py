"""ExternalCredential, NamedCredential and PermissionSet (principal access): their rules and
their rows of the type table (`RULES`).

- an external credential's parameters name existing certificates; an OAuth one needs the
  variant and token URL parameter types; each parameter gets its group (a principal its own,
  the rest `DefaultGroup`); deleting it deletes the credentials stored for its principals;
- a named credential's Authentication parameter names an existing external credential;
- a permission set's principal accesses name existing `<ExternalCredential>-<Principal>`s;
  seeded permission sets exist as records only and read as minimal components; the
  PermissionSet record follows the component (its assignments and access rows go with it).
"""

from __future__ import annotations

from emulator.metadata.base import (
    Body,
    Call,
    ComponentError,
    TypeRules,
    not_found,
    permission_set_record,
)
from emulator.store import OrgStore

# Parameter types an OAuth external credential cannot do without, whatever its variant.
_OAUTH_REQUIRED_PARAMETERS = ("AuthProtocolVariant", "AuthProviderUrl")
_PRINCIPAL_PARAMETERS = ("NamedPrincipal", "PerUserPrincipal")
DEFAULT_PARAMETER_GROUP = "DefaultGroup"


def _parameters(body: Body) -> list[Body]:
    raw = body.get("externalCredentialParameters") or []
    return [p for p in (raw if isinstance(raw, list) else [raw]) if isinstance(p, dict)]


def _require_oauth_parameters(body: Body, params: list[Body]) -> None:
    """An OAuth credential names its variant and token URL; the error lists every required type."""
    if str(body.get("authenticationProtocol") or "").lower() != "oauth":
        return
    present = {p.get("parameterType") for p in params}
    if all(ptype in present for ptype in _OAUTH_REQUIRED_PARAMETERS):
        return
    variants = [p.get("parameterValue") for p in params if p.get("parameterType") == "AuthProtocolVariant"]
    protocol = " ".join(str(part) for part in (body.get("authenticationProtocol"), *variants[:1]) if part)
    raise ComponentError(
        "FIELD_INTEGRITY_EXCEPTION",
        f'The authentication protocol "{protocol}" requires the following external credential parameter '
        f"types: {', '.join(_OAUTH_REQUIRED_PARAMETERS)}.",
        ("externalCredentialParameters",),
    )


def _prepare_external_credential(call: Call, body: Body, old: Body | None) -> None:
    params = _parameters(body)
    for param in params:
        cert = param.get("certificate")
        if cert and call.org.get_component("Certificate", cert) is None:
            raise not_found("certificate", "Certificate", cert)
    _require_oauth_parameters(body, params)
    for param in params:
        # As a retrieve shows them: a principal is its own group, every other parameter the default's.
        principal = param.get("parameterType") in _PRINCIPAL_PARAMETERS
        group = param.get("parameterName") if principal else DEFAULT_PARAMETER_GROUP
        param.setdefault("parameterGroup", group)
    body["externalCredentialParameters"] = params


def _external_credential_deleting(call: Call, name: str, body: Body) -> None:
    """Its principals go with it, and so do the credentials stored for them (decision: Salesforce
    documents no way to keep a principal's credentials without its external credential)."""
    call.org.delete_credentials_of(name)


def _prepare_named_credential(call: Call, body: Body, old: Body | None) -> None:
    for param in body.get("namedCredentialParameters") or []:
        if param.get("parameterType") != "Authentication":
            continue
        ext = param.get("externalCredential")
        if not ext:
            raise ComponentError(
                "REQUIRED_FIELD_MISSING",
                "Required field is missing: externalCredential",
                ("externalCredential",),
            )
        if call.org.get_component("ExternalCredential", ext) is None:
            raise not_found("externalCredential", "ExternalCredential", ext)


_PRINCIPAL_TYPES = ("NamedPrincipal", "PerUserPrincipal")


def _principal_exists(org: OrgStore, ref: str) -> bool:
    """`<ExternalCredential>-<Principal>`: API names cannot contain '-', so split at the first one."""
    ext_name, _, principal = ref.partition("-")
    ext = org.get_component("ExternalCredential", ext_name)
    if ext is None or not principal:
        return False
    return any(
        p.get("parameterType") in _PRINCIPAL_TYPES and p.get("parameterName") == principal
        for p in ext.get("externalCredentialParameters") or []
    )


def _prepare_permission_set(call: Call, body: Body, old: Body | None) -> None:
    for access in body.get("externalCredentialPrincipalAccesses") or []:
        ref = access.get("externalCredentialPrincipal", "")
        if not _principal_exists(call.org, ref):
            raise not_found("externalCredentialPrincipal", "ExternalCredentialPrincipal", ref)


def _load_permission_set(call: Call, name: str) -> Body | None:
    """Seeded permission sets exist as records only; they read as minimal components."""
    component = call.org.get_component("PermissionSet", name)
    if component is not None:
        return component
    record = permission_set_record(call.org, name)
    if record is None:
        return None
    return {"fullName": name, "label": record.get("Label") or name, "description": record.get("Description")}


def _permission_set_names(call: Call) -> list[str]:
    names = {c["fullName"] for c in call.org.list_components("PermissionSet")}
    names.update(r["Name"] for r in call.org.records("PermissionSet") if not r.get("IsOwnedByProfile"))
    return sorted(names)


def _permission_set_saved(call: Call, body: Body, old: Body | None) -> None:
    """Users are assigned permission sets through records, so the record must exist too."""
    record = permission_set_record(call.org, body["fullName"])
    fields = {"Label": body.get("label"), "Description": body.get("description")}
    if record is None:
        call.org.insert_record(
            "PermissionSet", {"Name": body["fullName"], "IsOwnedByProfile": False, "IsCustom": True, **fields}
        )
    else:
        call.org.update_record("PermissionSet", record["Id"], fields)


def _permission_set_deleting(call: Call, name: str, body: Body) -> None:
    record = permission_set_record(call.org, name)
    if record is None:
        return
    for sobject, key in (("PermissionSetAssignment", "PermissionSetId"), ("SetupEntityAccess", "ParentId")):
        for row in call.org.records(sobject):
            if str(row.get(key, ""))[:15] == record["Id"][:15]:
                call.org.delete_record(sobject, row["Id"])
    call.org.delete_record("PermissionSet", record["Id"])


def _permission_set_renamed(call: Call, old: str, new: str) -> None:
    record = permission_set_record(call.org, old)
    if record is not None:
        call.org.update_record("PermissionSet", record["Id"], {"Name": new})


# One row per type of this family: file location, Id prefix, and the hooks above.
# fmt: off
RULES: dict[str, TypeRules] = {
    "ExternalCredential": TypeRules(
        "externalCredentials", "externalCredential", "0pt", prepare=_prepare_external_credential,
        before_delete=_external_credential_deleting,
    ),
    "NamedCredential": TypeRules(
        "namedCredentials", "namedCredential", "0XA", prepare=_prepare_named_credential,
    ),
    "PermissionSet": TypeRules(
        "permissionsets", "permissionset", "0PS",
        prepare=_prepare_permission_set, after_save=_permission_set_saved,
        before_delete=_permission_set_deleting, after_rename=_permission_set_renamed,
        load=_load_permission_set, names=_permission_set_names,
    ),
}
# fmt: on
