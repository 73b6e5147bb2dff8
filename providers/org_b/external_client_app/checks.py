"""The Preflight's checks of an External Client App: its name free or our own leftover, and
Org B's setting that lets orglink read the app's consumer secret."""

from __future__ import annotations

from functools import partial
from typing import Any

from providers import salesforce
from providers.framework.problems import Problem, problem_key
from providers.org_b.external_client_app.app import HEADER_TYPE as ECA_HEADER_TYPE
from providers.org_b.external_client_app.app import SECRET_SETTING_HINT as ECA_SECRET_SETTING_HINT
from providers.org_b.external_client_app.app import is_own_app as is_own_eca
from providers.org_b.external_client_app.app import secret_access_enabled as eca_secret_access_enabled


def eca_problems(client: salesforce.OrgClient, inputs: dict[str, Any]) -> list[Problem]:
    """An External Client App of our name must be free or our own leftover (its marker)."""
    key = problem_key(inputs, "app")
    name = str(inputs["eca_api_name"])
    try:
        header = client.read_component(ECA_HEADER_TYPE, name)
    except salesforce.SalesforceError as err:
        return [Problem(key, client.alias, "app", err.status_code, err.message)]
    problems = secret_access_problems(client, inputs, key)
    if header is None or is_own_eca(header, name, inputs.get("eca_owner")):
        return problems
    return problems + [Problem(
        key, client.alias, "eca_api_name", "DUPLICATE_VALUE",
        f"an External Client App '{name}' that orglink did not make for this stack already exists in "
        f"Org B '{client.alias}' (its description has no orglink marker of this resource); choose "
        "another api_name or name_suffix, or delete that app in Setup > External Client App Manager",
    )]  # fmt: skip


def secret_access_problems(client: salesforce.OrgClient, inputs: dict[str, Any], key: str) -> list[Problem]:
    """orglink reads an ECA's consumer secret through Connect REST, which Org B's setting gates."""
    if inputs.get("eca_may_enable_secret_access"):
        return []
    try:
        enabled = client.lookup("Preflight ECA secret access", partial(eca_secret_access_enabled, client))
    except salesforce.SalesforceError as err:
        return [
            Problem(f"{key}.enable_secret_in_rest_api", client.alias, "app", err.status_code, err.message)
        ]
    if enabled:
        return []
    return [Problem(
        f"{key}.enable_secret_in_rest_api", client.alias, "eca_may_enable_secret_access",
        "INSUFFICIENT_ACCESS", f"in Org B '{client.alias}' {ECA_SECRET_SETTING_HINT}",
    )]  # fmt: skip
