"""The fewest Salesforce API requests a hand-written simple-salesforce script needs for each operation.

The script knows the whole desired state (the K integrations of the benchmark stack: the demo's
integration, one profile, verification on) and is as clever as the APIs allow:

- one login per org per run (2 requests), none when it sends nothing at all;
- Metadata API create/read/delete take up to 10 components **of one type** per call, so each
  component type costs ceil(K / 10) calls per org;
- a connected app is created with its policies, run-as user and certificate in the one component
  (they are fields of the ConnectedApp), and deleting it removes its profile access rows;
- what cannot batch: the named principal's credentials (Connect REST, one call per external
  credential), SetupEntityAccess rows (one REST insert each: the emulator has no sObject
  Collections; on a real org they would batch 200 per call, see ``SEA_PER_CALL``), and the proof
  that the integration works.

Per operation (K integrations):

up       2 logins
         Org A: create Certificate, read Certificate (its content goes to Org B's app), create
                ExternalCredential, NamedCredential, PermissionSet: 5 x ceil(K/10);
                principal credentials: K; verification callout (anonymous Apex): K
         Org B: create ConnectedApp: ceil(K/10); look up the app Ids (one listMetadata) and the
                profile's PermissionSet Id (one SOQL): 2; SetupEntityAccess inserts: K;
                verification: a client-credentials token and one API call by the script, and the
                same two again from Org A's callout: 4K
preview  0: nothing changes, the script would not run
noop_up  0
change   1 login (Org B) + 1 metadata update of the app (the script holds the whole definition) = 2
refresh  2 logins + Org A: 4 metadata types x ceil(K/10) reads + K credential reads (Connect
         REST, one per external credential) + Org B: apps ceil(K/10) + 1 SOQL for every
         SetupEntityAccess row
destroy  2 logins + Org A: delete PermissionSet, NamedCredential, ExternalCredential (with its
         principal credentials), Certificate: 4 x ceil(K/10) + Org B: delete ConnectedApp (with its
         access rows): ceil(K/10)

The verification requests are in `up` on both sides because orglink's `up` proves every
integration works; a script that skipped the proof would need 5K fewer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

METADATA_BATCH = 10
SEA_PER_CALL = 1  # sObject Collections would make this 200 on a real org; the emulator has none
LOGINS = 2


def batches(k: int, per_call: int = METADATA_BATCH) -> int:
    return math.ceil(k / per_call)


def up(k: int) -> int:
    org_a = 5 * batches(k) + k + k
    org_b = batches(k) + 2 + batches(k, SEA_PER_CALL) + 4 * k
    return LOGINS + org_a + org_b


def change(_k: int) -> int:
    return 1 + 1


def refresh(k: int) -> int:
    org_a = 4 * batches(k) + k
    org_b = batches(k) + 1
    return LOGINS + org_a + org_b


def destroy(k: int) -> int:
    return LOGINS + 4 * batches(k) + batches(k)


MODEL = {
    "up": up,
    "preview": lambda _k: 0,
    "noop_up": lambda _k: 0,
    "change": change,
    "refresh": refresh,
    "destroy": destroy,
}

# Dynamic resources per integration of the benchmark stack (for the refresh target): Certificate,
# ConnectedApp, its policy, run-as user and one profile assignment, ExternalCredential,
# PrincipalCredential, NamedCredential, PrincipalAccess, Verification.
RESOURCES_PER_INTEGRATION = 10


def min_requests(operation: str, k: int) -> int:
    return MODEL[operation](k)


# ---------------------------------------------------------------------------------------------
# The critical-path bound: the longest chain of calls that must wait for each other
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of the change set: its API families (a callout costs Org A's Tooling call plus
    Org B's token and API call it waits for) and the calls whose answers it needs first."""

    name: str
    families: tuple[str, ...]
    after: tuple[str, ...] = ()


