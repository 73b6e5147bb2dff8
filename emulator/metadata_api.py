"""Metadata API SOAP endpoint (`POST /services/Soap/m/<ver>/`) of an emulated org.

The server validates the session and calls `handle_metadata_request`, which answers the CRUD calls
(createMetadata, readMetadata, updateMetadata, upsertMetadata, deleteMetadata, renameMetadata),
listMetadata and describeValueType for the types in `TYPES` and `SETTINGS`, the file-based
`deploy` / `checkDeployStatus` (emulator/deploy.py: a zip of the same types, saved as upsertMetadata
saves them and deleted as deleteMetadata deletes them; `checkOnly` validates and stores nothing),
and `retrieve` / `checkRetrieveStatus` / `describeMetadata` (emulator/retrieve.py: what readMetadata
reads, as files).

Behaviour follows /work/shared/reference/salesforce.md sections 2, 3, 5 and 7:
- requests are decoded against the WSDL (metadata_schema): an unknown element is a fault
  `sf:INVALID_FIELD`; a bad enum value is a `soapenv:Client` fault "'X' is not a valid value for the
  enum 'Y'" (Salesforce rejects both while parsing, before any component is looked at);
- every other problem is a per-component error in the SaveResult / UpsertResult / DeleteResult;
- update replaces the whole component; write-only fields (consumer secrets, a certificate's
  private key) stay in the store and are never read back;
- consumer keys and secrets are create-only: sent for an existing app (update, upsert, deploy),
  even unchanged, they are refused;
- an ECA's global OAuth settings need its OAuth settings first (create order header, OAuth
  settings, global OAuth settings); their certificate reads back only with the org setting
  `eca-certificate-readable`;
- at most 10 components per call.

Decisions where Salesforce's behaviour is not documented (keep them easy to change):
- ECA policy components created with the header are named by `ECA_AUTO_PARTS`
  (`<App>_oauthPlcy`, `<App>_plcy`, the suffixes Salesforce uses in retrieved packages).
- `oauthLink` of ExtlClntAppOauthSettings is generated per org; a deploy carrying another org's
  link is rejected (FIELD_INTEGRITY_EXCEPTION), the same org's link is accepted.
- A Certificate's `content` on read is the `.crt` file: the base64 DER body without BEGIN/END
  lines (so zeep hands clients `b"MII..."`). Content sent by a client is never imported: a private
  key in it is rejected, a certificate in it is ignored (the org signs with its own key pair).
  The private key is kept in the component under the non-WSDL key `privateKey` (PEM, PKCS#8).
- Non-WSDL keys of a stored component (`privateKey`, `_audit`) are internal: carried over on
  update, never encoded in a response.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from emulator import metadata_schema as ms
from emulator.soap import client_fault, envelope, metadata_fault, xml_text
from emulator.store import Emulator, OrgStore, case_safe_id

MAX_COMPONENTS = 10  # per CRUD call (Salesforce: "Limit: 10")
MAX_LIST_QUERIES = 3


class Discard(Exception):
    """Raised by an operation to answer `response` and roll back everything the call wrote (a
    validate-only deploy, or a failed one with rollbackOnError)."""

    def __init__(self, response: str) -> None:
        super().__init__("discarded")
        self.response = response


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
_CONNECTED_APP_KEY = re.compile(r"[A-Za-z0-9_]{8,256}")
_CONNECTED_APP_KEY_TEXT = "letters, digits and underscores"
_ECA_KEY = re.compile(r"[A-Za-z0-9_+/=-]{8,256}")
_ECA_KEY_TEXT = "letters, digits and the base64 characters _ - + / ="
_CONSUMER_SECRET = re.compile(r"[A-Za-z0-9]{8,256}")
# A real org's words for a key sent to an existing app; the secret's are our own (never reported:
# nothing reads a secret back, so only a client that kept it could send it).
CONSUMER_KEY_GIVEN = "You cannot provide a Consumer Key"
CONSUMER_SECRET_GIVEN = "You cannot provide a Consumer Secret"


def _not_found(field_name: str, kind: str, value: str) -> ComponentError:
    return ComponentError(
        "INVALID_CROSS_REFERENCE_KEY",
        f"In field: {field_name} - no {kind} named {value} found",
        (field_name,),
    )


def _profile_exists(org: OrgStore, name: str) -> bool:
    return any(r.get("Name") == name for r in org.records("Profile"))


def _permission_set_record(org: OrgStore, name: str) -> Body | None:
    for record in org.records("PermissionSet"):
        if record.get("Name") == name and not record.get("IsOwnedByProfile"):
            return record
    return None


def _permission_set_exists(org: OrgStore, name: str) -> bool:
    return (
        _permission_set_record(org, name) is not None or org.get_component("PermissionSet", name) is not None
    )


def _active_username(org: OrgStore, username: str) -> bool:
    """Run-as users are named by Username (not email) and must be active."""
    return any(u.get("Username") == username and u.get("IsActive", True) for u in org.records("User"))


def _check_enum_text(value: str | None, enum_name: str, allowed: tuple[str, ...], field_name: str) -> None:
    """For fields the WSDL types as plain strings although Salesforce accepts only a fixed set."""
    if value is not None and value not in allowed:
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            f"'{value}' is not a valid value for the enum '{enum_name}'",
            (field_name,),
        )


def _new_consumer_key() -> str:
    # Real keys start with 3MVG9 and are 85 characters; keep the look, alphanumeric only.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "3MVG9" + "".join(secrets.choice(alphabet) for _ in range(80))


def _new_consumer_secret() -> str:
    return secrets.token_hex(32).upper()


def _check_consumer_value(value: str, what: str, pattern: re.Pattern[str], allowed: str) -> None:
    if not pattern.fullmatch(value):
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            f"The consumer {what} must be 8 to 256 characters: {allowed}.",
            (f"consumer{what.capitalize()}",),
        )


def _apply_consumer_credentials(
    call: Call,
    holder: Body,
    old: Body | None,
    *,
    key_format: tuple[re.Pattern[str], str] = (_CONNECTED_APP_KEY, _CONNECTED_APP_KEY_TEXT),
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
            key = _new_consumer_key()
        else:
            _check_consumer_value(key, "key", *key_format)
            if call.emulator.consumer_key_taken(key):
                raise ComponentError("DUPLICATE_VALUE", "The consumer key is already taken", ("consumerKey",))
        if secret is None:
            secret = _new_consumer_secret()
        else:
            _check_consumer_value(secret, "secret", _CONSUMER_SECRET, "letters and digits")
    else:
        if key is not None:
            raise ComponentError("FIELD_INTEGRITY_EXCEPTION", CONSUMER_KEY_GIVEN, ("consumerKey",))
        if secret is not None:
            raise ComponentError("FIELD_INTEGRITY_EXCEPTION", CONSUMER_SECRET_GIVEN, ("consumerSecret",))
        key = _new_consumer_key() if rotate_key else old.get("consumerKey")
        secret = _new_consumer_secret() if rotate_secret else old.get("consumerSecret")
    holder["consumerKey"] = key
    holder["consumerSecret"] = secret


# Read-side aliases: Salesforce folds these scopes into their parents (reference section 2).
_SCOPE_ALIASES = {
    "Profile": "Basic",
    "Email": "Basic",
    "Address": "Basic",
    "Phone": "Basic",
    "OfflineAccess": "RefreshToken",
}


def _normalise_scopes(scopes: list[str]) -> list[str]:
    out: list[str] = []
    for scope in scopes:
        canonical = _SCOPE_ALIASES.get(scope, scope)
        if canonical not in out:
            out.append(canonical)
    return out


def _pem_body(text: str) -> str:
    """A certificate as retrieved files hold it: the base64 body, no BEGIN/END lines or whitespace."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("-----")]
    return "".join(lines)


