"""Persistent state of the emulated orgs: one SQLite file per org.

This module is the store contract of docs/design.md. Every emulator module (protocol handlers,
admin side, the Metadata API handler) reads and writes org state only through `OrgStore`.

Components are plain dicts shaped like the Metadata API XML (secrets included); sObject records are
dicts keyed by field name with an 18-char `Id`. Besides the contract, `OrgStore` keeps the OAuth
token table (sessions and refresh tokens) and the principal credentials of named credentials, so a
stop/start of the emulator loses nothing.

Threading: the server (emulator.transport) answers from pools of threads, so one connection per
store is shared under an RLock; `transaction()` holds that lock across several calls and commits
once at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .vault import Vault

# Settings every org has, with Spring '26 defaults (creation of connected apps is off).
DEFAULT_SETTINGS: dict[str, Any] = {
    "allow-connected-app-creation": False,
    "enable-client-secret-in-rest-api": False,
    # Access token lifetime; Salesforce's default session timeout is 2 hours.
    "session-timeout-s": 7200,
    # Seconds a new or changed app's token endpoint answers invalid_client_id (real orgs: 2-10
    # minutes); 0 = at once, as tests mostly want.
    "app-propagation-seconds": 0,
    # SOAP API login() at API 31.0-64.0: off, as in every org created since Salesforce began
    # shipping it disabled (an admin must turn it on); API 65.0 and later never have it.
    "soap-login-enabled": False,
    # The OAuth username-password flow ("Allow OAuth Username-Password Flows"): blocked by default
    # in orgs created since Summer '23, where it answers invalid_grant "authentication failure".
    "oauth-username-password-enabled": False,
    # How Connect REST answers for principal credentials where real orgs' answers are unknown
    # (emulator/connect_api.py): the less convenient answer by default.
    "principal-credential-missing": "not-configured",
    "principal-credential-duplicate": "other",
    # Whether readMetadata returns an ECA global OAuth settings' certificate: one tool reports it
    # does not, so by default it does not (orglink must not need it back).
    "eca-certificate-readable": False,
}

# What an org starts with besides DEFAULT_SETTINGS, by profile (`python -m emulator start
# --profile`). "new" is an org created today; "established" one created before SOAP login()
# was shipped disabled, which still allows it until its retirement.
ORG_PROFILES: dict[str, dict[str, Any]] = {
    "new": {},
    "established": {"soap-login-enabled": True, "oauth-username-password-enabled": True},
}
DEFAULT_PROFILE = "new"

# Key prefixes of the sObjects the emulator knows; unknown types get a neutral prefix.
KEY_PREFIXES: dict[str, str] = {
    "Organization": "00D",
    "User": "005",
    "Profile": "00e",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "SetupEntityAccess": "0J0",
    "ConnectedApplication": "0H4",
    "ExternalClientApplication": "0xI",
    "OauthToken": "0CQ",
}

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def case_safe_id(id15: str) -> str:
    """Append Salesforce's 3-char suffix that makes a 15-char Id case-insensitively unique."""
    if len(id15) != 15:
        raise ValueError("a Salesforce Id has 15 characters before its suffix")
    suffix = ""
    for chunk in range(3):
        bits = 0
        for pos in range(5):
            if "A" <= id15[chunk * 5 + pos] <= "Z":
                bits |= 1 << pos
        suffix += _SUFFIX_ALPHABET[bits]
    return id15 + suffix


def make_id(prefix: str, pod: str, counter: int) -> str:
    """Build an 18-char Id: 3-char key prefix, 2-char pod, '0', 9-char base62 counter, suffix."""
    digits = ""
    n = counter
    for _ in range(9):
        n, rem = divmod(n, 62)
        digits = _BASE62[rem] + digits
    return case_safe_id(f"{prefix}{pod}0{digits}")


