"""Seeded content of a fresh org (docs/design.md, "Seeded per org").

Seeding runs once per org (a meta flag in its SQLite file), so a restart never re-seeds and never
changes a password or an Id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from .store import OrgStore

PROFILES = ("System Administrator", "Standard User", "Minimum Access - API Only Integrations")
PLAIN_PERMISSION_SET = "Orglink_Integration_Access"

# (local part, first name, last name, profile, active)
_USERS = (
    ("admin", "Org", "Admin", "System Administrator", True),
    ("integration", "Integration", "User", "Minimum Access - API Only Integrations", True),
    ("standard", "Standard", "User", "Standard User", True),
    ("inactive", "Inactive", "User", "Standard User", False),
)


def username(alias: str, local: str) -> str:
    return f"{local}@{alias.lower()}.orglink.test"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())


def _hash_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()


def set_password(org: OrgStore, user_id: str, password: str) -> None:
    """Passwords live in the meta table, never in a User record (which SOQL and snapshots expose)."""
    salt = secrets.token_hex(8)
    org.set_meta(f"pw:{user_id[:15]}", f"{salt}:{_hash_password(password, salt)}")


def check_password(org: OrgStore, user_id: str, password: str) -> bool:
    stored = org.meta(f"pw:{user_id[:15]}")
    if stored is None:
        return False
    salt, digest = stored.split(":", 1)
    return hmac.compare_digest(digest, _hash_password(password, salt))


def security_token(org: OrgStore, user_id: str) -> str | None:
    return org.meta(f"token:{user_id[:15]}")


def admin_password(org: OrgStore) -> str:
    """The seeded users' password (written to orgs.json for the admin user)."""
    return str(org.meta("admin_password"))


def seed_org(org: OrgStore) -> None:
    """Create the seeded profiles, permission sets and users, once."""
    if org.meta("seeded") == "1":
        return
    with org.transaction():
        password = "Orglink-" + secrets.token_urlsafe(12)
        org.set_meta("admin_password", password)
        stamp = now_iso()
        org.insert_record(
            "Organization",
            {
                "Id": org.org_id,
                "Name": f"orglink {org.alias}",
                "OrganizationType": "Developer Edition",
                "InstanceName": "EMU1",
                "IsSandbox": False,
                "NamespacePrefix": None,
                "LanguageLocaleKey": "en_US",
                "DefaultLocaleSidKey": "en_US",
                "TimeZoneSidKey": "America/Los_Angeles",
                "TrialExpirationDate": None,
                "IsReadOnly": False,
                "CreatedDate": stamp,
            },
        )
        profile_ids = {name: _seed_profile(org, name, stamp) for name in PROFILES}
        org.insert_record(
            "PermissionSet",
            {
                "Name": PLAIN_PERMISSION_SET,
                "Label": "Orglink Integration Access",
                "IsOwnedByProfile": False,
                "ProfileId": None,
                "IsCustom": True,
                "Type": "Regular",
                "Description": None,
                "NamespacePrefix": None,
                "CreatedDate": stamp,
            },
        )
        # The Metadata API sees the plain permission set too (principal access is granted there).
        org.put_component("PermissionSet", PLAIN_PERMISSION_SET, {"label": "Orglink Integration Access"})
        for local, first, last, profile, active in _USERS:
            _seed_user(org, local, first, last, profile_ids[profile], active, password, stamp)
        org.set_meta("seeded", "1")


def _seed_profile(org: OrgStore, name: str, stamp: str) -> str:
    api_only = name == "Minimum Access - API Only Integrations"
    admin = name == "System Administrator"
    profile_id = org.insert_record(
        "Profile",
        {
            "Name": name,
            "UserType": "Standard",
            "Description": None,
            "PermissionsApiEnabled": True,
            "PermissionsApiUserOnly": api_only,
            "PermissionsModifyAllData": admin,
            "CreatedDate": stamp,
        },
    )
    # Every profile owns a permission set whose Name is "X" + the 15-char profile Id, as in Salesforce.
    org.insert_record(
        "PermissionSet",
        {
            "Name": "X" + profile_id[:15],
            "Label": "X" + profile_id[:15],
            "IsOwnedByProfile": True,
            "ProfileId": profile_id,
            "IsCustom": False,
            "Type": "Profile",
            "PermissionsApiEnabled": True,
            "PermissionsApiUserOnly": api_only,
            "Description": None,
            "NamespacePrefix": None,
            "CreatedDate": stamp,
        },
    )
    return profile_id


def _seed_user(
    org: OrgStore, local: str, first: str, last: str, profile_id: str, active: bool, password: str, stamp: str
) -> None:
    user_id = org.insert_record(
        "User",
        {
            "Username": username(org.alias, local),
            "FirstName": first,
            "LastName": last,
            "Name": f"{first} {last}",
            "Email": f"{local}@example.invalid",
            "Alias": local[:8],
            "IsActive": active,
            "ProfileId": profile_id,
            "UserType": "Standard",
            "TimeZoneSidKey": "America/Los_Angeles",
            "LanguageLocaleKey": "en_US",
            "LocaleSidKey": "en_US",
            "EmailEncodingKey": "UTF-8",
            "CommunityNickname": f"{local}.{org.alias}",
            "CreatedDate": stamp,
        },
    )
    set_password(org, user_id, password)
    org.set_meta(f"token:{user_id[:15]}", secrets.token_urlsafe(18))
    owned = next(r for r in org.records("PermissionSet") if r.get("ProfileId") == profile_id)
    # Salesforce lists the profile's own permission set among a user's assignments.
    org.insert_record(
        "PermissionSetAssignment",
        {"AssigneeId": user_id, "PermissionSetId": owned["Id"], "IsActive": active},
    )
