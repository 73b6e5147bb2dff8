"""Peak memory of the dynamic provider process that one `pulumi` command starts.

The engine starts `pulumi-resource-pulumi-python` (a shell script), which runs
`python -u -m pulumi.dynamic` as its child, so the provider is a grandchild of the `pulumi` process
we start. A thread walks /proc every POLL_S for descendants of that process whose command line
holds `pulumi.dynamic` and keeps the largest VmHWM (the kernel's own high-water mark of the
process's resident set), so a spike between two polls is still seen; only growth in the last
POLL_S before the provider exits could be missed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

POLL_S = 0.05
PROC = Path("/proc")
MARKER = b"pulumi.dynamic"


def _parent_pids() -> dict[int, int]:
    """pid -> ppid of every process we may read."""
    parents: dict[int, int] = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (PROC / entry.name / "stat").read_text()
        except OSError:
            continue
        # The command name (2nd field) is in parentheses and may hold spaces: parse after it.
        fields = stat.rsplit(")", 1)[-1].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    parents = _parent_pids()
    found: list[int] = []
    frontier = {root}
    while frontier:
        children = {pid for pid, ppid in parents.items() if ppid in frontier}
        found.extend(children)
        frontier = children
    return found


def _is_provider(pid: int) -> bool:
    try:
        return MARKER in (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


def high_water_kb(pid: int) -> int:
    """VmHWM of a process in kB (0 when it is gone)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class ProviderPeakRss:
    """Polls the provider processes under ``root`` until stopped; ``peak_mb`` is the largest seen."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_kb = 0
        self.providers_seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ProviderPeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kb / 1024, 1)

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid in descendants(self.root):
                if pid in self.providers_seen or _is_provider(pid):
                    self.providers_seen.add(pid)
                    self.peak_kb = max(self.peak_kb, high_water_kb(pid))
            self._stop.wait(POLL_S)
