"""The sObjects the emulator serves over REST, with their fields and what can be done with them.

SOQL and sObject reads use this to reject unknown fields the way Salesforce does and to answer
every known field (missing values are null), independent of what a stored record happens to hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SObjectType:
    name: str
    label: str
    fields: tuple[str, ...]
    createable: bool = False
    deletable: bool = False
    updateable: bool = False
    insert_fields: tuple[str, ...] = ()  # what a create may set (describe's `createable` fields)
    # relationship name -> (Id field, target sObject or None when the Id decides the type)
    relationships: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # Salesforce field types where the name alone does not say it (see `field_type`).
    types: dict[str, str] = field(default_factory=dict)


_AUDIT = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
# Every record with audit fields can be followed to the users who made and last changed it.
_AUDIT_RELATIONSHIPS: dict[str, tuple[str, str | None]] = {
    "CreatedBy": ("CreatedById", "User"),
    "LastModifiedBy": ("LastModifiedById", "User"),
}

SCHEMA: dict[str, SObjectType] = {
    t.name: t
    for t in [
        SObjectType(
            "Organization",
            "Organization",
            (
                "Id",
                "Name",
                "OrganizationType",
                "InstanceName",
                "IsSandbox",
                # The Salesforce CLI reads these at every login and before deploys.
                "TrialExpirationDate",
                "NamespacePrefix",
                "Division",
                "Country",
                "PrimaryContact",
                "DefaultLocaleSidKey",
                "LanguageLocaleKey",
                "TimeZoneSidKey",
                "IsReadOnly",
                *_AUDIT,
            ),
            relationships=_AUDIT_RELATIONSHIPS,
            types={"InstanceName": "string", "OrganizationType": "picklist"},
        ),
        SObjectType(
            "User",
            "User",
            (
                "Id",
                "Username",
                "Name",
                "FirstName",
                "LastName",
                "Email",
                "Alias",
                "IsActive",
                "ProfileId",
                "UserType",
                "TimeZoneSidKey",
                "LanguageLocaleKey",
                "LocaleSidKey",
                "EmailEncodingKey",
                "CommunityNickname",
                *_AUDIT,
            ),
            relationships={"Profile": ("ProfileId", "Profile"), **_AUDIT_RELATIONSHIPS},
            types={
                "UserType": "picklist",
                "TimeZoneSidKey": "picklist",
                "LanguageLocaleKey": "picklist",
                "LocaleSidKey": "picklist",
                "EmailEncodingKey": "picklist",
                "Email": "email",
            },
        ),
        SObjectType(
            "Profile",
            "Profile",
            (
                "Id",
                "Name",
                "UserType",
                "UserLicenseId",
                "Description",
                "PermissionsApiEnabled",
                "PermissionsApiUserOnly",
                "PermissionsModifyAllData",
                *_AUDIT,
            ),
            relationships=_AUDIT_RELATIONSHIPS,
            types={"UserType": "picklist", "UserLicenseId": "reference"},
        ),
        SObjectType(
            "PermissionSet",
            "Permission Set",
            (
                "Id",
                "Name",
                "Label",
                "Description",
                "IsOwnedByProfile",
                "ProfileId",
                "IsCustom",
                "NamespacePrefix",
                "Type",
                "PermissionsApiEnabled",
                "PermissionsApiUserOnly",
                *_AUDIT,
            ),
            relationships={"Profile": ("ProfileId", "Profile"), **_AUDIT_RELATIONSHIPS},
            types={"Type": "picklist"},
        ),
        SObjectType(
            "PermissionSetAssignment",
            "Permission Set Assignment",
            ("Id", "AssigneeId", "PermissionSetId", "IsActive", "SystemModstamp"),
            createable=True,
            deletable=True,
            insert_fields=("AssigneeId", "PermissionSetId"),
            relationships={
                "Assignee": ("AssigneeId", "User"),
                "PermissionSet": ("PermissionSetId", "PermissionSet"),
            },
        ),
        SObjectType(
            "SetupEntityAccess",
            "Setup Entity Access",
            ("Id", "ParentId", "SetupEntityId", "SetupEntityType", "SystemModstamp"),
            createable=True,
            deletable=True,
            insert_fields=("ParentId", "SetupEntityId"),
            relationships={"Parent": ("ParentId", "PermissionSet")},
            types={"SetupEntityType": "picklist"},
        ),
        SObjectType(
            "ConnectedApplication",
            "Connected App",
            (
                "Id",
                "Name",
                "OptionsAllowAdminApprovedUsersOnly",
                "OptionsRefreshTokenValidityMetric",
                "OptionsHasSessionLevelPolicy",
                "OptionsIsInternal",
                "OptionsFullContentPushNotifications",
                "OptionsCodeCredentialGuestEnabled",
                "OptionsAppIssueJwtTokenEnabled",
                "OptionsAllowExpiredUrlLinkRedirect",
                "MobileSessionTimeout",
                "PinLength",
                "StartUrl",
                "MobileStartUrl",
                "RefreshTokenValidityPeriod",
                "UiType",
                *_AUDIT,
            ),
            relationships=_AUDIT_RELATIONSHIPS,
            types={
                "MobileSessionTimeout": "picklist",
                "PinLength": "picklist",
                "RefreshTokenValidityPeriod": "int",
                "UiType": "picklist",
            },
        ),
        SObjectType(
            "ExternalClientApplication",
            "External Client App",
            (
                "Id",
                "DeveloperName",
                "MasterLabel",
                "Language",
                "NamespacePrefix",
                "DistributionState",
                "ContactEmail",
                "Description",
                *_AUDIT,
            ),
            relationships=_AUDIT_RELATIONSHIPS,
            types={"Language": "picklist", "DistributionState": "picklist", "ContactEmail": "email"},
        ),
        SObjectType(
            "OauthToken",
            "OAuth Token",
            (
                "Id",
                "AppName",
                "AppMenuItemId",
                "UserId",
                "CreatedDate",
                "LastUsedDate",
                "UseCount",
                "DeleteToken",
                "RequestToken",
                "AccessToken",
            ),
            relationships={"User": ("UserId", "User")},
            types={"LastUsedDate": "datetime", "UseCount": "int"},
        ),
    ]
}


def field_type(stype: SObjectType, name: str) -> str:
    """The describe `type` of a field: declared on the type, else what Salesforce's naming says."""
    declared = stype.types.get(name)
    if declared is not None:
        return declared
    if name == "Id":
        return "id"
    if name.endswith("Id"):
        return "reference"
    if name.startswith(("Is", "Permissions", "Options")):
        return "boolean"
    if name.endswith(("Date", "Modstamp")):
        return "datetime"
    return "string"


def relationship_of(stype: SObjectType, id_field: str) -> tuple[str, str | None] | None:
    """(relationship name, target type) of a reference field, when it has one."""
    return next(
        ((rel, target) for rel, (fid, target) in stype.relationships.items() if fid == id_field), None
    )


def sobject_type(name: str) -> SObjectType | None:
    """Look a type up case-insensitively, as Salesforce does."""
    direct = SCHEMA.get(name)
    if direct is not None:
        return direct
    lower = name.lower()
    return next((t for t in SCHEMA.values() if t.name.lower() == lower), None)


def canonical_field(stype: SObjectType, name: str) -> str | None:
    lower = name.lower()
    return next((f for f in stype.fields if f.lower() == lower), None)


def canonical_relationship(stype: SObjectType, name: str) -> str | None:
    lower = name.lower()
    return next((r for r in stype.relationships if r.lower() == lower), None)
