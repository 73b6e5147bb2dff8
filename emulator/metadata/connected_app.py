"""ConnectedApp: its rules and its row of the type table (`RULES`).

- new connected apps are refused unless the org setting `allow-connected-app-creation` is on;
- profiles and permission sets are assigned only to admin-approved apps and must exist;
- the OAuth policy's IP relaxation and refresh token policy are checked as enums;
- `oauthConfig`: a run-as user for the client credentials flow, the certificate kept as its
  base64 body, consumer key and secret create-only (metadata.base);
- the ConnectedApplication sObject record follows the component (found by label);
- scopes read back with Salesforce's aliases folded; the secret never reads back.
"""

from __future__ import annotations

import re

from emulator.metadata.base import (
    Body,
    Call,
    ComponentError,
    TypeRules,
    active_username,
    apply_consumer_credentials,
    check_access_lists,
    check_enum_text,
    normalise_scopes,
    not_found,
    pem_body,
)

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
    check_access_lists(
        call, profiles, permission_sets, bool((oauth or {}).get("isAdminApproved")),
        ("profileName", "permissionSetName"),
        "admin approved users are pre-authorized (oauthConfig.isAdminApproved = true)",
    )  # fmt: skip
    _check_oauth_policy(body.get("oauthPolicy"))
    if oauth is not None:
        _prepare_oauth_config(call, oauth, (old or {}).get("oauthConfig"))


def _check_oauth_policy(policy: Body | None) -> None:
    if policy is None:
        return
    check_enum_text(
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
    if user and not active_username(call.org, user):
        raise not_found("oauthClientCredentialUser", "active User with username", user)
    if oauth.get("certificate"):
        oauth["certificate"] = pem_body(oauth["certificate"])
    apply_consumer_credentials(call, oauth, old_oauth)


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
        oauth["scopes"] = normalise_scopes(oauth["scopes"])
    return body


# One row per type of this family: file location, Id prefix, and the hooks above.
# fmt: off
RULES: dict[str, TypeRules] = {
    "ConnectedApp": TypeRules(
        "connectedApps", "connectedApp", "0H4",
        prepare=_prepare_connected_app, after_save=_connected_app_saved,
        before_delete=_connected_app_deleting, on_read=_connected_app_read,
        write_only=("oauthConfig.consumerSecret",),
    ),
}
# fmt: on
