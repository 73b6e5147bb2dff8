"""How long and how often a failed call is tried again (what is worth retrying: errors.classify)."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a total time budget."""

    budget_s: float = 120.0
    base_s: float = 0.5
    cap_s: float = 10.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * (2**attempt)))


def retry_policy_from_env() -> RetryPolicy:
    """Tests and impatient users can shrink the budget with ORGLINK_RETRY_BUDGET_S / ORGLINK_RETRY_BASE_S."""
    defaults = RetryPolicy()
    try:
        return RetryPolicy(
            budget_s=float(os.environ.get("ORGLINK_RETRY_BUDGET_S", defaults.budget_s)),
            base_s=float(os.environ.get("ORGLINK_RETRY_BASE_S", defaults.base_s)),
        )
    except ValueError:
        return defaults