# What one integration's `up` needs, with every call made as early as its inputs allow. Integrations
# do not wait for each other, so the chain is the same for every K (unlimited concurrency assumed:
# a bound, not a forecast). Org B's token URL and My Domain come from the config, not a call.
UP_CALLS = (
    Call("login A", ("oauth",)),
    Call("login B", ("oauth",)),
    Call("create Certificate", ("metadata",), ("login A",)),
    Call("read Certificate (its public half)", ("metadata",), ("create Certificate",)),
    Call("create ConnectedApp (with the certificate)", ("metadata",),
         ("read Certificate (its public half)", "login B")),
    Call("query the app's Id", ("rest",), ("create ConnectedApp (with the certificate)",)),
    Call("query the profile's PermissionSet", ("rest",), ("login B",)),
    Call("insert SetupEntityAccess", ("rest",), ("query the app's Id", "query the profile's PermissionSet")),
    Call("create ExternalCredential", ("metadata",), ("login A",)),
    Call("create NamedCredential", ("metadata",), ("create ExternalCredential",)),
    Call("create access PermissionSet", ("metadata",), ("create ExternalCredential",)),
    Call("query the access PermissionSet's Id", ("rest",), ("create access PermissionSet",)),
    Call("query the callout user", ("rest",), ("login A",)),
    Call("insert PermissionSetAssignment", ("rest",),
         ("query the access PermissionSet's Id", "query the callout user")),
    Call("set the principal's credentials", ("connect",),
         ("create ExternalCredential", "create ConnectedApp (with the certificate)")),
    Call("client-credentials token from Org B", ("oauth",), ("insert SetupEntityAccess",)),
    Call("API call with that token", ("rest",), ("client-credentials token from Org B",)),
    Call("callout from Org A (Org B token and API call inside)", ("tooling", "oauth", "rest"),
         ("create NamedCredential", "insert PermissionSetAssignment", "set the principal's credentials",
          "insert SetupEntityAccess")),
)  # fmt: skip
CHANGE_CALLS = (
    Call("login B", ("oauth",)),
    Call("update ConnectedApp", ("metadata",), ("login B",)),
)
# A permission set and a named credential name the external credential, so both go before it;
# the certificate and the app reference nothing the others delete.
DESTROY_CALLS = (
    Call("login A", ("oauth",)),
    Call("login B", ("oauth",)),
    Call("delete access PermissionSet", ("metadata",), ("login A",)),
    Call("delete NamedCredential", ("metadata",), ("login A",)),
    Call("delete ExternalCredential", ("metadata",),
         ("delete access PermissionSet", "delete NamedCredential")),
    Call("delete Certificate", ("metadata",), ("login A",)),
    Call("delete ConnectedApp", ("metadata",), ("login B",)),
)  # fmt: skip
CALL_GRAPHS = {"up": UP_CALLS, "change": CHANGE_CALLS, "destroy": DESTROY_CALLS}


def critical_path(calls: Sequence[Call], latency: Mapping[str, float]) -> tuple[float, list[str]]:
    """(seconds, call names) of the longest chain, each call costing its families' latencies."""
    by_name = {call.name: call for call in calls}
    finish: dict[str, tuple[float, list[str]]] = {}

    def done(name: str, visiting: frozenset[str]) -> tuple[float, list[str]]:
        if name in finish:
            return finish[name]
        if name in visiting:
            raise ValueError(f"calls wait for each other in a cycle through {name!r}")
        if name not in by_name:
            raise ValueError(f"a call waits for {name!r}, which is not in the graph")
        call = by_name[name]
        before = [done(dep, visiting | {name}) for dep in call.after]
        start, chain = max(before, key=lambda f: f[0], default=(0.0, []))
        finish[name] = (start + sum(latency[f] for f in call.families), [*chain, name])
        return finish[name]

    return max((done(call.name, frozenset()) for call in calls), key=lambda f: f[0], default=(0.0, []))


def bound_s(operation: str, latency: Mapping[str, float]) -> float | None:
    """The critical-path bound of an operation in seconds; 0 for one that sends nothing, None for
    one the bench does not bound (refresh)."""
    if operation in ("preview", "noop_up"):
        return 0.0
    calls = CALL_GRAPHS.get(operation)
    return round(critical_path(calls, latency)[0], 3) if calls else None
