"""salesforce.together: independent requests wait on the org at the same time, errors as if serial."""

from __future__ import annotations

import threading

import pytest

from providers import salesforce


def test_calls_run_at_the_same_time_and_results_keep_their_order() -> None:
    # Each call waits for the others: asked one after another, the barrier would time out.
    meet = threading.Barrier(3, timeout=10)

    def call(value: str) -> str:
        meet.wait()
        return value

    assert salesforce.together(lambda: call("a"), lambda: call("b"), lambda: call("c")) == ("a", "b", "c")


def test_the_first_error_in_call_order_is_raised_after_all_finished() -> None:
    finished: list[str] = []

    def fails(name: str) -> str:
        finished.append(name)
        raise salesforce.SalesforceError("orgB", None, None, "NOT_FOUND", name)

    def succeeds() -> str:
        finished.append("ok")
        return "ok"

    with pytest.raises(salesforce.SalesforceError, match="first"):
        salesforce.all_at_once([succeeds, lambda: fails("first"), lambda: fails("second")])
    assert sorted(finished) == ["first", "ok", "second"]
