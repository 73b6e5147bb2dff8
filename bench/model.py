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
