"""The stack program's filter on the Pulumi SDK's debug log (providers.framework.debug_log)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from providers.framework import debug_log

SECRET = {rpc._special_sig_key: rpc._special_secret_sig, "value": "S3cr3tValue99"}
URN = "urn:pulumi:dev::orglink::x"
SECRET_OUTPUTS = f"register resource outputs prepared: urn={URN}, props={{'consumer_secret': {SECRET}}}"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What reaches the engine: a stand-in for the SDK's own pulumi.log.debug."""
    engine: list[str] = []

    def sdk_debug(msg: str, *_args: Any, **_kwargs: Any) -> None:
        engine.append(msg)

    monkeypatch.setattr(pulumi.log, "debug", sdk_debug)
    return engine


def test_sdk_debug_lines_are_not_sent_unless_asked_for(
    sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(debug_log.SDK_DEBUG_ENV, raising=False)
    debug_log.filter_sdk_debug_log()
    pulumi.log.debug("preparing resource for RPC")
    pulumi.log.debug(SECRET_OUTPUTS)
    assert sent == []


def test_asked_for_they_are_sent_without_secret_values(
    sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(debug_log.SDK_DEBUG_ENV, "1")
    debug_log.filter_sdk_debug_log()
    debug_log.filter_sdk_debug_log()  # idempotent: one filter, not two
    pulumi.log.debug("preparing resource for RPC")
    pulumi.log.debug(SECRET_OUTPUTS)
    assert sent == [
        "preparing resource for RPC",
        f"register resource outputs prepared: urn={URN}, props=" + debug_log.WITHHELD,
    ]
