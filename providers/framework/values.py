"""Rules for the values users write: validation with messages that name the fix, and normalisation.

Every validator takes the raw input value and returns its canonical form or raises ``ValueError``
with a message meant for the user (the field name is added by the schema). None of them calls
Salesforce. ECA resources reuse the same rules (scope names, certificates, timeouts, enums).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

Validator = Callable[[Any], Any]

# ---------------------------------------------------------------------------------------------
# Plain types
# ---------------------------------------------------------------------------------------------


def text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"must be text, got {type(value).__name__}")
    result = str(value).strip()
    return result


def non_empty_text(value: Any) -> str:
    result = text(value)
    if not result:
        raise ValueError("must not be empty")
    return result


def boolean(value: Any) -> bool:
    """true/false; the strings 'true'/'false' too, because stack config values arrive as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"must be true or false, got {value!r}")


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"must be a whole number, got {value!r}")


def string_list(value: Any) -> list[str]:
    """A list of strings; one string with several lines (or commas) is split."""
    if isinstance(value, str):
        items = [part for part in re.split(r"[\n,]", value)]
    elif isinstance(value, (list, tuple)):
        items = [text(item) for item in value]
    else:
        raise ValueError(f"must be a list of text values, got {type(value).__name__}")
    return [item.strip() for item in items if item.strip()]


def one_of(choices: Iterable[str]) -> Validator:
    """An enum value in its exact spelling (Salesforce enums are case-sensitive)."""
    allowed = list(choices)

    def validate(value: Any) -> str:
        candidate = text(value)
        if candidate in allowed:
            return candidate
        near = [choice for choice in allowed if choice.lower() == candidate.lower()]
        hint = f" (did you mean '{near[0]}'? values are case-sensitive)" if near else ""
        raise ValueError(f"'{candidate}' is not valid{hint}; use one of: {', '.join(allowed)}")

    return validate


# ---------------------------------------------------------------------------------------------
# Names, e-mail, URLs
# ---------------------------------------------------------------------------------------------

_API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*$")


def api_name(value: Any) -> str:
    """A Salesforce API name: letters, digits, single underscores, starting with a letter."""
    name = non_empty_text(value)
    if len(name) > 80 or not _API_NAME.match(name) or name.endswith("_"):
        raise ValueError(
            f"'{name}' is not a valid API name: use letters, digits and single underscores, "
            "start with a letter, do not end with an underscore, at most 80 characters (e.g. Carrier_API_App)"
        )
    return name


def label_from_api_name(name: str) -> str:
    """The label of a component whose label was left out: its API name with spaces."""
    return name.replace("_", " ")


def default_label(inputs: dict[str, Any]) -> None:
    """A label left out is the API name with spaces (set at check, so a diff sees it)."""
    if "label" not in inputs and isinstance(inputs.get("api_name"), str):
        inputs["label"] = label_from_api_name(inputs["api_name"])


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$")


def email(value: Any) -> str:
    address = non_empty_text(value)
    if not _EMAIL.match(address):
        raise ValueError(f"'{address}' is not an e-mail address (expected something like admin@example.com)")
    return address


def salesforce_username(value: Any) -> str:
    """Salesforce stores usernames in lower case and compares them case-insensitively."""
    try:
        return email(value).lower()
    except ValueError:
        raise ValueError(
            f"'{value}' is not a Salesforce username: usernames look like e-mail addresses "
            "(e.g. integration@example.com.prod); find it on the user's detail page in Setup"
        ) from None


def url(value: Any) -> str:
    """An absolute URL: https://..., http://localhost..., or an app scheme like myapp://callback."""
    candidate = non_empty_text(value)
    parsed = urlparse(candidate)
    if "://" not in candidate:
        raise ValueError(f"'{candidate}' is not an absolute URL: it needs a scheme, e.g. http://{candidate}")
    if any(ch.isspace() for ch in candidate) or not parsed.scheme or not (parsed.netloc or parsed.path):
        raise ValueError(f"'{candidate}' is not an absolute URL (expected e.g. https://example.com/callback)")
    if parsed.scheme in ("http", "https") and not parsed.netloc:
        raise ValueError(f"'{candidate}' has no host (expected e.g. https://example.com/callback)")
    return candidate


