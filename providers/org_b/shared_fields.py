"""The inputs both Org B app models share: their texts, validators and the program's view of them.

A connected app and an External Client App take the same inputs with the same values, so the
integration component can swap one model for the other. Only where a value lives in the component
(``path``) and how it is spelt there differ: the factories here take those, and everything a user
reads (descriptions, accepted values) is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import pulumi

from providers.framework import values
from providers.framework.schema import Field, flag, inverted_flag

Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


# -- the app ------------------------------------------------------------------------------------


class OAuthAppArgs(TypedDict, total=False):
    """The inputs of an app, as the Python program writes them, that both models take."""

    org: pulumi.Input[str]
    api_name: pulumi.Input[str]
    label: pulumi.Input[str]
    contact_email: pulumi.Input[str]
    description: pulumi.Input[str]
    callback_urls: pulumi.Input[list[str]]
    certificate: pulumi.Input[str]
    scopes: pulumi.Input[list[str]]
    require_secret_for_web_server_flow: pulumi.Input[bool]
    require_secret_for_refresh_token: pulumi.Input[bool]
    require_secret_for_token_exchange: pulumi.Input[bool]
    token_exchange_enabled: pulumi.Input[bool]
    refresh_token_rotation: pulumi.Input[bool]
    pkce_required: pulumi.Input[bool]
    code_credential_enabled: pulumi.Input[bool]
    code_credential_post_only: pulumi.Input[bool]
    introspect_all_tokens: pulumi.Input[bool]
    named_user_jwt_enabled: pulumi.Input[bool]
    owner: pulumi.Input[str]


def contact_email_field(path: str) -> Field:
    return Field(
        "contact_email",
        "string",
        "Contact e-mail of the app.",
        path=path,
        required=True,
        validate=values.email,
    )


def _callback_urls_from_salesforce(wire: Any) -> list[str]:
    return values.string_list(str(wire))


def callback_urls_field(path: str) -> Field:
    return Field(
        "callback_urls",
        "list[string]",
        "OAuth callback URLs (use http://localhost when no flow redirects).",
        path=path,
        required=True,
        validate=values.url_list,
        to_salesforce="\n".join,  # Salesforce keeps several callback URLs one per line
        from_salesforce=_callback_urls_from_salesforce,
    )


def certificate_field(path: str, description: str) -> Field:
    return Field(
        "certificate",
        "string",
        description,
        path=path,
        validate=values.certificate,
        to_salesforce=values.certificate_body,
        from_salesforce=values.certificate_from_salesforce,
        compare_key=values.certificate_body,
    )


def scopes_field(path: str, to_salesforce: Convert = _identity) -> Field:
    return Field(
        "scopes",
        "list[string]",
        "OAuth scopes: enum names (Api), OAuth names (api, refresh_token) or Setup labels.",
        path=path,
        required=True,
        validate=values.scope_list,
        to_salesforce=to_salesforce,
        from_salesforce=values.scope_list,
        compare_key=values.scopes_as_read_back,
        docs_values="Api, RefreshToken, Basic, Web, Full, OpenID, ... (any ConnectedAppOauthAccessScope)",
    )


# The OAuth flow switches both models have: name -> (description, default). The first is the
# inverse of its Salesforce element (isConsumerSecretOptional).
_INVERTED_FLOW_FLAG = "require_secret_for_web_server_flow"
FLOW_FLAGS: dict[str, tuple[str, bool]] = {
    _INVERTED_FLOW_FLAG: ("Require Secret for Web Server Flow.", True),
    "require_secret_for_refresh_token": ("Require Secret for Refresh Token Flow.", True),
    "require_secret_for_token_exchange": ("Require Secret for Token Exchange Flow.", False),
    "token_exchange_enabled": ("Enable Token Exchange Flow.", False),
    "refresh_token_rotation": ("Enable Refresh Token Rotation.", False),
    "pkce_required": ("Require Proof Key for Code Exchange (PKCE) for supported authorization flows.", True),
    "code_credential_enabled": ("Enable Authorization Code and Credentials Flow.", False),
    "code_credential_post_only": (
        "Require user credentials in the POST body for the Authorization Code and Credentials Flow.",
        False,
    ),
    "introspect_all_tokens": ("Introspect All Tokens.", False),
    "named_user_jwt_enabled": ("Issue JSON Web Token (JWT)-based access tokens for named users.", False),
}


def flow_flags(paths: Mapping[str, str]) -> tuple[Field, ...]:
    """The OAuth flow switches, each at the path the model keeps it (``paths`` names every one)."""
    fields = []
    for name, (description, default) in FLOW_FLAGS.items():
        if name == _INVERTED_FLOW_FLAG:
            fields.append(inverted_flag(name, paths[name], description, default=default))
        else:
            fields.append(flag(name, paths[name], description, default=default))
    return tuple(fields)


def owner_field(how_recognised: str) -> Field:
    return Field(
        "owner",
        "string",
        "Who creates the app, `<project>/<stack>/<resource name>` (set by the resource class; "
        f"never changes the app). {how_recognised}",
        validate=values.text,
    )


def app_id_output_field(record_type: str) -> Field:
    return Field(
        "app_id", "string", f"Id of the {record_type} record (also the resource id).", output_only=True
    )


# -- the policies -------------------------------------------------------------------------------


class AppPartArgs(TypedDict, total=False):
    """The inputs every resource owning part of an app takes."""

    org: pulumi.Input[str]
    app: pulumi.Input[str]
    app_id: pulumi.Input[str]


class PolicyArgs(AppPartArgs, total=False):
    """The inputs of an app's policies, the same for both models."""

    permitted_users: pulumi.Input[str]
    ip_relaxation: pulumi.Input[str]
    refresh_token_policy: pulumi.Input[str | dict[str, Any]]
    session_timeout: pulumi.Input[int | str]
    session_level: pulumi.Input[str]
    policy_action: pulumi.Input[str]
    single_logout_url: pulumi.Input[str]
    token_exchange_policy: pulumi.Input[bool]


