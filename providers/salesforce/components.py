"""Read-modify-write of one metadata component, serialised and grouped within the provider process.

Metadata updates replace the whole component, so resources editing one component (an app's policy
and its run-as user) take its lock; changes asked for at the same time share one read and one write.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from providers.salesforce.client import OrgClient, org
from providers.salesforce.errors import SalesforceError

_component_locks_guard = threading.Lock()
_component_locks: dict[tuple[str, str, str], threading.RLock] = {}


@contextmanager
def component_lock(alias: str, mtype: str, full_name: str) -> Iterator[None]:
    """Serialise read-modify-write of one component within this process.

    Metadata updates replace the whole component, so two resources editing one app must not
    interleave. One stack is applied by one provider process, so a process-wide lock is enough.
    """
    key = (alias, mtype, full_name.lower())
    with _component_locks_guard:
        lock = _component_locks.setdefault(key, threading.RLock())
    with lock:
        yield


Change = Callable[[dict[str, Any]], dict[str, Any]]

# How long the first of several resources editing one component waits for the others (an app's
# policy and run-as user start together when the app is made): one read and one write for all.
GROUP_WINDOW_S = 0.05


@dataclass
class _PendingChange:
    change: Change
    done: bool = False
    written: dict[str, Any] | None = None
    error: BaseException | None = None


_pending_guard = threading.Lock()
_pending: dict[tuple[str, str, str], list[_PendingChange]] = {}


def modify_component(alias: str, mtype: str, full_name: str, change: Change, resource: str) -> dict[str, Any]:
    """Read a component, apply ``change`` to a copy, write it back if it changed; return what was written.

    Changes other resources ask for at the same time are applied together: one read and one write
    (a metadata update replaces the whole component, so they must be serialised anyway). When such a
    group fails, each change is tried alone so that the error lands on the resource that caused it.
    The read is skipped when this process has just read or written the component (the app's create
    read it back, a sibling part wrote it): within one operation that copy is what the org holds,
    since every writer here holds the component's lock.
    Raises SalesforceError NOT_FOUND when the component does not exist.
    """
    key = (alias, mtype, full_name.lower())
    mine = _PendingChange(change)
    with _pending_guard:
        _pending.setdefault(key, []).append(mine)
    with component_lock(alias, mtype, full_name):
        if not mine.done:
            time.sleep(GROUP_WINDOW_S)
            with _pending_guard:
                group = _pending.pop(key, [])
            _apply_group(org(alias), mtype, full_name, group)
    if mine.error is not None:
        raise mine.error
    if mine.written is None:
        raise SalesforceError(alias, resource, None, "NOT_FOUND", f"{mtype} '{full_name}' does not exist")
    return mine.written


def _apply_group(client: OrgClient, mtype: str, full_name: str, group: list[_PendingChange]) -> None:
    try:
        written = _apply_changes(client, mtype, full_name, [p.change for p in group])
        for pending in group:
            pending.written = written
    except Exception as err:  # handed to the caller(s) as they are
        if len(group) == 1:
            group[0].error = err
        else:
            for pending in group:
                try:
                    pending.written = _apply_changes(client, mtype, full_name, [pending.change])
                except Exception as alone:  # handed to that caller
                    pending.error = alone
    finally:
        for pending in group:
            pending.done = True


def _apply_changes(
    client: OrgClient, mtype: str, full_name: str, changes: list[Change]
) -> dict[str, Any] | None:
    """One read (unless known) and at most one write for all ``changes``; None when it is gone."""
    current = client.known_component(mtype, full_name)
    if current is None:
        current = client.read_component(mtype, full_name)
    if current is None:
        return None
    wanted = copy.deepcopy(current)
    for change in changes:
        wanted = change(wanted)
    if wanted != current:
        client.update_component(mtype, wanted)
        client.remember_component(mtype, full_name, wanted)
    return wanted