# -- ConnectedApp -------------------------------------------------------------------------------------

_IP_RELAXATION = ("ENFORCE", "BYPASS_2FACTOR", "BYPASS", "ENFORCE_RELAXREFRESH")
_REFRESH_POLICY = re.compile(r"zero|infinite|specific_(lifetime|inactivity):[1-9][0-9]*:(HOURS|DAYS|MONTHS)")


def _prepare_connected_app(call: Call, body: Body, old: Body | None) -> None:
    if old is None and not call.org.setting("allow-connected-app-creation"):
        raise ComponentError(
            "INSUFFICIENT_ACCESS",
            "New connected apps can't be created in this org. Create an external client app instead, "
            "or ask Salesforce Support to enable connected app creation for this org.",
        )
    oauth = body.get("oauthConfig")
    profiles = body.get("profileName") or []
    permission_sets = body.get("permissionSetName") or []
    if (profiles or permission_sets) and not (oauth or {}).get("isAdminApproved"):
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            "Profiles and permission sets can be assigned only when admin approved users are "
            "pre-authorized (oauthConfig.isAdminApproved = true).",
            ("profileName" if profiles else "permissionSetName",),
        )
    for name in profiles:
        if not _profile_exists(call.org, name):
            raise _not_found("profileName", "Profile", name)
    for name in permission_sets:
        if not _permission_set_exists(call.org, name):
            raise _not_found("permissionSetName", "PermissionSet", name)
    _check_oauth_policy(body.get("oauthPolicy"))
    if oauth is not None:
        _prepare_oauth_config(call, oauth, (old or {}).get("oauthConfig"))


def _check_oauth_policy(policy: Body | None) -> None:
    if policy is None:
        return
    _check_enum_text(
        policy.get("ipRelaxation"), "ConnectedAppOauthIpRelaxation", _IP_RELAXATION, "ipRelaxation"
    )
    refresh = policy.get("refreshTokenPolicy")
    if refresh is not None and not _REFRESH_POLICY.fullmatch(refresh):
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            f"'{refresh}' is not a valid value for the enum 'ConnectedAppOauthRefreshTokenPolicy'",
            ("refreshTokenPolicy",),
        )


def _prepare_oauth_config(call: Call, oauth: Body, old_oauth: Body | None) -> None:
    user = oauth.get("oauthClientCredentialUser")
    if oauth.get("isClientCredentialEnabled") and not user:
        raise ComponentError(
            "REQUIRED_FIELD_MISSING",
            "Required field is missing: oauthClientCredentialUser "
            "(the client credentials flow needs a run-as user)",
            ("oauthClientCredentialUser",),
        )
    if user and not _active_username(call.org, user):
        raise _not_found("oauthClientCredentialUser", "active User with username", user)
    if oauth.get("certificate"):
        oauth["certificate"] = _pem_body(oauth["certificate"])
    _apply_consumer_credentials(call, oauth, old_oauth)


def _connected_app_saved(call: Call, body: Body, old: Body | None) -> None:
    """Keep the ConnectedApplication sObject record in step with the component."""
    org = call.org
    admin_only = bool((body.get("oauthConfig") or {}).get("isAdminApproved"))
    if old is None:
        record_id = org.ensure_app_record("ConnectedApp", body["fullName"])
    else:
        # The record is found by Name = label, so look it up under the label it had before.
        matches = org.find_records("ConnectedApplication", Name=old.get("label"))
        record_id = matches[0]["Id"] if matches else org.ensure_app_record("ConnectedApp", body["fullName"])
    if record_id:
        org.update_record(
            "ConnectedApplication",
            record_id,
            {"Name": body.get("label"), "OptionsAllowAdminApprovedUsersOnly": admin_only},
        )


def _connected_app_deleting(call: Call, name: str, body: Body) -> None:
    call.org.remove_app_record("ConnectedApp", name)


def _connected_app_read(body: Body) -> Body:
    oauth = body.get("oauthConfig")
    if oauth and oauth.get("scopes"):
        oauth["scopes"] = _normalise_scopes(oauth["scopes"])
    return body


