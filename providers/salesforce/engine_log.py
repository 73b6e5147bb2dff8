"""Progress lines and warnings in the engine's output (what `pulumi up` shows the user)."""

from __future__ import annotations

import logging


def pulumi_log(message: str, warning: bool = False) -> None:
    """A progress line (or warning) in the engine's output. Never pass a secret."""
    import pulumi

    try:
        (pulumi.log.warn if warning else pulumi.log.info)(message)
    except Exception:  # logging must never break a resource operation
        logging.getLogger("orglink").info(message)