def permitted_users_field(
    path: str, validate: Convert, to_salesforce: Convert = _identity, from_salesforce: Convert = _identity
) -> Field:
    return Field(
        "permitted_users",
        "string",
        "Who may use the app: AdminApprovedPreAuthorized (admin approved users are pre-authorized) "
        "or AllSelfAuthorized (all users may self-authorize).",
        path=path,
        default="AllSelfAuthorized",
        validate=validate,
        to_salesforce=to_salesforce,
        from_salesforce=from_salesforce,
        absent_value="AllSelfAuthorized",
        docs_values=", ".join(values.PERMITTED_USERS),
    )


def ip_relaxation_field(
    path: str, validate: Convert, to_salesforce: Convert = _identity, from_salesforce: Convert = _identity
) -> Field:
    return Field(
        "ip_relaxation",
        "string",
        "IP Relaxation: ENFORCE, BYPASS_2FACTOR, BYPASS (Relax IP restrictions) or ENFORCE_RELAXREFRESH.",
        path=path,
        default="ENFORCE",
        validate=validate,
        to_salesforce=to_salesforce,
        from_salesforce=from_salesforce,
        absent_value="ENFORCE",
        docs_values=", ".join(values.IP_RELAXATION),
    )


def refresh_token_policy_field(path: str | None, from_salesforce: Convert = _identity) -> Field:
    return Field(
        "refresh_token_policy",
        "string",
        "Refresh Token Policy: infinite (valid until revoked), zero (expire immediately), "
        "specific_lifetime:N:UNIT or specific_inactivity:N:UNIT (UNIT: HOURS, DAYS, MONTHS); "
        'also {"policy": "specific_lifetime", "value": 12, "unit": "HOURS"}.',
        path=path,
        default="infinite",
        validate=values.refresh_token_policy,
        from_salesforce=from_salesforce,
        absent_value="infinite",
    )


def token_exchange_policy_field(path: str) -> Field:
    return flag(
        "token_exchange_policy",
        path,
        "Allow the token exchange flow by policy (the app's `token_exchange_enabled` turns the flow on).",
    )


def single_logout_url_field(path: str) -> Field:
    return Field(
        "single_logout_url",
        "string",
        "Single Logout URL of the OAuth policy.",
        path=path,
        validate=values.https_url,
    )


def session_timeout_field(path: str) -> Field:
    return Field(
        "session_timeout",
        "integer",
        "Timeout Value in minutes: 15, 30, 60, 90, 120, 240, 480, 720 or 1440 (24h); "
        "'24h' and '30m' work too. Left out: the user's profile decides.",
        path=path,
        validate=values.session_timeout,
        from_salesforce=values.integer,
    )


def policy_action_field(path: str) -> Field:
    return Field(
        "policy_action",
        "string",
        "What happens when the session level is too low: Block or RaiseSessionLevel.",
        path=path,
        validate=values.one_of(values.POLICY_ACTIONS),
        docs_values=", ".join(values.POLICY_ACTIONS),
    )


# -- profile access -----------------------------------------------------------------------------


class ProfileAssignmentArgs(AppPartArgs, total=False):
    """The inputs of an app's profile (or permission set) access, the same for both models."""

    profile: pulumi.Input[str]
    permission_set: pulumi.Input[str]


# -- the client credentials run-as user ---------------------------------------------------------


class RunAsUserArgs(AppPartArgs, total=False):
    """The inputs of an app's client credentials run-as user that both models take."""

    username: pulumi.Input[str]
    enabled: pulumi.Input[bool]


def username_field(path: str) -> Field:
    return Field(
        "username",
        "string",
        "Username of the active user the client credentials flow runs as (ideally API Only).",
        path=path,
        required=True,
        validate=values.salesforce_username,
    )


def run_as_enabled_flag(path: str) -> Field:
    return flag(
        "enabled",
        path,
        "Enable Client Credentials Flow (false keeps the user but turns the flow off).",
        default=True,
    )