def pod_for(alias: str) -> str:
    """Two base62 chars derived from the alias, so Ids of different orgs never collide."""
    h = int(hashlib.sha256(alias.encode()).hexdigest(), 16)
    return _BASE62[h % 62] + _BASE62[(h // 62) % 62]


def id15(record_id: str) -> str:
    return record_id[:15]


def same_id(a: str | None, b: str | None) -> bool:
    """Salesforce accepts 15- and 18-char forms of one Id interchangeably."""
    return bool(a) and bool(b) and id15(str(a)) == id15(str(b))


def new_token(nbytes: int = 48) -> str:
    return secrets.token_urlsafe(nbytes)


# Meta values that are secrets (seed.py writes them through set_secret_meta): passwords, security
# tokens, the CI login app's private key.
SECRET_META = ("admin_password", "token:", "login_app:private_key")


def token_digest(token: str) -> str:
    """How the tokens table keys a session or refresh token: a bearer of the file learns none."""
    return hashlib.sha256(token.encode()).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS components (
    mtype TEXT NOT NULL, full_name TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (mtype, full_name));
CREATE TABLE IF NOT EXISTS records (
    sobject TEXT NOT NULL, id TEXT PRIMARY KEY, seq INTEGER NOT NULL, fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_by_type ON records (sobject, seq);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL, app_key TEXT,
    family TEXT, scope TEXT, created REAL NOT NULL, expires REAL, revoked INTEGER NOT NULL DEFAULT 0,
    rotated INTEGER NOT NULL DEFAULT 0, record_id TEXT);
CREATE INDEX IF NOT EXISTS tokens_by_family ON tokens (family);
CREATE TABLE IF NOT EXISTS credentials (
    external_credential TEXT NOT NULL, principal_name TEXT NOT NULL, principal_type TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (external_credential, principal_name, principal_type));
"""


class OrgStore:
    """All state of one org, in `<state_dir>/<alias>.sqlite`."""

    def __init__(self, path: Path, alias: str) -> None:
        self.alias = alias
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.vault = Vault(path.parent)
        self.pod = pod_for(alias)
        org_id = self._meta("org_id")
        if org_id is None:
            org_id = make_id("00D", self.pod, 1 + secrets.randbelow(10**6))
            self._set_meta("org_id", org_id)
        self.org_id: str = org_id
        self._seal_legacy_rows()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals -------------------------------------------------------------------------------
    def _seal_json(self, body: dict) -> str:
        return self.vault.seal(json.dumps(body))

    def _open_json(self, stored: str) -> dict:
        # Rows written before bodies were sealed are plain JSON until _seal_legacy_rows rewrites them.
        text = stored if stored.startswith("{") else self.vault.open(stored)
        return dict(json.loads(text))

    def _seal_legacy_rows(self) -> None:
        """Seal what an older emulator wrote in plain text (bodies, raw tokens), then VACUUM so no
        freed page keeps the old text."""
        if self._meta("sealed_at_rest") == "1":
            return
        self._db.execute("BEGIN IMMEDIATE")
        for table, keys in (
            ("components", ("mtype", "full_name")),
            ("credentials", ("external_credential", "principal_name", "principal_type")),
        ):
            where = " AND ".join(f"{k} = ?" for k in keys)
            for row in self._db.execute(f"SELECT body, {', '.join(keys)} FROM {table}").fetchall():
                if str(row[0]).startswith("{"):
                    sealed = self._seal_json(json.loads(row[0]))
                    self._db.execute(f"UPDATE {table} SET body = ? WHERE {where}", (sealed, *row[1:]))
        for name, value in self._db.execute("SELECT name, value FROM meta").fetchall():
            if str(name).startswith(SECRET_META) and not self.vault.is_sealed(str(value)):
                self._set_meta(str(name), self.vault.seal(str(value)))
        for (token,) in self._db.execute("SELECT token FROM tokens").fetchall():
            if len(str(token)) != 64 or "!" in str(token):
                self._db.execute("UPDATE tokens SET token = ? WHERE token = ?", (token_digest(token), token))
        self._set_meta("sealed_at_rest", "1")
        self._db.execute("COMMIT")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def meta(self, name: str) -> str | None:
        """Internal per-org values that are not org content (passwords, seeding flags)."""
        with self._lock:
            return self._meta(name)

    def set_meta(self, name: str, value: str) -> None:
        with self.transaction():
            self._set_meta(name, value)

    def secret_meta(self, name: str) -> str | None:
        """A secret per-org value (a password, a private key), stored sealed."""
        sealed = self.meta(name)
        return None if sealed is None else self.vault.open(sealed)

    def sealed_meta(self, name: str) -> str | None:
        """The sealed form of a secret meta value, for handing to clients that hold the key."""
        return self.meta(name)

    def set_secret_meta(self, name: str, value: str) -> None:
        self.set_meta(name, self.vault.seal(value))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Serialise writers; nested calls join the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def _next_seq(self) -> int:
        seq = int(self._meta("seq") or "0") + 1
        self._set_meta("seq", str(seq))
        return seq

    # -- components ------------------------------------------------------------------------------
    def get_component(self, mtype: str, full_name: str) -> dict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM components WHERE mtype = ? AND full_name = ?", (mtype, full_name)
            ).fetchone()
        return None if row is None else self._open_json(row[0])

    def put_component(self, mtype: str, full_name: str, body: dict) -> None:
        stored = dict(body)
        stored["fullName"] = full_name
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO components (mtype, full_name, body) VALUES (?, ?, ?)",
                (mtype, full_name, self._seal_json(stored)),
            )

    def delete_component(self, mtype: str, full_name: str) -> bool:
        with self.transaction():
            cur = self._db.execute(
                "DELETE FROM components WHERE mtype = ? AND full_name = ?", (mtype, full_name)
            )
        return cur.rowcount > 0

    def list_components(self, mtype: str) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM components WHERE mtype = ? ORDER BY full_name", (mtype,)
            ).fetchall()
        return [self._open_json(r[0]) for r in rows]

    def component_types(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT mtype FROM components ORDER BY mtype").fetchall()
        return [str(r[0]) for r in rows]

    # -- records ---------------------------------------------------------------------------------
    def new_id(self, sobject: str) -> str:
        with self.transaction():
            counter = int(self._meta("id_counter") or "0") + 1
            self._set_meta("id_counter", str(counter))
        return make_id(KEY_PREFIXES.get(sobject, "a00"), self.pod, counter)

    def insert_record(self, sobject: str, fields: dict) -> str:
        with self.transaction():
            record = dict(fields)
            record_id = str(record.get("Id") or self.new_id(sobject))
            record["Id"] = record_id
            self._db.execute(
                "INSERT INTO records (sobject, id, seq, fields) VALUES (?, ?, ?, ?)",
                (sobject, record_id, self._next_seq(), json.dumps(record)),
            )
        return record_id

    def _find_row(self, sobject: str, record_id: str) -> tuple[str, dict] | None:
        # Ids may arrive in their 15-char form; match on the first 15 characters.
        row = self._db.execute(
            "SELECT id, fields FROM records WHERE sobject = ? AND substr(id, 1, 15) = ?",
            (sobject, id15(record_id)),
        ).fetchone()
        return None if row is None else (str(row[0]), dict(json.loads(row[1])))

    def get_record(self, sobject: str, record_id: str) -> dict | None:
        with self._lock:
            found = self._find_row(sobject, record_id)
        return None if found is None else found[1]

    def update_record(self, sobject: str, record_id: str, fields: dict) -> None:
        with self.transaction():
            found = self._find_row(sobject, record_id)
            if found is None:
                raise KeyError(f"{sobject} {record_id} not found")
            full_id, record = found
            record.update(fields)
            record["Id"] = full_id
            self._db.execute("UPDATE records SET fields = ? WHERE id = ?", (json.dumps(record), full_id))

    def delete_record(self, sobject: str, record_id: str) -> bool:
        with self.transaction():
            found = self._find_row(sobject, record_id)
            if found is None:
                return False
            self._db.execute("DELETE FROM records WHERE id = ?", (found[0],))
        return True

    def records(self, sobject: str) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT fields FROM records WHERE sobject = ? ORDER BY seq", (sobject,)
            ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def sobject_of(self, record_id: str) -> str | None:
        """The sObject type of any record Id (Salesforce derives types from Ids the same way)."""
        with self._lock:
            row = self._db.execute(
                "SELECT sobject FROM records WHERE substr(id, 1, 15) = ?", (id15(record_id),)
            ).fetchone()
        return None if row is None else str(row[0])

    def sobject_types(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT sobject FROM records ORDER BY sobject").fetchall()
        return [str(r[0]) for r in rows]

    def find_records(self, sobject: str, **equals: Any) -> list[dict]:
        """Records whose fields equal every keyword given (a small helper for handlers)."""
        return [r for r in self.records(sobject) if all(r.get(k) == v for k, v in equals.items())]

    # -- app records derived from components ------------------------------------------------------
    def app_record(self, mtype: str, full_name: str) -> dict | None:
        """The ConnectedApplication / ExternalClientApplication record of an app component."""
        if mtype == "ConnectedApp":
            comp = self.get_component(mtype, full_name)
            label = (comp or {}).get("label", full_name)
            for rec in self.records("ConnectedApplication"):
                if rec.get("Name") == label:
                    return rec
            return None
        if mtype == "ExternalClientApplication":
            for rec in self.records("ExternalClientApplication"):
                if rec.get("DeveloperName") == full_name:
                    return rec
        return None

    def ensure_app_record(self, mtype: str, full_name: str) -> str | None:
        """Create the app's sObject record if it does not exist yet (idempotent); return its Id.

        The Metadata API create path and the admin side (an app made "in Setup") both call this,
        so the record exists exactly once whichever created the component.
        """
        with self.transaction():
            existing = self.app_record(mtype, full_name)
            if existing is not None:
                return str(existing["Id"])
            comp = self.get_component(mtype, full_name) or {}
            label = comp.get("label", full_name)
            if mtype == "ConnectedApp":
                return self.insert_record(
                    "ConnectedApplication", {"Name": label, "OptionsAllowAdminApprovedUsersOnly": False}
                )
            if mtype == "ExternalClientApplication":
                return self.insert_record(
                    "ExternalClientApplication", {"DeveloperName": full_name, "MasterLabel": label}
                )
        return None

    def remove_app_record(self, mtype: str, full_name: str) -> None:
        """Delete the app's sObject record and the SetupEntityAccess rows that point at it."""
        with self.transaction():
            rec = self.app_record(mtype, full_name)
            if rec is None:
                return
            for sea in self.records("SetupEntityAccess"):
                if same_id(sea.get("SetupEntityId"), rec["Id"]):
                    self.delete_record("SetupEntityAccess", sea["Id"])
            sobject = "ConnectedApplication" if mtype == "ConnectedApp" else "ExternalClientApplication"
            self.delete_record(sobject, rec["Id"])

    # -- settings --------------------------------------------------------------------------------
    def setting(self, name: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        if row is None:
            return DEFAULT_SETTINGS.get(name)
        return json.loads(row[0])

    def set_setting(self, name: str, value: Any) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, json.dumps(value))
            )

    def settings(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM settings").fetchall()
        out = dict(DEFAULT_SETTINGS)
        out.update({str(n): json.loads(v) for n, v in rows})
        return out

    # -- OAuth tokens (access tokens = sessions, refresh tokens) ----------------------------------
    def add_token(
        self,
        kind: str,
        user_id: str,
        *,
        app_key: str | None = None,
        family: str | None = None,
        scope: str | None = None,
        ttl_s: float | None = None,
        record_id: str | None = None,
    ) -> str:
        """Issue a token; `kind` is "access" or "refresh". A family ties a refresh chain together."""
        token = self.org_id[:15] + "!" + new_token() if kind == "access" else new_token(64)
        now = time.time()
        with self.transaction():
            self._db.execute(
                "INSERT INTO tokens (token, kind, user_id, app_key, family, scope, created, expires,"
                " record_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token_digest(token),
                    kind,
                    user_id,
                    app_key,
                    family,
                    scope,
                    now,
                    None if ttl_s is None else now + ttl_s,
                    record_id,
                ),
            )
        return token

    def get_token(self, token: str) -> dict | None:
        """The token row, whatever its state (callers check `revoked`, `rotated`, `expires`)."""
        with self._lock:
            cur = self._db.execute("SELECT * FROM tokens WHERE token = ?", (token_digest(token),))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            return None
        found = dict(zip(names, row, strict=True))
        found["token"] = token  # the caller holds it; the table keeps only its digest
        return found

    def valid_session(self, token: str) -> dict | None:
        """The access token row if it is live, else None."""
        row = self.get_token(token)
        if row is None or row["kind"] != "access" or row["revoked"]:
            return None
        if row["expires"] is not None and row["expires"] <= time.time():
            return None
        return row

    def mark_rotated(self, token: str) -> None:
        with self.transaction():
            self._db.execute("UPDATE tokens SET rotated = 1 WHERE token = ?", (token_digest(token),))

    def revoke_family(self, family: str) -> None:
        """Revoke every token of a refresh chain, and drop their OauthToken records."""
        with self.transaction():
            rows = self._db.execute(
                "SELECT record_id FROM tokens WHERE family = ? AND record_id IS NOT NULL", (family,)
            ).fetchall()
            for (record_id,) in rows:
                self.delete_record("OauthToken", str(record_id))
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE family = ?", (family,))

    def revoke_token(self, token: str) -> bool:
        with self.transaction():
            row = self.get_token(token)
            if row is None:
                return False
            if row["family"]:
                self.revoke_family(str(row["family"]))
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE token = ?", (token_digest(token),))
        return True

    def expire_sessions(self) -> int:
        """Expire every access token now (refresh tokens stay usable, as after a session timeout)."""
        with self.transaction():
            cur = self._db.execute(
                "UPDATE tokens SET expires = ? WHERE kind = 'access' AND (expires IS NULL OR expires > ?)",
                (time.time() - 1, time.time()),
            )
        return cur.rowcount

    # -- named credential principal credentials ---------------------------------------------------
    def get_credential(
        self, external_credential: str, principal_name: str, principal_type: str
    ) -> dict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM credentials WHERE external_credential = ? AND principal_name = ?"
                " AND principal_type = ?",
                (external_credential, principal_name, principal_type),
            ).fetchone()
        return None if row is None else self._open_json(row[0])

    def put_credential(self, body: dict) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO credentials (external_credential, principal_name, principal_type,"
                " body) VALUES (?, ?, ?, ?)",
                (
                    body["externalCredential"],
                    body["principalName"],
                    body["principalType"],
                    self._seal_json(body),
                ),
            )

    def delete_credential(self, external_credential: str, principal_name: str, principal_type: str) -> bool:
        with self.transaction():
            cur = self._db.execute(
                "DELETE FROM credentials WHERE external_credential = ? AND principal_name = ?"
                " AND principal_type = ?",
                (external_credential, principal_name, principal_type),
            )
        return cur.rowcount > 0

    def delete_credentials_of(self, external_credential: str) -> int:
        """Drop every principal's credentials of an external credential (it is being deleted)."""
        with self.transaction():
            cur = self._db.execute(
                "DELETE FROM credentials WHERE lower(external_credential) = lower(?)", (external_credential,)
            )
        return cur.rowcount

    def list_credentials(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM credentials ORDER BY 1").fetchall()
        return [self._open_json(r[0]) for r in rows]

    # -- whole-org view --------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Every component, record and setting (no sessions or counters), for diffing.

        Principal credentials are included with their secret values replaced by a digest, so a
        change shows up in a diff without the secret leaving the store.
        """
        components = {t: {c["fullName"]: c for c in self.list_components(t)} for t in self.component_types()}
        records = {t: self.records(t) for t in self.sobject_types() if t != "OauthToken"}
        return {
            "org_id": self.org_id,
            "components": components,
            "records": records,
            "settings": self.settings(),
            "credentials": [_digest_secrets(c) for c in self.list_credentials()],
        }


def _digest_secrets(body: dict) -> dict:
    out = dict(body)
    creds = {}
    for name, cred in dict(body.get("credentials") or {}).items():
        value = str(cred.get("value", "")) if isinstance(cred, dict) else str(cred)
        creds[name] = {"sha256": hashlib.sha256(value.encode()).hexdigest()[:16]}
    out["credentials"] = creds
    return out


class Emulator:
    """All orgs served by one emulator process."""

    def __init__(self, state_dir: Path, aliases: list[str]) -> None:
        self.state_dir = Path(state_dir)
        self.orgs: dict[str, OrgStore] = {
            alias: OrgStore(self.state_dir / f"{alias}.sqlite", alias) for alias in aliases
        }

    def consumer_key_taken(self, key: str) -> bool:
        """True if any app of any org already uses this consumer key."""
        return self.find_app_by_key(key) is not None

    def find_app_by_key(self, key: str) -> tuple[OrgStore, str, dict] | None:
        """(org, component type, component) of the app whose consumer key is `key`."""
        for org in self.orgs.values():
            for comp in org.list_components("ConnectedApp"):
                if (comp.get("oauthConfig") or {}).get("consumerKey") == key:
                    return org, "ConnectedApp", comp
            for comp in org.list_components("ExtlClntAppGlobalOauthSettings"):
                if comp.get("consumerKey") == key:
                    return org, "ExtlClntAppGlobalOauthSettings", comp
        return None

    def close(self) -> None:
        for org in self.orgs.values():
            org.close()