def https_url(value: Any) -> str:
    candidate = url(value)
    if not candidate.startswith("https://"):
        raise ValueError(f"'{candidate}' must be an https:// URL")
    return candidate


def url_list(value: Any) -> list[str]:
    urls = [url(item) for item in string_list(value)]
    if not urls:
        raise ValueError(
            "needs at least one URL (Salesforce requires a callback URL; "
            "use http://localhost when no flow uses it)"
        )
    return urls


# ---------------------------------------------------------------------------------------------
# OAuth scopes
# ---------------------------------------------------------------------------------------------

# Metadata enum name -> (OAuth names, Setup label), from the WSDL's ConnectedAppOauthAccessScope.
SCOPES: dict[str, tuple[tuple[str, ...], str]] = {
    "Basic": (("id",), "Access the identity URL service (id, profile, email, address, phone)"),
    "Api": (("api",), "Manage user data via APIs (api)"),
    "Web": (("web",), "Manage user data via Web browsers (web)"),
    "Full": (("full",), "Full access (full)"),
    "Chatter": (("chatter_api",), "Access Connect REST API resources (chatter_api)"),
    "CustomApplications": (("visualforce",), "Access custom applications (visualforce)"),
    "RefreshToken": (("refresh_token",), "Perform requests at any time (refresh_token, offline_access)"),
    "OpenID": (("openid",), "Access unique user identifiers (openid)"),
    "Profile": (("profile",), "Access the identity URL service (profile)"),
    "Email": (("email",), "Access the identity URL service (email)"),
    "Address": (("address",), "Access the identity URL service (address)"),
    "Phone": (("phone",), "Access the identity URL service (phone)"),
    "OfflineAccess": (("offline_access",), "Perform requests at any time (offline_access)"),
    "CustomPermissions": (("custom_permissions",), "Access custom permissions (custom_permissions)"),
    "Wave": (("wave_api",), "Access Analytics REST API resources (wave_api)"),
    "Eclair": (("eclair_api",), "Access Analytics REST API Charts Geodata resources (eclair_api)"),
    "Pardot": (("pardot_api",), "Access Pardot services (pardot_api)"),
    "Lightning": (("lightning",), "Access Lightning applications (lightning)"),
    "Content": (("content",), "Access content resources (content)"),
    "CDPIngest": (("cdp_ingest_api",), "Manage Customer Data Platform Ingestion API data (cdp_ingest_api)"),
    "CDPProfile": (("cdp_profile_api",), "Manage Customer Data Platform profile data (cdp_profile_api)"),
    "CDPQuery": (
        ("cdp_query_api",),
        "Perform ANSI SQL queries on Customer Data Platform data (cdp_query_api)",
    ),
    "Chatbot": (("chatbot_api",), "Access chatbot services (chatbot_api)"),
    "CDPSegment": (("cdp_segment_api",), "Manage Data Cloud segments (cdp_segment_api)"),
    "CDPIdentityResolution": (
        ("cdp_identityresolution_api",),
        "Manage Data Cloud identity resolution (cdp_identityresolution_api)",
    ),
    "CDPCalculatedInsight": (
        ("cdp_calculated_insight_api",),
        "Manage Data Cloud calculated insight data (cdp_calculated_insight_api)",
    ),
    "ForgotPassword": (("forgot_password",), "Allow access to the forgot password API (forgot_password)"),
    "UserRegistration": (
        ("user_registration_api",),
        "Allow access to the user registration API (user_registration_api)",
    ),
    "SFAP": (("sfap_api",), "Access the Salesforce API Platform (sfap_api)"),
    "Interaction": (("interaction_api",), "Access Interaction API resources (interaction_api)"),
    "CDP": (("cdp_api",), "Perform requests on Data Cloud data (cdp_api)"),
    "EinsteinGPT": (("einstein_gpt_api",), "Access the Salesforce generative AI APIs (einstein_gpt_api)"),
    "PwdlessLogin": (("pwdless_login_api",), "Access the passwordless login API (pwdless_login_api)"),
}

