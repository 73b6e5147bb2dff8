"""The Preflight's checks of Org A: an `existing` certificate and the callout users."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from providers import salesforce
from providers.framework.problems import Problem, problem_key
from providers.org_a.certificate import METADATA_TYPE as CERTIFICATE_TYPE
from providers.org_a.certificate import parse_content
from providers.salesforce.records import users_rows


def certificate_problem(component: dict[str, Any] | None, name: str, now: datetime) -> tuple[str, str] | None:
    """(code, message) when Org A's `existing` certificate cannot be used, else None."""
    if component is None:
        return "NOT_FOUND", (
            f"there is no certificate '{name}' in Org A (Setup > Certificate and Key Management shows "
            "the Unique Name); fix the name, or remove `existing` to let orglink create one"
        )
    cert = parse_content(component.get("content"))
    if cert is None:
        return "INVALID_CERTIFICATE", (
            f"certificate '{name}' has no readable X.509 content (is it a key pair without a "
            "certificate?); choose another certificate, or remove `existing` to let orglink create one"
        )
    if cert.not_valid_after_utc <= now:
        expired = cert.not_valid_after_utc.astimezone(UTC).strftime("%Y-%m-%d")
        return "CERTIFICATE_EXPIRED", (
            f"certificate '{name}' expired on {expired}; renew it in Org A, choose another one, or "
            "remove `existing` to let orglink create one"
        )
    return None


def certificate_problems(client: salesforce.OrgClient, inputs: dict[str, Any]) -> list[Problem]:
    """Org A's `existing` certificate must exist, be a certificate and not have expired."""
    name = inputs["existing_certificate"]
    key = problem_key(inputs, "certificate.existing")
    try:
        component = client.read_component(CERTIFICATE_TYPE, name)
    except salesforce.SalesforceError as err:
        return [Problem(key, client.alias, "existing_certificate", err.status_code, err.message)]
    found = certificate_problem(component, name, datetime.now(UTC))
    if found is None:
        return []
    return [Problem(key, client.alias, "existing_certificate", *found)]


def callout_user_problems(client: salesforce.OrgClient, inputs: dict[str, Any]) -> list[Problem]:
    """Every callout user must be an active user of Org A: one query for all of them."""
    key = problem_key(inputs, "callout_users")
    usernames = [str(name) for name in inputs["callout_users"]]
    try:
        # The same query answers each callout user's assignment later in the operation.
        rows = users_rows(client, usernames)
    except salesforce.SalesforceError as err:
        return [Problem(key, client.alias, "callout_users", err.status_code, err.message)]
    active = {str(row.get("Username") or "").lower(): bool(row.get("IsActive")) for row in rows}
    problems: list[Problem] = []
    for name in usernames:
        if name.lower() not in active:
            problems.append(Problem(
                key, client.alias, "callout_users", "NOT_FOUND",
                f"there is no user '{name}' in Org A '{client.alias}'; list the usernames (Setup > Users) "
                "of the users whose Apex calls Org B, or leave callout_users out to use the user "
                "orglink's connection to Org A runs as",
            ))  # fmt: skip
        elif not active[name.lower()]:
            problems.append(Problem(
                key, client.alias, "callout_users", "INACTIVE_USER",
                f"user '{name}' in Org A '{client.alias}' is inactive and could not call out; activate "
                "it in Setup > Users, or remove it from callout_users",
            ))  # fmt: skip
    return problems
