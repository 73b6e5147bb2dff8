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


def create_or_take_over(
    client: salesforce.OrgClient,
    mtype: str,
    wanted: dict[str, Any],
    comparable: Callable[[dict[str, Any]], dict[str, Any]],
    log: Callable[[str], None],
) -> None:
    """Create ``wanted`` unless the org already has the same component; the caller holds its lock."""
    name = str(wanted["fullName"])
    existing = client.read_component(mtype, name)
    if existing is not None:
        if comparable(existing) != comparable(wanted):
            raise salesforce.SalesforceError(
                client.alias, None, "api_name", "DUPLICATE_VALUE",
                f"a {mtype} '{name}' with other settings already exists in the org; choose another "
                "name (or delete it in Setup if it is a leftover)",
            )  # fmt: skip
        log(f"{client.alias}: {mtype} {name} already exists as wanted; taking it over")
        return
    log(f"{client.alias}: creating {mtype} {name}")
    result = client.create_metadata(mtype, [wanted])[0]
    # We checked it was absent under the component lock: DUPLICATE_VALUE is our own retried create.
    if result.success or any(p.status_code == "DUPLICATE_VALUE" for p in result.problems):
        return
    raise result.error(client.alias, f"create {mtype}")


def delete_if_present(
    client: salesforce.OrgClient, mtype: str, name: str, log: Callable[[str], None]
) -> None:
    with salesforce.component_lock(client.alias, mtype, name):
        log(f"{client.alias}: deleting {mtype} {name}")
        if not client.delete_component(mtype, name):
            log(f"{client.alias}: {mtype} {name} was already gone")