# Salesforce reads these back as another scope that includes them.
SCOPE_READ_BACK = {
    "Profile": "Basic",
    "Email": "Basic",
    "Address": "Basic",
    "Phone": "Basic",
    "OfflineAccess": "RefreshToken",
}


def _scope_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for enum_name, (oauth_names, label) in SCOPES.items():
        aliases[enum_name.lower()] = enum_name
        for oauth_name in oauth_names:
            aliases.setdefault(oauth_name, enum_name)
        aliases.setdefault(label.lower(), enum_name)
    aliases["refresh_token offline_access"] = "RefreshToken"
    return aliases


_SCOPE_ALIASES = _scope_aliases()


def scope(value: Any) -> str:
    """One scope by enum name (`Api`), OAuth name (`api`) or Setup label; returns the enum name."""
    given = non_empty_text(value)
    key = re.sub(r"\s+", " ", given).lower()
    if key in _SCOPE_ALIASES:
        return _SCOPE_ALIASES[key]
    # A Setup label: the OAuth names in its parentheses decide ("... (refresh token, offline_access)").
    inside = re.search(r"\(([^)]*)\)\s*$", key)
    if inside:
        first = inside.group(1).split(",")[0].strip().replace(" ", "_")
        if first in _SCOPE_ALIASES:
            return _SCOPE_ALIASES[first]
    raise ValueError(
        f"'{given}' is not a known OAuth scope; use an enum name ({', '.join(SCOPES)}), an OAuth name "
        "such as api or refresh_token, or the Setup label such as 'Manage user data via APIs (api)'"
    )


def scope_list(value: Any) -> list[str]:
    """Scopes as sorted unique enum names."""
    items = value if isinstance(value, (list, tuple)) else string_list(value)
    return sorted({scope(item) for item in items})


def scopes_as_read_back(scopes: Iterable[str]) -> list[str]:
    """What Salesforce will report for these scopes (Profile -> Basic, OfflineAccess -> RefreshToken)."""
    return sorted({SCOPE_READ_BACK.get(name, name) for name in scopes})


# ---------------------------------------------------------------------------------------------
# Consumer key and secret
# ---------------------------------------------------------------------------------------------

# Keys may carry underscores (tools create 85-character keys with them); secrets are letters and
# digits only. Both 8 to 256 characters.
_CONSUMER_FORMATS = {
    "key": (re.compile(r"^[A-Za-z0-9_]{8,256}$"), "letters, digits and underscores"),
    "secret": (re.compile(r"^[A-Za-z0-9]{8,256}$"), "letters and digits"),
}


def consumer_credential(kind: str) -> Validator:
    pattern, allowed = _CONSUMER_FORMATS[kind]

    def validate(value: Any) -> str:
        candidate = non_empty_text(value)
        if pattern.match(candidate):
            return candidate
        bad = sorted({ch for ch in candidate if not pattern.match(ch * 8)})
        if bad:
            shown = ", ".join(repr(ch) for ch in bad[:5]) if kind == "key" else "some characters"
            problem = f"contains {shown}"
        else:
            problem = f"has {len(candidate)} characters"
        raise ValueError(
            f"the consumer {kind} {problem}: Salesforce accepts 8 to 256 {allowed} only "
            f"(or leave it out and orglink generates one)"
        )

    return validate


