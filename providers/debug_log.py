"""Keep secret values out of the Pulumi Python SDK's debug log.

The SDK logs every resource's registered outputs at debug level, values included
(``pulumi.runtime.resource.register_resource_outputs``: "register resource outputs prepared: urn=...,
props=..."), so ``pulumi up --debug`` or ``-v=3`` prints the stack's ``consumer_secret`` output in
clear; such logs end up in CI artefacts and support tickets. The stack program installs this filter
once: a debug message that carries a secret (the SDK marks secrets with a signature in the
serialised value) is logged without its values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import rpc

WITHHELD = "<withheld by orglink: holds secret values>"


def _holds_secret(message: str) -> bool:
    return rpc._special_secret_sig in message


def _without_values(message: str) -> str:
    for marker in (", props=", ": "):
        if marker in message:
            return message.split(marker, 1)[0] + marker + WITHHELD
    return WITHHELD


def withhold_secrets_from_debug_log() -> None:
    """Wrap ``pulumi.log.debug`` (the SDK looks it up on the module at every call); idempotent."""
    original: Callable[..., Any] = pulumi.log.debug
    if getattr(original, "_orglink_filter", False):
        return

    def debug(msg: str, *args: Any, **kwargs: Any) -> None:
        original(_without_values(msg) if _holds_secret(str(msg)) else msg, *args, **kwargs)

    debug._orglink_filter = True  # type: ignore[attr-defined]
    pulumi.log.debug = debug  # type: ignore[assignment]
