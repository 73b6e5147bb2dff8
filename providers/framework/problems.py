"""A problem a read-only check found, named by the stack config key the user fixes.

The integration's Preflight runs the checks of each org and app model (``org_a.checks``,
``org_b.checks`` and each app family's ``checks``) and reports every problem at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INTEGRATIONS_KEY = "orglink:integrations"


@dataclass(frozen=True)
class Problem:
    """One thing to fix: the config key, whose org said so, Salesforce's (or our) code, and how."""

    key: str
    org: str
    field: str | None
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def problem_key(inputs: dict[str, Any], under: str) -> str:
    """The config key to fix: ``under`` the integration's own key (e.g. orglink:integrations[0])."""
    return f"{inputs.get('config_key') or INTEGRATIONS_KEY}.{under}"
