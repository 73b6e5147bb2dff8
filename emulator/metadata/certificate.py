"""Certificate: self-signed key pairs the org makes itself; its rules and its row of the type
table (`RULES`, the `.crt` content in its own file).

- the key pair, content, key size and expiration are fixed at creation; update changes only
  labels and flags; CA-signed certificates, other key sizes and past dates are refused.

Decision where Salesforce's behaviour is not documented (keep it easy to change):
- A Certificate's `content` on read is the `.crt` file: the base64 DER body without BEGIN/END
  lines (so zeep hands clients `b"MII..."`). Content sent by a client is never imported: a private
  key in it is rejected, a certificate in it is ignored (the org signs with its own key pair).
  The private key is kept in the component under the non-WSDL key `privateKey` (PEM, PKCS#8).
"""

from __future__ import annotations

import base64
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from emulator.metadata.base import (
    Body,
    Call,
    ComponentError,
    TypeRules,
)

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


def self_signed(
    key: rsa.RSAPrivateKey, name: x509.Name, not_before: dt.datetime, not_after: dt.datetime
) -> x509.Certificate:
    """A self-signed end-entity certificate of ``key``, as Setup's "Create Self-Signed Certificate"
    makes (also the seeded CI app's, which the emulator's own clients sign their JWTs with)."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


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
    cert = self_signed(key, name, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), expires)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


# One row per type of this family: file location, Id prefix, and the hooks above.
# fmt: off
RULES: dict[str, TypeRules] = {
    "Certificate": TypeRules("certs", "crt", "0P1", prepare=_prepare_certificate, content="content"),
}
# fmt: on
