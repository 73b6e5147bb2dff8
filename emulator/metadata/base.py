"""What every component type's rules are made of, and the checks several types share.

- `Call` (what one request works on), `ComponentError` (a per-component failure, reported in the
  result's `errors`), `TypeRules` (how one type behaves beyond the WSDL) and its hook types;
- lookups for cross references (profiles, permission sets, active run-as users) and the
  `In field: ... - no ... named ... found` error;
- enum checks for fields the WSDL types as plain strings;
- consumer keys and secrets: formats, generation, create-only (connected apps and ECAs);
- read-side scope aliases, a certificate's base64 body, the audit stamp listMetadata reports.

Imports nothing of emulator.metadata_api: the type modules sit on this one, metadata_api on them.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.store import Emulator, OrgStore, case_safe_id


class ComponentError(Exception):
    """A per-component failure, reported in the result's `errors` (the call itself succeeds)."""

    def __init__(self, status_code: str, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.fields = fields


@dataclass
class Call:
    """What one request works on."""

    emulator: Emulator
    org: OrgStore
    user: dict[str, Any]


Body = dict[str, Any]
PrepareHook = Callable[[Call, Body, Body | None], None]
SaveHook = Callable[[Call, Body, Body | None], None]
DeleteHook = Callable[[Call, str, Body], None]
RenameHook = Callable[[Call, str, str], None]
LoadHook = Callable[[Call, str], Body | None]
ListHook = Callable[[Call], list[str]]
ReadHook = Callable[[Body], Body]


def _noop(*_args: Any) -> None:
    return None


def _same(body: Body) -> Body:
    return body


@dataclass(frozen=True)
class TypeRules:
    """How one component type behaves beyond the WSDL.

    prepare:       validate and fill generated fields before the write (raise ComponentError);
                   gets the stored component on update, None on create.
    after_save:    side effects after the write (sObject records, auto-created parts).
    before_delete: side effects before the component goes (cascades, records).
    after_rename:  fix references after a rename.
    write_only:    dotted paths kept in the store but never returned by readMetadata.
    hidden_unless: (dotted path, org setting): kept in the store, returned only when the org
                   setting is on (what some orgs return and others do not).
    on_read:       normalisation applied to a copy before encoding (e.g. scope aliases).
    load / names:  where components come from, if not only the component table.
    content:       the field a deploy or retrieve keeps in its own file (`<dir>/<name>.<suffix>`,
                   the metadata beside it in `<name>.<suffix>-meta.xml`), as the CLI's registry
                   says for its matchingContentFile types; None when the component is one XML file.
    """

    directory: str
    suffix: str
    id_prefix: str
    prepare: PrepareHook = _noop
    after_save: SaveHook = _noop
    before_delete: DeleteHook = _noop
    after_rename: RenameHook = _noop
    write_only: tuple[str, ...] = ()
    hidden_unless: tuple[tuple[str, str], ...] = ()
    on_read: ReadHook = _same
    load: LoadHook | None = None
    names: ListHook | None = None
    content: str | None = None


# -- shared checks ---------------------------------------------------------------------------------

# Consumer keys are not only letters and digits: tools create 85-character connected-app keys with
# underscores, and write base64 keys into ECA global settings. Secrets stay letters and digits.
CONNECTED_APP_KEY = re.compile(r"[A-Za-z0-9_]{8,256}")
CONNECTED_APP_KEY_TEXT = "letters, digits and underscores"
ECA_KEY = re.compile(r"[A-Za-z0-9_+/=-]{8,256}")
ECA_KEY_TEXT = "letters, digits and the base64 characters _ - + / ="
CONSUMER_SECRET = re.compile(r"[A-Za-z0-9]{8,256}")
# A real org's words for a key sent to an existing app; the secret's are our own (never reported:
# nothing reads a secret back, so only a client that kept it could send it).
CONSUMER_KEY_GIVEN = "You cannot provide a Consumer Key"
CONSUMER_SECRET_GIVEN = "You cannot provide a Consumer Secret"


def not_found(field_name: str, kind: str, value: str) -> ComponentError:
    return ComponentError(
        "INVALID_CROSS_REFERENCE_KEY",
        f"In field: {field_name} - no {kind} named {value} found",
        (field_name,),
    )


def profile_exists(org: OrgStore, name: str) -> bool:
    return any(r.get("Name") == name for r in org.records("Profile"))


def permission_set_record(org: OrgStore, name: str) -> Body | None:
    for record in org.records("PermissionSet"):
        if record.get("Name") == name and not record.get("IsOwnedByProfile"):
            return record
    return None


def permission_set_exists(org: OrgStore, name: str) -> bool:
    return (
        permission_set_record(org, name) is not None or org.get_component("PermissionSet", name) is not None
    )


def check_access_lists(
    call: Call,
    profiles: list[str],
    permission_sets: list[str],
    approved: bool,
    fields: tuple[str, str],
    approval: str,
) -> None:
    """The profiles and permission sets an app's policy names: allowed only when admin-approved users
    are pre-authorized (``approval`` says how the app's type spells that), and each must exist."""
    profile_field, permission_set_field = fields
    if (profiles or permission_sets) and not approved:
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            f"Profiles and permission sets can be assigned only when {approval}.",
            (profile_field if profiles else permission_set_field,),
        )
    for name in profiles:
        if not profile_exists(call.org, name):
            raise not_found(profile_field, "Profile", name)
    for name in permission_sets:
        if not permission_set_exists(call.org, name):
            raise not_found(permission_set_field, "PermissionSet", name)


