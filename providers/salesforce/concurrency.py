"""Independent requests sent at once: on a real org each answer takes hundreds of milliseconds, and
what a resource reads after a write rarely depends on itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, overload

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


@overload
def together(first: Callable[[], A], second: Callable[[], B], /) -> tuple[A, B]: ...


@overload
def together(
    first: Callable[[], A], second: Callable[[], B], third: Callable[[], C], /
) -> tuple[A, B, C]: ...


def together(*calls: Callable[[], Any]) -> tuple[Any, ...]:
    """Each call's result, in order, once all have finished."""
    return tuple(all_at_once(calls))


def all_at_once(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Each call's result, in order, once all have finished; the first call's error (in the order
    given) is raised, so a caller sees the same error as if it had asked one after another."""
    with ThreadPoolExecutor(max_workers=max(1, len(calls)), thread_name_prefix="together") as pool:
        futures = [pool.submit(call) for call in calls]
    return [future.result() for future in futures]
