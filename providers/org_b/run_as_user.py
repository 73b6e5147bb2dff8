"""The client credentials run-as user of an Org B app, for either app model: the user checks.

Before a run-as user resource writes, and in the integration's Preflight before anything is
written, the user must exist and be active; a user without API Only gets a warning (Salesforce
recommends an API-only integration user for the flow).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from providers import salesforce
from providers.framework.provider import ArgsT
from providers.org_b.app_part import AppPartProvider, AppPartResource
from providers.salesforce.records import active_user, quoted


def check_run_as_user(client: salesforce.OrgClient, username: str, warn: Callable[[str], None]) -> None:
    """Raise SalesforceError unless the org has an active user of this username; ``warn`` when it
    lacks API Only. Shared by the run-as user resources and the integration's Preflight, which asks
    before anything is written."""
    user = active_user(
        client,
        username,
        missing=f"there is no user with username '{username}'; use the Username from the user's "
        "detail page in Setup (it is not always the e-mail address)",
        inactive=f"user '{username}' is inactive: activate it in Setup or choose another run-as user",
    )
    api_only = client.lookup(f"ApiOnly {user['Id']}", lambda: "yes" if _is_api_only(client, user) else "no")
    if api_only == "no":
        warn(
            f"{client.alias}: run-as user '{username}' does not have API Only; Salesforce "
            "recommends an API-only integration user for the client credentials flow"
        )


def _is_api_only(client: salesforce.OrgClient, user: dict[str, Any]) -> bool:
    if (user.get("Profile") or {}).get("PermissionsApiUserOnly"):
        return True
    try:
        granted = client.query(
            "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = "
            f"{quoted(str(user['Id']))} AND PermissionSet.PermissionsApiUserOnly = true"
        )
    except salesforce.SalesforceError:
        return True  # cannot tell: do not warn
    return bool(granted)


class RunAsUserPart(AppPartProvider):
    """An app part that sets the run-as user: the user is checked before anything is written."""

    def validate_live(self, client: salesforce.OrgClient, inputs: dict[str, Any]) -> None:
        check_run_as_user(client, inputs["username"], lambda message: self.log(message, warning=True))


class RunAsUserResource(AppPartResource[ArgsT]):
    """The run-as user of an app of either model: the outputs both have."""

    username: pulumi.Output[str]
    enabled: pulumi.Output[bool]
