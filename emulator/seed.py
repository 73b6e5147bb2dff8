"""Seeded content of a fresh org (docs/design.md, "Seeded per org").

Seeding runs once per org (a meta flag in its SQLite file), so a restart never re-seeds and never
changes a password or an Id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .metadata.certificate import self_signed
from .store import DEFAULT_PROFILE, ORG_PROFILES, OrgStore

SEEDED_PROFILES = ("System Administrator", "Standard User", "Minimum Access - API Only Integrations")
PLAIN_PERMISSION_SET = "Orglink_Integration_Access"

# (local part, first name, last name, profile, active)
_USERS = (
    ("admin", "Org", "Admin", "System Administrator", True),
    ("integration", "Integration", "User", "Minimum Access - API Only Integrations", True),
    ("standard", "Standard", "User", "Standard User", True),
    ("inactive", "Inactive", "User", "Standard User", False),
)


def username(alias: str, local: str) -> str:
    return f"{local}@{alias.lower()}.orglink.test"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())


def _hash_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()


def set_password(org: OrgStore, user_id: str, password: str) -> None:
    """Passwords live in the meta table, never in a User record (which SOQL and snapshots expose)."""
    salt = secrets.token_hex(8)
    org.set_meta(f"pw:{user_id[:15]}", f"{salt}:{_hash_password(password, salt)}")


def check_password(org: OrgStore, user_id: str, password: str) -> bool:
    stored = org.meta(f"pw:{user_id[:15]}")
    if stored is None:
        return False
    salt, digest = stored.split(":", 1)
    return hmac.compare_digest(digest, _hash_password(password, salt))


def security_token(org: OrgStore, user_id: str) -> str | None:
    return org.secret_meta(f"token:{user_id[:15]}")


def admin_password(org: OrgStore) -> str:
    """The seeded users' password (orgs.json holds it sealed, for the admin user)."""
    return str(org.secret_meta("admin_password"))


def seed_org(org: OrgStore, profile: str = DEFAULT_PROFILE) -> None:
    """Create the seeded profiles, permission sets, users and CI login app, once; a fresh org
    starts with the settings of its profile."""
    if org.meta("seeded") == "1":
        _upgrade(org)
        return
    with org.transaction():
        for name, value in ORG_PROFILES[profile].items():
            org.set_setting(name, value)
        password = "Orglink-" + secrets.token_urlsafe(12)
        org.set_secret_meta("admin_password", password)
        stamp = now_iso()
        org.insert_record(
            "Organization",
            {
                "Id": org.org_id,
                "Name": f"orglink {org.alias}",
                "OrganizationType": "Developer Edition",
                "InstanceName": "EMU1",
                "IsSandbox": False,
                "NamespacePrefix": None,
                "LanguageLocaleKey": "en_US",
                "DefaultLocaleSidKey": "en_US",
                "TimeZoneSidKey": "America/Los_Angeles",
                "TrialExpirationDate": None,
                "IsReadOnly": False,
                "CreatedDate": stamp,
            },
        )
        profile_ids = {name: _seed_profile(org, name, stamp) for name in SEEDED_PROFILES}
        org.insert_record(
            "PermissionSet",
            {
                "Name": PLAIN_PERMISSION_SET,
                "Label": "Orglink Integration Access",
                "IsOwnedByProfile": False,
                "ProfileId": None,
                "IsCustom": True,
                "Type": "Regular",
                "Description": None,
                "NamespacePrefix": None,
                "CreatedDate": stamp,
            },
        )
        # The Metadata API sees the plain permission set too (principal access is granted there).
        org.put_component("PermissionSet", PLAIN_PERMISSION_SET, {"label": "Orglink Integration Access"})
        for local, first, last, profile_name, active in _USERS:
            _seed_user(org, local, first, last, profile_ids[profile_name], active, password, stamp)
        _seed_login_app(org)
        org.set_meta("seeded", "1")


def _upgrade(org: OrgStore) -> None:
    """A state dir from before SOAP login was off: add the CI login app. Such an org keeps SOAP
    login and the OAuth username-password flow (it is an established org)."""
    if org.meta(LOGIN_APP_KEY_META) is not None:
        return
    with org.transaction():  # its secret meta values were sealed when the store opened it
        org.set_setting("soap-login-enabled", True)
        org.set_setting("oauth-username-password-enabled", True)
        _seed_login_app(org)