def generate_credential(length: int = 64) -> str:
    """A consumer key or secret from the OS CSPRNG (alphanumeric, as Salesforce requires)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------


def _load_certificate(value: str) -> x509.Certificate:
    if "-----BEGIN" in value:
        return x509.load_pem_x509_certificate(value.encode())
    body = re.sub(r"\s+", "", value)
    return x509.load_der_x509_certificate(base64.b64decode(body, validate=True))


def certificate(value: Any) -> str:
    """An X.509 certificate (PEM, or the bare base64 body Salesforce retrieves) -> canonical PEM."""
    given = non_empty_text(value)
    try:
        cert = _load_certificate(given)
    except (ValueError, binascii.Error, TypeError):
        raise ValueError(
            "is not an X.509 certificate: give the PEM text (-----BEGIN CERTIFICATE----- ...) "
            "or its base64 body, e.g. Org A's certificate output"
        ) from None
    expires = cert.not_valid_after_utc
    if expires <= datetime.now(UTC):
        raise ValueError(f"expired on {expires:%Y-%m-%d}: create or upload a current certificate")
    return cert.public_bytes(Encoding.PEM).decode().strip() + "\n"


def certificate_body(pem_or_body: str) -> str:
    """The base64 body of a certificate, without BEGIN/END lines or whitespace (for comparing)."""
    lines = [line for line in pem_or_body.strip().splitlines() if not line.startswith("-----")]
    return "".join("".join(lines).split())


def certificate_from_salesforce(value: str) -> str:
    """Salesforce's certificate text (PEM or bare body) -> canonical PEM, without the expiry check."""
    try:
        return _load_certificate(value).public_bytes(Encoding.PEM).decode().strip() + "\n"
    except (ValueError, binascii.Error, TypeError):
        return value


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------

SESSION_TIMEOUT_MINUTES = (15, 30, 60, 90, 120, 240, 480, 720, 1440)
_DURATION = re.compile(r"^(\d+)\s*(m|min|mins|minutes?|h|hr|hrs|hours?)?$")


def session_timeout(value: Any) -> int:
    """Minutes from one of Salesforce's choices; '24h', '30m', '2 hours' are accepted too."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number of minutes, got {value!r}")
    raw = str(value).strip().lower()
    match = _DURATION.match(raw)
    minutes = None
    if match:
        number, unit = int(match.group(1)), match.group(2) or "m"
        minutes = number * 60 if unit.startswith("h") else number
    if minutes not in SESSION_TIMEOUT_MINUTES:
        raise ValueError(
            f"'{value}' is not a session timeout Salesforce offers; use minutes from "
            f"{', '.join(map(str, SESSION_TIMEOUT_MINUTES))} (1440 = 24 hours; '24h' works too)"
        )
    return minutes


IP_RELAXATION = ("ENFORCE", "BYPASS_2FACTOR", "BYPASS", "ENFORCE_RELAXREFRESH")
REFRESH_TOKEN_POLICIES = ("infinite", "zero", "specific_lifetime", "specific_inactivity")
REFRESH_TOKEN_UNITS = ("HOURS", "DAYS", "MONTHS")
PERMITTED_USERS = ("AllSelfAuthorized", "AdminApprovedPreAuthorized")
SESSION_LEVELS = ("STANDARD", "HIGH_ASSURANCE")
POLICY_ACTIONS = ("Block", "RaiseSessionLevel")


def refresh_token_policy(value: Any) -> str:
    """`infinite` (valid until revoked), `zero`, or a limit as `specific_lifetime:N:UNIT`.

    The limit may also be an object {"policy": "specific_lifetime", "value": 12, "unit": "HOURS"}.
    Returns Salesforce's string form.
    """
    if isinstance(value, dict):
        policy = text(value.get("policy", ""))
        parts = [policy] + (
            [str(value.get("value", "")), text(value.get("unit", ""))] if "value" in value else []
        )
    else:
        parts = [part.strip() for part in text(value).split(":")]
    policy = one_of(REFRESH_TOKEN_POLICIES)(parts[0])
    if policy in ("infinite", "zero"):
        if len(parts) != 1:
            raise ValueError(f"'{policy}' takes no duration; write just '{policy}'")
        return policy
    if len(parts) != 3:
        raise ValueError(
            f"'{policy}' needs a duration: write '{policy}:N:UNIT' "
            f"with UNIT one of {', '.join(REFRESH_TOKEN_UNITS)}"
        )
    amount = integer(parts[1])
    if amount < 1:
        raise ValueError(f"the duration of '{policy}' must be at least 1")
    unit = one_of(REFRESH_TOKEN_UNITS)(parts[2])
    return f"{policy}:{amount}:{unit}"
