"""Joining the same kind of metadata call from resources applied at the same time into one request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from providers.salesforce.metadata import METADATA_BATCH

T = TypeVar("T")


# How long a metadata call waits for the same call from other resources. The engine hands
# independent resources (K certificates, K apps) to the provider one after another, tens of
# milliseconds apart; only a kind of call already made within BUSY_S waits, so a lone resource (or
# the one kind of call a small stack makes once) is sent at once.
BATCH_WINDOW_S = 0.15
BUSY_S = 0.5


@dataclass
class _Batch:
    items: list[Any]
    full: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    results: list[Any] = field(default_factory=list)
    error: BaseException | None = None


class Coalescer:
    """Sends the same kind of call from several threads as one request of up to ``limit`` items.

    The first caller of a kind waits up to BATCH_WINDOW_S for others, then sends everything that
    joined and hands each caller the results of its own items (Metadata API results come back in
    the order of the request). A request that fails fails for everyone in it.
    """

    def __init__(self, limit: int = METADATA_BATCH) -> None:
        self._limit = limit
        self._guard = threading.Lock()
        self._open: dict[tuple[str, ...], _Batch] = {}
        self._last_call: dict[tuple[str, ...], float] = {}

    def run(self, kind: tuple[str, ...], items: list[T], send: Callable[[list[T]], list[Any]]) -> list[Any]:
        joined = self._join(kind, items)
        if joined is None:
            return send(items)
        batch, start, leader = joined
        if leader:
            self._send(kind, batch, send)
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.results[start : start + len(items)]

    def _join(self, kind: tuple[str, ...], items: list[Any]) -> tuple[_Batch, int, bool] | None:
        """(batch, where our items start in it, whether we send it); None to send alone at once."""
        if len(items) >= self._limit:
            return None
        with self._guard:
            now = time.monotonic()
            busy = now - self._last_call.get(kind, -BUSY_S) < BUSY_S
            self._last_call[kind] = now
            batch = self._open.get(kind)
            if batch is not None and len(batch.items) + len(items) <= self._limit:
                start = len(batch.items)
                batch.items.extend(items)
                if len(batch.items) >= self._limit:
                    del self._open[kind]
                    batch.full.set()
                return batch, start, False
            if not busy:
                return None
            batch = self._open[kind] = _Batch(list(items))
            return batch, 0, True

    def _send(self, kind: tuple[str, ...], batch: _Batch, send: Callable[[list[Any]], list[Any]]) -> None:
        batch.full.wait(BATCH_WINDOW_S)
        with self._guard:
            if self._open.get(kind) is batch:
                del self._open[kind]
        try:
            batch.results = send(batch.items)
        except BaseException as exc:  # raised in every caller of the batch
            batch.error = exc
        finally:
            batch.done.set()
