"""The Pulumi Python SDK's debug log: off unless asked for, and never with secret values.

Every debug message the SDK writes is a blocking RPC to the engine, made on the program's one
thread, whether or not the CLI shows debug output: four or more per resource ("preparing resource
for RPC", "resource registration prepared", ...). For a stack of 20 integrations that was a quarter
of a no-op `pulumi preview`'s program time. So the stack program does not send them, unless
``ORGLINK_SDK_DEBUG=1`` is set (for a support case: then run ``pulumi up --debug``).

When they are sent, a message that carries a secret is sent without its values: the SDK logs every
resource's registered outputs with their values (``register_resource_outputs``: "register resource
outputs prepared: urn=..., props=..."), so ``--debug`` or ``-v=3`` would print the stack's
``consumer_secret`` in clear, and such logs end up in CI artefacts and support tickets (the SDK
marks secrets with a signature in the serialised value).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import rpc

WITHHELD = "<withheld by orglink: holds secret values>"
SDK_DEBUG_ENV = "ORGLINK_SDK_DEBUG"


def _holds_secret(message: str) -> bool:
    return rpc._special_secret_sig in message


def _without_values(message: str) -> str:
    for marker in (", props=", ": "):
        if marker in message:
            return message.split(marker, 1)[0] + marker + WITHHELD
    return WITHHELD


def sdk_debug_wanted() -> bool:
    return os.environ.get(SDK_DEBUG_ENV, "").strip().lower() in ("1", "true", "yes")


def filter_sdk_debug_log() -> None:
    """Wrap ``pulumi.log.debug`` (the SDK looks it up on the module at every call); idempotent."""
    original: Callable[..., Any] = pulumi.log.debug
    if getattr(original, "_orglink_filter", False):
        return
    send = sdk_debug_wanted()

    def debug(msg: str, *args: Any, **kwargs: Any) -> None:
        if send:
            original(_without_values(msg) if _holds_secret(str(msg)) else msg, *args, **kwargs)

    debug._orglink_filter = True  # type: ignore[attr-defined]
    pulumi.log.debug = debug  # type: ignore[assignment]