def active_username(org: OrgStore, username: str) -> bool:
    """Run-as users are named by Username (not email) and must be active."""
    return any(u.get("Username") == username and u.get("IsActive", True) for u in org.records("User"))


def check_enum_text(value: str | None, enum_name: str, allowed: tuple[str, ...], field_name: str) -> None:
    """For fields the WSDL types as plain strings although Salesforce accepts only a fixed set."""
    if value is not None and value not in allowed:
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            f"'{value}' is not a valid value for the enum '{enum_name}'",
            (field_name,),
        )


def new_consumer_key() -> str:
    # Real keys start with 3MVG9 and are 85 characters; keep the look, alphanumeric only.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "3MVG9" + "".join(secrets.choice(alphabet) for _ in range(80))


def new_consumer_secret() -> str:
    return secrets.token_hex(32).upper()


def check_consumer_value(value: str, what: str, pattern: re.Pattern[str], allowed: str) -> None:
    if not pattern.fullmatch(value):
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            f"The consumer {what} must be 8 to 256 characters: {allowed}.",
            (f"consumer{what.capitalize()}",),
        )


def apply_consumer_credentials(
    call: Call,
    holder: Body,
    old: Body | None,
    *,
    key_format: tuple[re.Pattern[str], str] = (CONNECTED_APP_KEY, CONNECTED_APP_KEY_TEXT),
    rotate_key: bool = False,
    rotate_secret: bool = False,
) -> None:
    """consumerKey / consumerSecret: settable only when the app is created, generated (CSPRNG) when
    left out. Once the app exists neither may be sent at all, not even unchanged: real orgs refuse a
    deploy of a retrieved app that still carries its key ("You cannot provide a Consumer Key"), so
    every read-modify-write must drop them. `holder` is the dict carrying them (oauthConfig, or ECA
    global settings); `old` its stored counterpart, None on create."""
    key = holder.get("consumerKey")
    secret = holder.get("consumerSecret")
    if old is None:
        if key is None:
            key = new_consumer_key()
        else:
            check_consumer_value(key, "key", *key_format)
            if call.emulator.consumer_key_taken(key):
                raise ComponentError("DUPLICATE_VALUE", "The consumer key is already taken", ("consumerKey",))
        if secret is None:
            secret = new_consumer_secret()
        else:
            check_consumer_value(secret, "secret", CONSUMER_SECRET, "letters and digits")
    else:
        if key is not None:
            raise ComponentError("FIELD_INTEGRITY_EXCEPTION", CONSUMER_KEY_GIVEN, ("consumerKey",))
        if secret is not None:
            raise ComponentError("FIELD_INTEGRITY_EXCEPTION", CONSUMER_SECRET_GIVEN, ("consumerSecret",))
        key = new_consumer_key() if rotate_key else old.get("consumerKey")
        secret = new_consumer_secret() if rotate_secret else old.get("consumerSecret")
    holder["consumerKey"] = key
    holder["consumerSecret"] = secret


# Read-side aliases: Salesforce folds these scopes into their parents.
SCOPE_ALIASES = {
    "Profile": "Basic",
    "Email": "Basic",
    "Address": "Basic",
    "Phone": "Basic",
    "OfflineAccess": "RefreshToken",
}


def normalise_scopes(scopes: list[str]) -> list[str]:
    out: list[str] = []
    for scope in scopes:
        canonical = SCOPE_ALIASES.get(scope, scope)
        if canonical not in out:
            out.append(canonical)
    return out


def pem_body(text: str) -> str:
    """A certificate as retrieved files hold it: the base64 body, no BEGIN/END lines or whitespace."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("-----")]
    return "".join(lines)


def audit_stamp(call: Call, mtype: str, id_prefix: str, old: Body | None) -> Body:
    """Who/when data for listMetadata's FileProperties (an internal, non-WSDL key)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    user_id = str(call.user.get("Id", ""))
    user_name = str(call.user.get("Name") or call.user.get("Username") or "")
    audit = dict((old or {}).get("_audit") or {})
    if not audit:
        audit = {
            "id": case_safe_id(id_prefix + call.org.new_id(mtype)[3:15]),
            "createdDate": now,
            "createdById": user_id,
            "createdByName": user_name,
        }
    audit.update({"lastModifiedDate": now, "lastModifiedById": user_id, "lastModifiedByName": user_name})
    return audit
