"""Local CA and server certificate for the emulator, generated once per state dir.

Clients connect to https://127.0.0.1:<port>, so the server certificate names IP 127.0.0.1 and DNS
localhost in its subjectAltName, and is signed by a CA that exists only in `DIR/tls/ca.pem`. Clients
trust it through that bundle (`verify=` or REQUESTS_CA_BUNDLE); nothing disables verification.
EC P-256 keys keep first start fast (RSA generation alone can take a large part of the 2 s budget).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .vault import Vault


@dataclass(frozen=True)
class TlsFiles:
    ca_bundle: Path  # the CA certificate: what clients trust
    cert: Path  # server certificate chain (leaf + CA)
    key: Path  # server private key (0600), encrypted PEM
    # The key's passphrase: the state dir's secrets key (emulator/vault.py), so the file alone opens
    # nothing, like every other secret under the state dir.
    key_password: bytes = field(default=b"", repr=False)


def tls_files(state_dir: Path) -> TlsFiles:
    d = Path(state_dir) / "tls"
    return TlsFiles(
        ca_bundle=d / "ca.pem",
        cert=d / "server.pem",
        key=d / "server-key.pem",
        key_password=Vault(Path(state_dir)).key,
    )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "orglink emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write_private(path: Path, data: bytes) -> None:
    # Private keys are created 0600 from the start, never world-readable even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _encrypt_legacy_key(files: TlsFiles) -> None:
    """A key an older emulator wrote in plain PEM is rewritten encrypted."""
    data = files.key.read_bytes()
    if b"ENCRYPTED" in data:
        return
    key = serialization.load_pem_private_key(data, password=None)
    encryption = serialization.BestAvailableEncryption(files.key_password)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    _write_private(files.key, pem)


def ensure_tls(state_dir: Path) -> TlsFiles:
    """Create the CA and the server certificate if they are not there yet; return their paths."""
    files = tls_files(state_dir)
    if files.ca_bundle.exists() and files.cert.exists() and files.key.exists():
        _encrypt_legacy_key(files)
        return files
    files.ca_bundle.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("orglink emulator local CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write_private(
        files.key,
        key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(files.key_password)
        ),
    )
    files.cert.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    # The CA bundle is written last: its presence marks a complete set.
    files.ca_bundle.write_bytes(ca_cert.public_bytes(pem))
    return files


def server_context(files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # A key written before keys were encrypted loads too: the password is then not asked for.
    ctx.load_cert_chain(str(files.cert), str(files.key), password=files.key_password or None)
    return ctx


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """A verifying client context that trusts only the emulator CA (used for Apex callouts)."""
    return ssl.create_default_context(cafile=str(files.ca_bundle))