def _seed_profile(org: OrgStore, name: str, stamp: str) -> str:
    api_only = name == "Minimum Access - API Only Integrations"
    admin = name == "System Administrator"
    profile_id = org.insert_record(
        "Profile",
        {
            "Name": name,
            "UserType": "Standard",
            "Description": None,
            "PermissionsApiEnabled": True,
            "PermissionsApiUserOnly": api_only,
            "PermissionsModifyAllData": admin,
            "CreatedDate": stamp,
        },
    )
    # Every profile owns a permission set whose Name is "X" + the 15-char profile Id, as in Salesforce.
    org.insert_record(
        "PermissionSet",
        {
            "Name": "X" + profile_id[:15],
            "Label": "X" + profile_id[:15],
            "IsOwnedByProfile": True,
            "ProfileId": profile_id,
            "IsCustom": False,
            "Type": "Profile",
            "PermissionsApiEnabled": True,
            "PermissionsApiUserOnly": api_only,
            "Description": None,
            "NamespacePrefix": None,
            "CreatedDate": stamp,
        },
    )
    return profile_id


def _seed_user(
    org: OrgStore, local: str, first: str, last: str, profile_id: str, active: bool, password: str, stamp: str
) -> None:
    user_id = org.insert_record(
        "User",
        {
            "Username": username(org.alias, local),
            "FirstName": first,
            "LastName": last,
            "Name": f"{first} {last}",
            "Email": f"{local}@example.invalid",
            "Alias": local[:8],
            "IsActive": active,
            "ProfileId": profile_id,
            "UserType": "Standard",
            "TimeZoneSidKey": "America/Los_Angeles",
            "LanguageLocaleKey": "en_US",
            "LocaleSidKey": "en_US",
            "EmailEncodingKey": "UTF-8",
            "CommunityNickname": f"{local}.{org.alias}",
            "CreatedDate": stamp,
        },
    )
    set_password(org, user_id, password)
    org.set_secret_meta(f"token:{user_id[:15]}", secrets.token_urlsafe(18))
    owned = next(r for r in org.records("PermissionSet") if r.get("ProfileId") == profile_id)
    # Salesforce lists the profile's own permission set among a user's assignments.
    org.insert_record(
        "PermissionSetAssignment",
        {"AssigneeId": user_id, "PermissionSetId": owned["Id"], "IsActive": active},
    )


# -- the CI login app -------------------------------------------------------------------------------
# What the emulator's own clients log in with, now that SOAP login() is off in new orgs: an External
# Client App for JWT bearer, as the README tells a team to make for its CI. Every seeded profile is
# pre-authorized, so a client can log in as any active seeded user.
LOGIN_APP = "Orglink_Emulator_CI"
LOGIN_APP_KEY_META = "login_app:consumer_key"
LOGIN_APP_PRIVATE_KEY_META = "login_app:private_key"


def _login_certificate(key: rsa.RSAPrivateKey, alias: str) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"orglink-emulator-ci-{alias}")])
    now = dt.datetime.now(dt.UTC)
    cert = self_signed(key, name, now - dt.timedelta(days=1), now + dt.timedelta(days=3650))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _seed_login_app(org: OrgStore) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    consumer_key = "3MVG9" + secrets.token_hex(40)
    org.put_component(
        "ExternalClientApplication",
        LOGIN_APP,
        {"label": "Orglink Emulator CI", "contactEmail": "ci@example.invalid", "distributionState": "Local"},
    )
    org.put_component(
        "ExtlClntAppOauthSettings",
        f"{LOGIN_APP}_oauth",
        {
            "externalClientApplication": LOGIN_APP,
            "label": "Orglink Emulator CI",
            "commaSeparatedOauthScopes": "Api, RefreshToken",
        },
    )
    org.put_component(
        "ExtlClntAppGlobalOauthSettings",
        f"{LOGIN_APP}_glbloauth",
        {
            "externalClientApplication": LOGIN_APP,
            "label": "Orglink Emulator CI",
            "callbackUrl": "http://localhost:1717/OauthRedirect",
            "consumerKey": consumer_key,
            "consumerSecret": secrets.token_hex(32),
            "certificate": _login_certificate(key, org.alias),
            "isClientCredentialsFlowEnabled": False,
        },
    )
    org.put_component(
        "ExtlClntAppOauthConfigurablePolicies",
        f"{LOGIN_APP}_oauthPlcy",
        {
            "externalClientApplication": LOGIN_APP,
            "label": "Orglink Emulator CI",
            "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
            "commaSeparatedProfile": ",".join(SEEDED_PROFILES),
            "isClientCredentialsFlowEnabled": False,
        },
    )
    org.ensure_app_record("ExternalClientApplication", LOGIN_APP)
    org.set_meta(LOGIN_APP_KEY_META, consumer_key)
    org.set_secret_meta(LOGIN_APP_PRIVATE_KEY_META, pem)


def login_app(org: OrgStore) -> dict[str, str]:
    """How a client logs in through the CI login app; the private key sealed with the state dir's key."""
    return {
        "flow": "jwt-bearer",
        "app": LOGIN_APP,
        "consumer_key": str(org.meta(LOGIN_APP_KEY_META)),
        "private_key_sealed": str(org.sealed_meta(LOGIN_APP_PRIVATE_KEY_META)),
    }