# -- External Client Apps ------------------------------------------------------------------------------

# Parts Salesforce creates with the header, and their names. Change the templates here only.
ECA_AUTO_PARTS: dict[str, str] = {
    "ExtlClntAppOauthConfigurablePolicies": "{app}_oauthPlcy",
    "ExtlClntAppConfigurablePolicies": "{app}_plcy",
}
ECA_PART_TYPES = (
    "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthSettings",
    "ExtlClntAppOauthConfigurablePolicies",
    "ExtlClntAppConfigurablePolicies",
)


def _default_eca_part(mtype: str, app: str, label: str) -> Body:
    if mtype == "ExtlClntAppOauthConfigurablePolicies":
        return {
            "externalClientApplication": app,
            "label": label,
            "ipRelaxationPolicyType": "Enforce",
            "isClientCredentialsFlowEnabled": False,
            "isTokenExchangeFlowEnabled": False,
            "permittedUsersPolicyType": "AllSelfAuthorized",
            "refreshTokenPolicyType": "Infinite",
        }
    return {"externalClientApplication": app, "label": label, "isEnabled": True, "isOauthPluginEnabled": True}


def _prepare_eca(call: Call, body: Body, old: Body | None) -> None:
    # Generated by Salesforce; whatever the client sends is replaced.
    body["orgScopedExternalApp"] = (old or {}).get(
        "orgScopedExternalApp"
    ) or f"{call.org.org_id[:15]}:{body['fullName']}"


def _eca_saved(call: Call, body: Body, old: Body | None) -> None:
    org = call.org
    app = body["fullName"]
    record_id = org.ensure_app_record("ExternalClientApplication", app)
    if record_id:
        org.update_record("ExternalClientApplication", record_id, {"MasterLabel": body.get("label", app)})
    if old is not None:
        return
    for mtype, template in ECA_AUTO_PARTS.items():
        name = template.format(app=app)
        if org.get_component(mtype, name) is None:
            part = _default_eca_part(mtype, app, str(body.get("label") or app))
            part["_audit"] = _audit(call, mtype, None)
            org.put_component(mtype, name, part)


def _eca_parts(org: OrgStore, app: str) -> list[tuple[str, Body]]:
    return [
        (mtype, comp)
        for mtype in ECA_PART_TYPES
        for comp in org.list_components(mtype)
        if comp.get("externalClientApplication") == app
    ]


def _eca_deleting(call: Call, name: str, body: Body) -> None:
    """Deleting the header takes its parts, its sObject record and the access rows with it."""
    for mtype, part in _eca_parts(call.org, name):
        call.org.delete_component(mtype, part["fullName"])
    call.org.remove_app_record("ExternalClientApplication", name)


def _eca_renamed(call: Call, old: str, new: str) -> None:
    org = call.org
    for mtype, part in _eca_parts(org, old):
        part["externalClientApplication"] = new
        org.put_component(mtype, part["fullName"], part)
    for record in org.find_records("ExternalClientApplication", DeveloperName=old):
        org.update_record("ExternalClientApplication", record["Id"], {"DeveloperName": new})


def _require_eca(call: Call, body: Body) -> None:
    app = body.get("externalClientApplication")
    if app and call.org.get_component("ExternalClientApplication", app) is None:
        raise _not_found("externalClientApplication", "ExternalClientApplication", app)


def _require_eca_oauth_settings(call: Call, body: Body) -> None:
    """Orgs build an ECA as header, then OAuth settings, then global OAuth settings; global
    settings for an app that has no OAuth settings yet are refused. The real answer is reported
    only as a failure: this code and text are ours (a missing cross reference, as for a wrong
    header name)."""
    app = body.get("externalClientApplication")
    settings = call.org.list_components("ExtlClntAppOauthSettings")
    if not app or any(part.get("externalClientApplication") == app for part in settings):
        return
    raise ComponentError(
        "INVALID_CROSS_REFERENCE_KEY",
        f"In field: externalClientApplication - the External Client App {app} has no OAuth settings "
        "(ExtlClntAppOauthSettings) yet: create them before its global OAuth settings",
        ("externalClientApplication",),
    )


def _prepare_eca_global_oauth(call: Call, body: Body, old: Body | None) -> None:
    _require_eca(call, body)
    if old is None:
        _require_eca_oauth_settings(call, body)
    if body.get("certificate"):
        body["certificate"] = _pem_body(body["certificate"])
    _apply_consumer_credentials(
        call,
        body,
        old,
        key_format=(_ECA_KEY, _ECA_KEY_TEXT),
        rotate_key=bool(body.get("shouldRotateConsumerKey")),
        rotate_secret=bool(body.get("shouldRotateConsumerSecret")),
    )
    # The rotate flags are requests, not state: a later deploy must not rotate again.
    body.pop("shouldRotateConsumerKey", None)
    body.pop("shouldRotateConsumerSecret", None)


def _oauth_link(org: OrgStore, app: str) -> str:
    return f"{org.org_id}/{app}"


def _prepare_eca_oauth(call: Call, body: Body, old: Body | None) -> None:
    _require_eca(call, body)
    app = body.get("externalClientApplication", "")
    link = _oauth_link(call.org, app)
    sent = body.get("oauthLink")
    if sent and sent != link:
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            "The oauthLink belongs to another org. Remove oauthLink from the component before deploying it.",
            ("oauthLink",),
        )
    body["oauthLink"] = link
    scopes = [s.strip() for s in (body.get("commaSeparatedOauthScopes") or "").split(",") if s.strip()]
    allowed = ms.schema().enums["ConnectedAppOauthAccessScope"]
    for scope in scopes:
        _check_enum_text(scope, "ConnectedAppOauthAccessScope", allowed, "commaSeparatedOauthScopes")


def _eca_oauth_read(body: Body) -> Body:
    scopes = [s.strip() for s in (body.get("commaSeparatedOauthScopes") or "").split(",") if s.strip()]
    if scopes:
        body["commaSeparatedOauthScopes"] = ", ".join(_normalise_scopes(scopes))
    return body


