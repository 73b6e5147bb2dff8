"""What every part of the emulator process shares: the orgs, their URLs, counters and injected faults.

It sits below the server and every API handler (they all import it, it imports none of them), so
the handlers can reach the process's state without importing the server that routes to them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .latency import LatencyModel
from .seed import login_app, seed_org, username
from .store import DEFAULT_PROFILE, Emulator, OrgStore
from .tls import TlsFiles, client_context
from .vault import key_path

APIS = ("soap_login", "oauth", "metadata", "rest", "connect", "tooling")
FAULTS = (
    "503",
    "UNKNOWN_EXCEPTION",
    "REQUEST_LIMIT_EXCEEDED",
    "ALREADY_IN_PROCESS",
    "UNABLE_TO_LOCK_ROW",
    "reset",
    "delay",
)
LOGIN_ALIAS = "login"  # counters and faults of the shared login port


@dataclass
class Fault:
    kind: str
    fault: str
    remaining: int
    delay_s: float


class App:
    """Everything the handlers share: the orgs, their URLs, counters and injected faults."""

    def __init__(
        self,
        state_dir: Path,
        aliases: list[str],
        ports: dict[str, int],
        tls: TlsFiles,
        profile: str = DEFAULT_PROFILE,
        latency: LatencyModel | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.latency = latency  # None: answer at once (the emulator's own speed)
        self.emulator = Emulator(state_dir, aliases)
        self.ports = ports
        self.tls = tls
        self.client_ssl = client_context(tls)
        self.lock = threading.Lock()
        self.counters: dict[str, dict[str, int]] = defaultdict(dict)
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.shutdown_event = threading.Event()  # set by the admin /shutdown call
        for org in self.emulator.orgs.values():
            seed_org(org, profile)

    # -- URLs ------------------------------------------------------------------------------------
    def instance_url(self, alias: str) -> str:
        return f"https://127.0.0.1:{self.ports[alias]}"

    @property
    def generic_login_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['_login']}"

    @property
    def admin_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['_admin']}"

    def find_user(self, org: OrgStore | None, uname: str) -> tuple[OrgStore, dict] | None:
        """A user by Username: in `org`, or in any org when on the shared login port."""
        orgs = [org] if org is not None else list(self.emulator.orgs.values())
        for candidate in orgs:
            for user in candidate.records("User"):
                if str(user.get("Username", "")).lower() == uname.lower():
                    return candidate, user
        return None

    def orgs_json(self) -> dict[str, dict[str, Any]]:
        """How clients reach each org. Secret values are sealed with the state dir's key
        (emulator/vault.py); `control.start` returns them opened."""
        out = {}
        for alias, org in self.emulator.orgs.items():
            url = self.instance_url(alias)
            out[alias] = {
                "instance_url": url,
                "login_url": url,
                "token_url": f"{url}/services/oauth2/token",
                "ca_bundle": str(self.tls.ca_bundle),
                "org_id": org.org_id,
                "my_domain": f"orglink-{alias.lower()}.my.salesforce.com",
                "admin_username": username(alias, "admin"),
                "admin_password_sealed": org.sealed_meta("admin_password"),
                "login": {**login_app(org), "username": username(alias, "admin"), "audience": url},
                "secrets_key": str(key_path(self.state_dir)),
            }
        return out

    # -- counters and faults ---------------------------------------------------------------------
    def count(self, alias: str, api: str, rw: str) -> None:
        with self.lock:
            bucket = self.counters[alias]
            key = f"{api}.{rw}"
            bucket[key] = bucket.get(key, 0) + 1

    def mark(self, alias: str) -> None:
        with self.lock:
            self.counters[alias] = {}

    def counter_view(self, alias: str) -> dict[str, int]:
        with self.lock:
            out = {f"{api}.{rw}": 0 for api in APIS for rw in ("read", "write")}
            out.update(self.counters[alias])
        return out

    def add_fault(self, alias: str, fault: Fault) -> None:
        with self.lock:
            self.faults[alias].append(fault)

    def take_fault(self, alias: str, api: str) -> Fault | None:
        with self.lock:
            for f in self.faults[alias]:
                if f.remaining > 0 and f.kind in (api, "any"):
                    f.remaining -= 1
                    if f.remaining == 0:
                        self.faults[alias].remove(f)
                    return f
        return None
