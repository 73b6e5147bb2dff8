"""What the assignment resources and the checks share: users and permission sets looked up once per
operation (a check's query of all of them answers each resource's lookup of one), and one junction
row between two records (a user and a permission set, a permission set and an app) found or inserted.
"""

from __future__ import annotations

from typing import Any

from providers.salesforce.client import OrgClient
from providers.salesforce.errors import SalesforceError


def quoted(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted_list(values: list[str]) -> str:
    """A SOQL list of string literals, for IN."""
    return "(" + ", ".join(quoted(value) for value in values) + ")"


USER_FIELDS = "Id, Username, IsActive, Profile.PermissionsApiUserOnly"
PERMISSION_SET_FIELDS = "Id, Name, IsOwnedByProfile, Profile.Name"


def _user_key(username: str) -> str:
    return f"User {username.lower()}"


def _profile_key(profile: str) -> str:
    return f"Profile {profile.lower()}"


def _permission_set_key(name: str) -> str:
    return f"PermissionSet {name.lower()}"


def user_rows(client: OrgClient, username: str) -> list[dict[str, Any]]:
    """The user of this username (none or one row), asked once per operation. Every resource that
    looks a user up asks for the same fields under the same key, since whichever asks first answers
    the others."""
    return list(client.lookup(
        _user_key(username),
        lambda: client.query(f"SELECT {USER_FIELDS} FROM User WHERE Username = {quoted(username)}"),
    ))  # fmt: skip


def active_user(client: OrgClient, username: str, *, missing: str, inactive: str) -> dict[str, Any]:
    """The user row of this username; a SalesforceError on ``username`` (NOT_FOUND saying ``missing``,
    INACTIVE_USER saying ``inactive``) unless the org has that user and it is active."""
    users = user_rows(client, username)
    if not users:
        raise SalesforceError(client.alias, None, "username", "NOT_FOUND", missing)
    if not users[0].get("IsActive"):
        raise SalesforceError(client.alias, None, "username", "INACTIVE_USER", inactive)
    return users[0]


def users_rows(client: OrgClient, usernames: list[str]) -> list[dict[str, Any]]:
    """The users of these usernames, in one query; each found one is then known to ``user_rows``
    (the Preflight's check of all callout users answers each assignment's lookup)."""
    soql = f"SELECT {USER_FIELDS} FROM User WHERE Username IN {quoted_list(usernames)}"
    rows = client.lookup(f"Users {soql}", lambda: client.query(soql))
    for row in rows:
        client.remember(_user_key(str(row.get("Username") or "")), [row])
    return rows


def permission_set_query(profiles: list[str], permission_sets: list[str]) -> str:
    """One SOQL for every profile (through its profile-owned permission set) and permission set."""
    wanted = []
    if profiles:
        wanted.append(f"(IsOwnedByProfile = true AND Profile.Name IN {quoted_list(profiles)})")
    if permission_sets:
        wanted.append(f"(IsOwnedByProfile = false AND Name IN {quoted_list(permission_sets)})")
    return f"SELECT {PERMISSION_SET_FIELDS} FROM PermissionSet WHERE " + " OR ".join(wanted)


def permission_set_rows(
    client: OrgClient, profiles: list[str], permission_sets: list[str]
) -> list[dict[str, Any]]:
    """One query for every profile (through its profile-owned permission set) and permission set;
    each found one is then known to ``profile_permission_set`` and ``find_permission_set``."""
    soql = permission_set_query(profiles, permission_sets)
    rows = client.lookup(f"PermissionSets {soql}", lambda: client.query(soql))
    for row in rows:
        if row.get("IsOwnedByProfile"):
            client.remember(_profile_key(str((row.get("Profile") or {}).get("Name") or "")), [row])
        else:
            client.remember(_permission_set_key(str(row.get("Name") or "")), [row])
    return rows


def lookup_one(client: OrgClient, key: str, soql: str, field: str, missing: str) -> dict[str, Any]:
    """The first row ``soql`` answers, asked once per operation under ``key``; a NOT_FOUND error on
    ``field`` saying ``missing`` when there is none."""
    rows = client.lookup(key, lambda: client.query(soql))
    if not rows:
        raise SalesforceError(client.alias, None, field, "NOT_FOUND", missing)
    return rows[0]


def find_permission_set(client: OrgClient, name: str, missing_hint: str) -> str:
    """The Id of the permission set (not a profile's own) of this API name; ``missing_hint`` ends the
    error when there is none."""
    row = lookup_one(
        client,
        _permission_set_key(name),
        f"SELECT {PERMISSION_SET_FIELDS} FROM PermissionSet WHERE IsOwnedByProfile = false "
        f"AND Name = {quoted(name)}",
        "permission_set",
        f"there is no permission set with API name '{name}'{missing_hint}",
    )
    return str(row["Id"])


def profile_permission_set(client: OrgClient, profile: str, missing: str) -> str:
    """The Id of the permission set a profile owns (what access rows point at for a profile)."""
    row = lookup_one(
        client,
        _profile_key(profile),
        f"SELECT {PERMISSION_SET_FIELDS} FROM PermissionSet WHERE IsOwnedByProfile = true "
        f"AND Profile.Name = {quoted(profile)}",
        "profile",
        missing,
    )
    return str(row["Id"])


def find_row(client: OrgClient, sobject: str, match: dict[str, str]) -> str | None:
    """The Id of the ``sobject`` row whose fields equal ``match``, if there is one."""
    where = " AND ".join(f"{field} = {quoted(value)}" for field, value in match.items())
    rows = client.query(f"SELECT Id FROM {sobject} WHERE {where}")
    return str(rows[0]["Id"]) if rows else None


def insert_row(client: OrgClient, sobject: str, match: dict[str, str]) -> tuple[str, bool]:
    """Insert the row; (its Id, whether the insert found one there already).

    A DUPLICATE_VALUE answer means such a row exists (perhaps our own insert, retried after its answer
    was lost): its Id stands in for the new one. Any other error, or a duplicate not found, is raised.
    """
    try:
        return client.create_record(sobject, dict(match)), False
    except SalesforceError as err:
        existing = find_row(client, sobject, match) if err.status_code == "DUPLICATE_VALUE" else None
        if existing:
            return existing, True
        raise