_ECA_IP_RELAXATION = ("Enforce", "Bypass", "Bypass_2factor", "Enforce_RelaxRefresh")
_VALIDITY_UNITS = ("Days", "Hours", "Months")
_BAD_RUN_AS_USER = "Enter a valid execution user for the OAuth client credentials flow."


def _split_names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _prepare_eca_oauth_policies(call: Call, body: Body, old: Body | None) -> None:
    _require_eca(call, body)
    _check_enum_text(
        body.get("ipRelaxationPolicyType"),
        "ExtlClntAppIpRelaxationPolicyType",
        _ECA_IP_RELAXATION,
        "ipRelaxationPolicyType",
    )
    _check_enum_text(
        body.get("refreshTokenValidityUnit"),
        "ExtlClntAppRefreshTokenValidityUnit",
        _VALIDITY_UNITS,
        "refreshTokenValidityUnit",
    )
    user = body.get("clientCredentialsFlowUser")
    if body.get("isClientCredentialsFlowEnabled") and not user:
        raise ComponentError("REQUIRED_FIELD_MISSING", _BAD_RUN_AS_USER, ("clientCredentialsFlowUser",))
    if user and not _active_username(call.org, user):
        raise ComponentError("INVALID_CROSS_REFERENCE_KEY", _BAD_RUN_AS_USER, ("clientCredentialsFlowUser",))
    profiles = _split_names(body.get("commaSeparatedProfile"))
    permission_sets = _split_names(body.get("commaSeparatedPermissionSet"))
    if (profiles or permission_sets) and body.get("permittedUsersPolicyType") != "AdminApprovedPreAuthorized":
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            "Profiles and permission sets can be assigned only when permittedUsersPolicyType is "
            "AdminApprovedPreAuthorized.",
            ("commaSeparatedProfile" if profiles else "commaSeparatedPermissionSet",),
        )
    for name in profiles:
        if not _profile_exists(call.org, name):
            raise _not_found("commaSeparatedProfile", "Profile", name)
    for name in permission_sets:
        if not _permission_set_exists(call.org, name):
            raise _not_found("commaSeparatedPermissionSet", "PermissionSet", name)


def _prepare_eca_policies(call: Call, body: Body, old: Body | None) -> None:
    _require_eca(call, body)


# -- Certificate -------------------------------------------------------------------------------------

_KEY_SIZES = (2048, 4096)


def _prepare_certificate(call: Call, body: Body, old: Body | None) -> None:
    sent = body.get("content")
    if sent and b"PRIVATE KEY" in _b64decode_lenient(sent):
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            "Private keys can't be imported through the Metadata API: the org generates the key pair "
            "of a certificate itself.",
            ("content",),
        )
    if old is not None:
        # The key pair and the certificate are fixed at creation; only labels and flags change.
        for name in ("content", "keySize", "expirationDate", "privateKey"):
            body[name] = old.get(name)
        return
    if body.get("caSigned"):
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION",
            "The emulator issues self-signed certificates only: set caSigned to false.",
            ("caSigned",),
        )
    key_size = body.get("keySize", 2048)
    if key_size not in _KEY_SIZES:
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION", f"Invalid key size {key_size}: use 2048 or 4096.", ("keySize",)
        )
    expires = _parse_expiration(body.get("expirationDate"))
    key_pem, der_b64 = _self_signed(body["masterLabel"], call.org.org_id, key_size, expires)
    body["keySize"] = key_size
    body["expirationDate"] = expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body["content"] = base64.b64encode(der_b64.encode()).decode()  # base64Binary of the .crt file
    body["privateKey"] = key_pem


