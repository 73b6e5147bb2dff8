"""Helpers for resources that own a whole Metadata component (Org A's credentials).

Creating such a component is made safe to repeat: an interrupted `up` (or a create retried after a
lost answer) can leave the component behind without Pulumi knowing. When what the org has is exactly
what the resource wants, it is taken over instead of failing with DUPLICATE_VALUE; anything else
with the same name is somebody else's and is reported, never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import salesforce

# How the Metadata API says a create's name is taken (the second for some types on real orgs).
DUPLICATE_CODES = frozenset({"DUPLICATE_VALUE", "DUPLICATE_DEVELOPER_NAME"})


def create_or_take_over(
    client: salesforce.OrgClient,
    mtype: str,
    wanted: dict[str, Any],
    comparable: Callable[[dict[str, Any]], dict[str, Any]],
    log: Callable[[str], None],
) -> None:
    """Create ``wanted`` unless the org already has the same component; the caller holds its lock.

    Create first and read only when the name is taken: a leftover is rare, and reading before
    every create cost one request per component.
    """
    name = str(wanted["fullName"])
    log(f"{client.alias}: creating {mtype} {name}")
    result = client.create_metadata(mtype, [wanted])[0]
    if result.success:
        return
    if not any(p.status_code in DUPLICATE_CODES for p in result.problems):
        raise result.error(client.alias, f"create {mtype}")
    # Taken: our own create retried after a lost answer, a leftover of an interrupted up, or
    # somebody else's component.
    existing = client.read_component(mtype, name)
    if existing is not None and comparable(existing) != comparable(wanted):
        raise salesforce.SalesforceError(
            client.alias, None, "api_name", "DUPLICATE_VALUE",
            f"a {mtype} '{name}' with other settings already exists in the org; choose another "
            "name (or delete it in Setup if it is a leftover)",
        )  # fmt: skip
    log(f"{client.alias}: {mtype} {name} already exists as wanted; taking it over")


def delete_if_present(
    client: salesforce.OrgClient, mtype: str, name: str, log: Callable[[str], None]
) -> None:
    with salesforce.component_lock(client.alias, mtype, name):
        log(f"{client.alias}: deleting {mtype} {name}")
        if not client.delete_component(mtype, name):
            log(f"{client.alias}: {mtype} {name} was already gone")
