"""What the assignment resources share: a permission set looked up by API name, and one junction row
between two records (a user and a permission set, a permission set and an app) found or inserted.
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


def user_rows(client: OrgClient, username: str) -> list[dict[str, Any]]:
    """The user of this username (none or one row), asked once per operation. Every resource that
    looks a user up asks for the same fields under the same key, since whichever asks first answers
    the others."""
    return list(client.lookup(
        f"User {username.lower()}",
        lambda: client.query(
            "SELECT Id, Username, IsActive, Profile.PermissionsApiUserOnly FROM User "
            f"WHERE Username = {quoted(username)}"
        ),
    ))  # fmt: skip


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
        f"PermissionSet {name.lower()}",
        f"SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = false AND Name = {quoted(name)}",
        "permission_set",
        f"there is no permission set with API name '{name}'{missing_hint}",
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