def _b64decode_lenient(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except ValueError:
        return text.encode()


def _parse_expiration(value: str | None) -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    if not value:
        return now + dt.timedelta(days=365)  # Salesforce's default for a self-signed certificate
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION", f"'{value}' is not a valid dateTime", ("expirationDate",)
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if when <= now:
        raise ComponentError(
            "FIELD_INTEGRITY_EXCEPTION", "The expiration date must be in the future.", ("expirationDate",)
        )
    return when


def _self_signed(label: str, org_id: str, key_size: int, expires: dt.datetime) -> tuple[str, str]:
    """A new RSA key (PEM, PKCS#8) and a self-signed certificate (base64 DER) named after the label."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, label),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_id[:15]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "orglink emulator"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(expires)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


# -- ExternalCredential / NamedCredential / PermissionSet -----------------------------------------------


# Parameter types an OAuth external credential cannot do without, whatever its variant.
_OAUTH_REQUIRED_PARAMETERS = ("AuthProtocolVariant", "AuthProviderUrl")
_PRINCIPAL_PARAMETERS = ("NamedPrincipal", "PerUserPrincipal")
DEFAULT_PARAMETER_GROUP = "DefaultGroup"


def _parameters(body: Body) -> list[Body]:
    raw = body.get("externalCredentialParameters") or []
    return [p for p in (raw if isinstance(raw, list) else [raw]) if isinstance(p, dict)]


def _require_oauth_parameters(body: Body, params: list[Body]) -> None:
    """An OAuth credential names its variant and token URL; the error lists every required type."""
    if str(body.get("authenticationProtocol") or "").lower() != "oauth":
        return
    present = {p.get("parameterType") for p in params}
    if all(ptype in present for ptype in _OAUTH_REQUIRED_PARAMETERS):
        return
    variants = [p.get("parameterValue") for p in params if p.get("parameterType") == "AuthProtocolVariant"]
    protocol = " ".join(str(part) for part in (body.get("authenticationProtocol"), *variants[:1]) if part)
    raise ComponentError(
        "FIELD_INTEGRITY_EXCEPTION",
        f'The authentication protocol "{protocol}" requires the following external credential parameter '
        f"types: {', '.join(_OAUTH_REQUIRED_PARAMETERS)}.",
        ("externalCredentialParameters",),
    )


def _prepare_external_credential(call: Call, body: Body, old: Body | None) -> None:
    params = _parameters(body)
    for param in params:
        cert = param.get("certificate")
        if cert and call.org.get_component("Certificate", cert) is None:
            raise _not_found("certificate", "Certificate", cert)
    _require_oauth_parameters(body, params)
    for param in params:
        # As a retrieve shows them: a principal is its own group, every other parameter the default's.
        principal = param.get("parameterType") in _PRINCIPAL_PARAMETERS
        group = param.get("parameterName") if principal else DEFAULT_PARAMETER_GROUP
        param.setdefault("parameterGroup", group)
    body["externalCredentialParameters"] = params


def _external_credential_deleting(call: Call, name: str, body: Body) -> None:
    """Its principals go with it, and so do the credentials stored for them (decision: Salesforce
    documents no way to keep a principal's credentials without its external credential)."""
    call.org.delete_credentials_of(name)


def _prepare_named_credential(call: Call, body: Body, old: Body | None) -> None:
    for param in body.get("namedCredentialParameters") or []:
        if param.get("parameterType") != "Authentication":
            continue
        ext = param.get("externalCredential")
        if not ext:
            raise ComponentError(
                "REQUIRED_FIELD_MISSING",
                "Required field is missing: externalCredential",
                ("externalCredential",),
            )
        if call.org.get_component("ExternalCredential", ext) is None:
            raise _not_found("externalCredential", "ExternalCredential", ext)


_PRINCIPAL_TYPES = ("NamedPrincipal", "PerUserPrincipal")


def _principal_exists(org: OrgStore, ref: str) -> bool:
    """`<ExternalCredential>-<Principal>`: API names cannot contain '-', so split at the first one."""
    ext_name, _, principal = ref.partition("-")
    ext = org.get_component("ExternalCredential", ext_name)
    if ext is None or not principal:
        return False
    return any(
        p.get("parameterType") in _PRINCIPAL_TYPES and p.get("parameterName") == principal
        for p in ext.get("externalCredentialParameters") or []
    )


def _prepare_permission_set(call: Call, body: Body, old: Body | None) -> None:
    for access in body.get("externalCredentialPrincipalAccesses") or []:
        ref = access.get("externalCredentialPrincipal", "")
        if not _principal_exists(call.org, ref):
            raise _not_found("externalCredentialPrincipal", "ExternalCredentialPrincipal", ref)


def _load_permission_set(call: Call, name: str) -> Body | None:
    """Seeded permission sets exist as records only; they read as minimal components."""
    component = call.org.get_component("PermissionSet", name)
    if component is not None:
        return component
    record = _permission_set_record(call.org, name)
    if record is None:
        return None
    return {"fullName": name, "label": record.get("Label") or name, "description": record.get("Description")}


def _permission_set_names(call: Call) -> list[str]:
    names = {c["fullName"] for c in call.org.list_components("PermissionSet")}
    names.update(r["Name"] for r in call.org.records("PermissionSet") if not r.get("IsOwnedByProfile"))
    return sorted(names)


def _permission_set_saved(call: Call, body: Body, old: Body | None) -> None:
    """Users are assigned permission sets through records, so the record must exist too."""
    record = _permission_set_record(call.org, body["fullName"])
    fields = {"Label": body.get("label"), "Description": body.get("description")}
    if record is None:
        call.org.insert_record(
            "PermissionSet", {"Name": body["fullName"], "IsOwnedByProfile": False, "IsCustom": True, **fields}
        )
    else:
        call.org.update_record("PermissionSet", record["Id"], fields)


def _permission_set_deleting(call: Call, name: str, body: Body) -> None:
    record = _permission_set_record(call.org, name)
    if record is None:
        return
    for sobject, key in (("PermissionSetAssignment", "PermissionSetId"), ("SetupEntityAccess", "ParentId")):
        for row in call.org.records(sobject):
            if str(row.get(key, ""))[:15] == record["Id"][:15]:
                call.org.delete_record(sobject, row["Id"])
    call.org.delete_record("PermissionSet", record["Id"])


def _permission_set_renamed(call: Call, old: str, new: str) -> None:
    record = _permission_set_record(call.org, old)
    if record is not None:
        call.org.update_record("PermissionSet", record["Id"], {"Name": new})


# -- the type table ----------------------------------------------------------------------------------

# One row per component type: file location for listMetadata, Id prefix, and the hooks above.
# fmt: off
TYPES: dict[str, TypeRules] = {
    "ConnectedApp": TypeRules(
        "connectedApps", "connectedApp", "0H4",
        prepare=_prepare_connected_app, after_save=_connected_app_saved,
        before_delete=_connected_app_deleting, on_read=_connected_app_read,
        write_only=("oauthConfig.consumerSecret",),
    ),
    "ExternalClientApplication": TypeRules(
        "externalClientApps", "eca", "0xI",
        prepare=_prepare_eca, after_save=_eca_saved, before_delete=_eca_deleting, after_rename=_eca_renamed,
    ),
    # OAuth settings before global OAuth settings: a deploy saves in this order, as orgs need.
    "ExtlClntAppOauthSettings": TypeRules(
        "extlClntAppOauthSettings", "ecaOauth", "0x9",
        prepare=_prepare_eca_oauth, on_read=_eca_oauth_read,
    ),
    # The generated consumerKey reads back, the secret never; the certificate only where the org
    # setting says so (one tool reports it does not come back).
    "ExtlClntAppGlobalOauthSettings": TypeRules(
        "extlClntAppGlobalOauthSets", "ecaGlblOauth", "0x8",
        prepare=_prepare_eca_global_oauth, write_only=("consumerSecret",),
        hidden_unless=(("certificate", "eca-certificate-readable"),),
    ),
    "ExtlClntAppOauthConfigurablePolicies": TypeRules(
        "extlClntAppOauthPolicies", "ecaOauthPlcy", "0xA", prepare=_prepare_eca_oauth_policies,
    ),
    "ExtlClntAppConfigurablePolicies": TypeRules(
        "extlClntAppPolicies", "ecaPlcy", "0xB", prepare=_prepare_eca_policies,
    ),
    "Certificate": TypeRules("certs", "crt", "0P1", prepare=_prepare_certificate, content="content"),
    "ExternalCredential": TypeRules(
        "externalCredentials", "externalCredential", "0pt", prepare=_prepare_external_credential,
        before_delete=_external_credential_deleting,
    ),
    "NamedCredential": TypeRules(
        "namedCredentials", "namedCredential", "0XA", prepare=_prepare_named_credential,
    ),
    "PermissionSet": TypeRules(
        "permissionsets", "permissionset", "0PS",
        prepare=_prepare_permission_set, after_save=_permission_set_saved,
        before_delete=_permission_set_deleting, after_rename=_permission_set_renamed,
        load=_load_permission_set, names=_permission_set_names,
    ),
}
# fmt: on

# Org settings exposed as Settings components: {type: (fullName, {field: store setting name})}.
# Fields without a mapping are kept under "<type>.<field>".
SETTINGS: dict[str, tuple[str, dict[str, str]]] = {
    "ExternalClientAppSettings": (
        "ExternalClientApp",
        {"enableClientSecretInRestApiAccess": "enable-client-secret-in-rest-api"},
    ),
    "ConnectedAppSettings": ("ConnectedApp", {}),
}


# -- component operations ----------------------------------------------------------------------------


@dataclass
class Outcome:
    full_name: str
    error: ComponentError | None = None
    created: bool = False


def _audit(call: Call, mtype: str, old: Body | None) -> Body:
    """Who/when data for listMetadata's FileProperties (an internal, non-WSDL key)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    user_id = str(call.user.get("Id", ""))
    user_name = str(call.user.get("Name") or call.user.get("Username") or "")
    audit = dict((old or {}).get("_audit") or {})
    if not audit:
        prefix = TYPES[mtype].id_prefix if mtype in TYPES else "000"
        audit = {
            "id": case_safe_id(prefix + call.org.new_id(mtype)[3:15]),
            "createdDate": now,
            "createdById": user_id,
            "createdByName": user_name,
        }
    audit.update({"lastModifiedDate": now, "lastModifiedById": user_id, "lastModifiedByName": user_name})
    return audit


def _load(call: Call, mtype: str, name: str) -> Body | None:
    rules = TYPES[mtype]
    if rules.load is not None:
        return rules.load(call, name)
    return call.org.get_component(mtype, name)


def _save(call: Call, mtype: str, body: Body, mode: str) -> Outcome:
    """One component of a create / update / upsert call; `mode` is one of those three words."""
    name = body.get("fullName") or ""
    try:
        if not name:
            raise ComponentError(
                "REQUIRED_FIELD_MISSING", "Required field is missing: fullName", ("fullName",)
            )
        if mtype in SETTINGS:
            _save_settings(call, mtype, body)
            return Outcome(name)
        return Outcome(name, created=_save_component(call, mtype, body, mode))
    except ComponentError as exc:
        return Outcome(name, error=exc)


save_component = _save  # for emulator.deploy: a deployed file is saved as upsertMetadata saves it


def _save_component(call: Call, mtype: str, body: Body, mode: str) -> bool:
    rules = TYPES[mtype]
    name = body["fullName"]
    old = _load(call, mtype, name)
    if mode == "create" and old is not None:
        raise ComponentError(
            "DUPLICATE_VALUE",
            "duplicate value found: fullName duplicates an existing component",
            ("fullName",),
        )
    if mode == "update" and old is None:
        raise _not_found("fullName", mtype, name)
    missing = ms.first_missing_required(body, mtype)
    if missing:
        raise ComponentError("REQUIRED_FIELD_MISSING", f"Required field is missing: {missing}", (missing,))
    known = ms.schema().fields(mtype) or {}
    for key, value in (old or {}).items():
        if key not in known:  # internal keys (private key, audit) survive the whole-component replace
            body.setdefault(key, value)
    rules.prepare(call, body, old)
    body["_audit"] = _audit(call, mtype, old)
    call.org.put_component(mtype, name, body)
    rules.after_save(call, body, old)
    return old is None


def _settings_body(call: Call, mtype: str) -> Body:
    full_name, mapping = SETTINGS[mtype]
    body: Body = {"fullName": full_name}
    for name, fld in (ms.schema().fields(mtype) or {}).items():
        if name == "fullName" or fld.kind != "boolean":
            continue
        value = call.org.setting(mapping.get(name, f"{mtype}.{name}"))
        body[name] = bool(value)
    return body


def _save_settings(call: Call, mtype: str, body: Body) -> None:
    """Settings always exist: create, update and upsert all write them (update semantics)."""
    full_name, mapping = SETTINGS[mtype]
    if body["fullName"] != full_name:
        raise _not_found("fullName", mtype, body["fullName"])
    for name, fld in (ms.schema().fields(mtype) or {}).items():
        if name == "fullName" or fld.kind != "boolean":
            continue
        key, value = mapping.get(name, f"{mtype}.{name}"), bool(body.get(name, False))
        # A flag deployed with the value it already has changes nothing (no new stored setting),
        # so a snapshot after a read-modify-write of one flag differs only in that flag.
        if bool(call.org.setting(key)) != value:
            call.org.set_setting(key, value)


def readable(call: Call, mtype: str, name: str) -> Body | None:
    """The component as a client may see it (readMetadata, retrieve): write-only fields dropped,
    read-side normalisation applied; None when it does not exist."""
    if mtype in SETTINGS:
        body = _settings_body(call, mtype) if name == SETTINGS[mtype][0] else None
    else:
        body = _load(call, mtype, name)
    if body is None:
        return None
    body = copy.deepcopy(body)
    body["fullName"] = name
    if mtype in TYPES:
        rules = TYPES[mtype]
        hidden = [path for path, setting in rules.hidden_unless if not call.org.setting(setting)]
        for path in (*rules.write_only, *hidden):
            _drop_path(body, path.split("."))
        body = rules.on_read(body)
    return body


def _read_one(call: Call, mtype: str, name: str) -> str:
    body = readable(call, mtype, name)
    if body is None:
        return '<records xsi:nil="true"/>'
    return f'<records xsi:type="{mtype}">{ms.encode(body, mtype)}</records>'


def _drop_path(body: Body, path: list[str]) -> None:
    if len(path) == 1:
        body.pop(path[0], None)
        return
    nested = body.get(path[0])
    for item in nested if isinstance(nested, list) else [nested]:
        if isinstance(item, dict):
            _drop_path(item, path[1:])


def _delete(call: Call, mtype: str, name: str) -> Outcome:
    """One component of a deleteMetadata call (and of a deploy's destructive changes)."""
    try:
        if mtype in SETTINGS:
            raise ComponentError("INVALID_OPERATION", f"{mtype} can't be deleted: settings always exist.")
        old = _load(call, mtype, name)
        if old is None:
            raise _not_found("fullName", mtype, name)
        TYPES[mtype].before_delete(call, name, old)
        call.org.delete_component(mtype, name)
        return Outcome(name)
    except ComponentError as exc:
        return Outcome(name, error=exc)


def _rename(call: Call, mtype: str, old_name: str, new_name: str) -> Outcome:
    try:
        if mtype in SETTINGS:
            raise ComponentError("INVALID_OPERATION", f"{mtype} can't be renamed.")
        body = _load(call, mtype, old_name)
        if body is None:
            raise _not_found("oldFullName", mtype, old_name)
        if not new_name:
            raise ComponentError(
                "REQUIRED_FIELD_MISSING", "Required field is missing: newFullName", ("newFullName",)
            )
        if _load(call, mtype, new_name) is not None:
            raise ComponentError(
                "DUPLICATE_VALUE",
                "duplicate value found: newFullName names an existing component",
                ("newFullName",),
            )
        rules = TYPES[mtype]
        body = dict(body)
        body["_audit"] = _audit(call, mtype, body)
        # The ConnectedApplication record is found by label, which a rename keeps: it stays as is.
        call.org.delete_component(mtype, old_name)
        call.org.put_component(mtype, new_name, body)
        rules.after_rename(call, old_name, new_name)
        return Outcome(new_name)
    except ComponentError as exc:
        return Outcome(new_name, error=exc)


delete_component = _delete  # for emulator.deploy: destructive changes delete as deleteMetadata does


def _names(call: Call, mtype: str) -> list[str]:
    if mtype in SETTINGS:
        return [SETTINGS[mtype][0]]
    rules = TYPES[mtype]
    if rules.names is not None:
        return rules.names(call)
    return [c["fullName"] for c in call.org.list_components(mtype)]


component_names = _names  # for emulator.retrieve: `*` names what listMetadata lists


def exists(call: Call, mtype: str, name: str) -> bool:
    if mtype in SETTINGS:
        return name == SETTINGS[mtype][0]
    return _load(call, mtype, name) is not None


def file_name(mtype: str, name: str) -> str:
    """Where a component lives in a deploy or retrieve zip (the CLI registry's directory and suffix)."""
    if mtype in SETTINGS:
        return f"settings/{SETTINGS[mtype][0]}.settings"
    return f"{TYPES[mtype].directory}/{name}.{TYPES[mtype].suffix}"


def file_properties(call: Call, mtype: str, name: str) -> Body:
    """listMetadata's FileProperties of one component (retrieve reports the same)."""
    body = {} if mtype in SETTINGS else (_load(call, mtype, name) or {})
    audit = body.get("_audit") or {}
    epoch = "1970-01-01T00:00:00.000Z"
    record_id = audit.get("id", "")
    if mtype in ("ConnectedApp", "ExternalClientApplication"):
        record = call.org.app_record(mtype, name)
        record_id = record["Id"] if record else record_id
    return {
        "createdById": audit.get("createdById", ""),
        "createdByName": audit.get("createdByName", ""),
        "createdDate": audit.get("createdDate", epoch),
        "fileName": file_name(mtype, name),
        "fullName": name,
        "id": record_id,
        "lastModifiedById": audit.get("lastModifiedById", ""),
        "lastModifiedByName": audit.get("lastModifiedByName", ""),
        "lastModifiedDate": audit.get("lastModifiedDate", epoch),
        "manageableState": "unmanaged",
        "type": mtype,
    }


def _file_properties(call: Call, mtype: str, name: str) -> str:
    return f"<result>{ms.encode(file_properties(call, mtype, name), 'FileProperties')}</result>"


# -- request handling --------------------------------------------------------------------------------


def _children(element: Any, name: str) -> list[Any]:
    return [c for c in element if isinstance(c.tag, str) and ms.local_name(c) == (ms.MD_NS, name)]


def _text(element: Any, name: str) -> str:
    found = _children(element, name)
    return (found[0].text or "").strip() if found else ""


def _check_type(mtype: str) -> None:
    if mtype in TYPES or mtype in SETTINGS:
        return
    if ms.schema().is_metadata_type(mtype):
        raise ms.SchemaViolation("INVALID_TYPE", f"The emulator does not support metadata type {mtype}")
    raise ms.SchemaViolation("INVALID_TYPE", f"Unknown type name '{mtype}' specified")


def _check_count(count: int) -> None:
    if count > MAX_COMPONENTS:
        raise ms.SchemaViolation(
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_COMPONENTS} records in this operation",
        )


def _decode_components(op: Any) -> list[tuple[str, Body]]:
    elements = _children(op, "metadata")
    _check_count(len(elements))
    out: list[tuple[str, Body]] = []
    for element in elements:
        mtype = ms.resolve_xsi_type(element)
        if mtype is None:
            raise ms.SchemaViolation(
                "INVALID_TYPE",
                "A metadata element needs an xsi:type naming its component type, e.g. ConnectedApp",
            )
        _check_type(mtype)
        out.append((mtype, ms.decode(element, mtype)))
    return out


def _error_xml(error: ComponentError) -> str:
    fields = "".join(f"<fields>{xml_text(f)}</fields>" for f in error.fields)
    return (
        f"<errors>{fields}<message>{xml_text(error.message)}</message>"
        f"<statusCode>{xml_text(error.status_code)}</statusCode></errors>"
    )


def _result_xml(outcome: Outcome, with_created: bool = False) -> str:
    created = f"<created>{xml_text(outcome.created)}</created>" if with_created else ""
    errors = _error_xml(outcome.error) if outcome.error else ""
    success = xml_text(outcome.error is None)
    full_name = f"<fullName>{xml_text(outcome.full_name)}</fullName>"
    return f"<result>{created}{errors}{full_name}<success>{success}</success></result>"


def _op_save(mode: str) -> Callable[[Call, Any], str]:
    def handle(call: Call, op: Any) -> str:
        outcomes = [_save(call, mtype, body, mode) for mtype, body in _decode_components(op)]
        return "".join(_result_xml(o, with_created=mode == "upsert") for o in outcomes)

    return handle


def _names_request(op: Any) -> tuple[str, list[str]]:
    mtype = _text(op, "type")
    _check_type(mtype)
    names = [(e.text or "").strip() for e in _children(op, "fullNames")]
    _check_count(len(names))
    return mtype, names


def _op_read(call: Call, op: Any) -> str:
    mtype, names = _names_request(op)
    if not names:
        # An empty <result/> crashes zeep-based clients; Salesforce requires at least one name.
        raise ms.SchemaViolation("REQUIRED_FIELD_MISSING", "Required field is missing: fullNames")
    return "<result>" + "".join(_read_one(call, mtype, n) for n in names) + "</result>"


def _op_delete(call: Call, op: Any) -> str:
    mtype, names = _names_request(op)
    return "".join(_result_xml(_delete(call, mtype, n)) for n in names)


def _op_rename(call: Call, op: Any) -> str:
    mtype = _text(op, "type")
    _check_type(mtype)
    return _result_xml(_rename(call, mtype, _text(op, "oldFullName"), _text(op, "newFullName")))


def _op_list(call: Call, op: Any) -> str:
    queries = _children(op, "queries")
    if len(queries) > MAX_LIST_QUERIES:
        raise ms.SchemaViolation("INVALID_CROSS_REFERENCE_KEY", "A listMetadata call takes at most 3 queries")
    parts: list[str] = []
    for query in queries:
        mtype = ms.decode(query, "ListMetadataQuery").get("type", "")
        _check_type(mtype)
        parts.extend(_file_properties(call, mtype, name) for name in _names(call, mtype))
    return "".join(parts)


def _op_describe(call: Call, op: Any) -> str:
    raw = _text(op, "type")
    mtype = raw.rpartition("}")[2] if raw.startswith("{") else raw
    _check_type(mtype)
    fields = ms.schema().fields(mtype) or {}
    value_fields = "".join(
        "<valueTypeFields>"
        f"<isForeignKey>false</isForeignKey><isNameField>{xml_text(f.name == 'fullName')}</isNameField>"
        f"<minOccurs>{int(f.required)}</minOccurs><name>{f.name}</name>"
        f"<soapType>{f.type_name}</soapType><valueRequired>{xml_text(f.required)}</valueRequired>"
        "</valueTypeFields>"
        for f in fields.values()
    )
    flags = "".join(
        f"<{n}>true</{n}>" for n in ("apiCreatable", "apiDeletable", "apiReadable", "apiUpdatable")
    )
    return f"<result>{flags}{value_fields}</result>"


Operation = Callable[[Call, Any], str]
# The component calls. Modules built on this one (emulator.deploy, emulator.retrieve) keep their own
# tables; the server joins them into the one it passes to `handle_metadata_request`.
OPERATIONS: dict[str, Operation] = {
    "createMetadata": _op_save("create"),
    "updateMetadata": _op_save("update"),
    "upsertMetadata": _op_save("upsert"),
    "readMetadata": _op_read,
    "deleteMetadata": _op_delete,
    "renameMetadata": _op_rename,
    "listMetadata": _op_list,
    "describeValueType": _op_describe,
}


def _fault(violation: ms.SchemaViolation) -> tuple[int, bytes]:
    if violation.code == "Client":
        return 500, client_fault(violation.message)
    return 500, metadata_fault(violation.code, violation.message)


def handle_metadata_request(
    emulator: Emulator,
    org: OrgStore,
    op: Any | None,
    session_user: dict[str, Any],
    operations: Mapping[str, Operation],
) -> tuple[int, bytes]:
    """Answer one Metadata API call, the first element of the envelope's Body (read and session
    checked by the server, emulator.soap): (HTTP status, XML)."""
    try:
        if op is None:
            raise ms.SchemaViolation("Client", "The SOAP request has no operation in its Body")
        namespace, name = ms.local_name(op)
        handler = operations.get(name) if namespace == ms.MD_NS else None
        if handler is None:
            raise ms.SchemaViolation(
                "INVALID_OPERATION", f"The emulator does not support the operation {name}"
            )
        call = Call(emulator, org, session_user)
        # One transaction per call: concurrent requests to an org never interleave, and a fault
        # raised half-way rolls back whatever the call had written.
        try:
            with org.transaction():
                inner = handler(call, op)
        except Discard as discarded:
            inner = discarded.response  # the transaction was rolled back: nothing was stored
    except ms.SchemaViolation as violation:
        return _fault(violation)
    return 200, envelope(f'<{name}Response xmlns="{ms.MD_NS}">{inner}</{name}Response>')
