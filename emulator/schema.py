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
    # relationship name -> (Id field, target sObject or None when the Id decides the type)
    relationships: dict[str, tuple[str, str | None]] = field(default_factory=dict)


_AUDIT = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")

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
                "NamespacePrefix",
                "LanguageLocaleKey",
                "TimeZoneSidKey",
                *_AUDIT,
            ),
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
            relationships={"Profile": ("ProfileId", "Profile")},
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
            relationships={"Profile": ("ProfileId", "Profile")},
        ),
        SObjectType(
            "PermissionSetAssignment",
            "Permission Set Assignment",
            ("Id", "AssigneeId", "PermissionSetId", "IsActive", "SystemModstamp"),
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
            relationships={"Parent": ("ParentId", "PermissionSet")},
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
        ),
    ]
}


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
