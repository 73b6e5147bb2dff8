"""The Preflight's checks of Org B that hold for either app model: the profiles and permission sets
an integration gives access, and the client credentials run-as user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers import salesforce
from providers.framework.problems import Problem, problem_key
from providers.org_b.run_as_user import check_run_as_user
from providers.salesforce.records import permission_set_rows


def missing_holders(
    rows: list[dict[str, Any]], profiles: list[str], permission_sets: list[str]
) -> tuple[list[str], list[str]]:
    """The profiles and permission sets the query did not find (names compare case-insensitively)."""
    found_profiles = {str((row.get("Profile") or {}).get("Name") or "").lower()
                      for row in rows if row.get("IsOwnedByProfile")}  # fmt: skip
    found_sets = {str(row.get("Name") or "").lower() for row in rows if not row.get("IsOwnedByProfile")}
    return (
        [name for name in profiles if name.lower() not in found_profiles],
        [name for name in permission_sets if name.lower() not in found_sets],
    )


def org_b_problems(
    client: salesforce.OrgClient, inputs: dict[str, Any], warn: Callable[[str], None]
) -> list[Problem]:
    """Org B must have the profiles and permission sets, and the run-as user must be active there
    (``warn`` when it lacks API Only)."""
    problems = holder_problems(client, inputs)
    if inputs.get("run_as_user"):
        try:
            check_run_as_user(client, inputs["run_as_user"], warn)
        except salesforce.SalesforceError as err:
            key = problem_key(inputs, "run_as_user")
            problems.append(Problem(key, client.alias, "run_as_user", err.status_code, err.message))
    return problems


def holder_problems(client: salesforce.OrgClient, inputs: dict[str, Any]) -> list[Problem]:
    """One query for every profile and permission set; a problem for each Org B does not have."""
    profiles, permission_sets = inputs.get("profiles") or [], inputs.get("permission_sets") or []
    if not profiles and not permission_sets:
        return []
    profiles_key, sets_key = problem_key(inputs, "profiles"), problem_key(inputs, "permission_sets")
    try:
        # Integrations of one stack mostly name the same profiles: they share one answer, which
        # also answers the access resources' lookups later in the operation.
        rows = permission_set_rows(client, profiles, permission_sets)
    except salesforce.SalesforceError as err:
        return [Problem(profiles_key, client.alias, "profiles", err.status_code, err.message)]
    no_profiles, no_sets = missing_holders(rows, profiles, permission_sets)
    problems: list[Problem] = []
    for name in no_profiles:
        problems.append(Problem(
            profiles_key, client.alias, "profiles", "NOT_FOUND",
            f"there is no profile '{name}' in Org B '{client.alias}'; use the name shown in "
            "Setup > Profiles (e.g. System Administrator)",
        ))  # fmt: skip
    for name in no_sets:
        problems.append(Problem(
            sets_key, client.alias, "permission_sets", "NOT_FOUND",
            f"there is no permission set with API name '{name}' in Org B '{client.alias}' "
            "(Setup > Permission Sets shows it)",
        ))  # fmt: skip
    return problems
