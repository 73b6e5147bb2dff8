"""Helpers shared by the provider and emulator tests: test certificates, and provider calls made
the way the engine makes them (check, then diff, then create or update)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from providers import salesforce
from providers.framework.provider import OrglinkProvider


@dataclass(frozen=True)
class TestCertificate:
    __test__ = False  # not a test class, whatever pytest's name rules say

    pem: str  # the certificate, PEM
    key_pem: str  # its private key, PKCS#8 PEM
    der: bytes


def self_signed_certificate(
    common_name: str = "orglink test",
    valid_from: dt.timedelta = dt.timedelta(days=-1),
    valid_until: dt.timedelta = dt.timedelta(days=365),
) -> TestCertificate:
    """A new RSA 2048 key and a self-signed certificate valid from/until now + the given offsets."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid_from)
        .not_valid_after(now + valid_until)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return TestCertificate(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key_pem.decode(),
        der=cert.public_bytes(serialization.Encoding.DER),
    )


def checked(
    provider: OrglinkProvider, news: dict[str, Any], olds: dict[str, Any] | None = None
) -> dict[str, Any]:
    result = provider.check(olds or {}, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def create(provider: OrglinkProvider, news: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = provider.create(checked(provider, news))
    assert result.outs is not None
    return result.id, result.outs


def update(
    provider: OrglinkProvider, id_: str, outs: dict[str, Any], news: dict[str, Any]
) -> tuple[bool, dict[str, Any]]:
    """diff, then update when it reports changes (as the engine does); returns (changed, outputs)."""
    inputs = checked(provider, news, outs)
    diff = provider.diff(id_, outs, inputs)
    assert not diff.replaces, diff.replaces
    if not diff.changes:
        return False, outs
    result = provider.update(id_, outs, inputs)
    assert result.outs is not None
    return True, result.outs


@contextmanager
def providers_on_emulator(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, retry_budget_s: str = "15"
) -> Iterator[None]:
    """orgA and orgB configured for the providers in emulator mode, as the stack config would
    (JSON text), with fast retries. REQUESTS_CA_BUNDLE is removed: the providers must trust the
    emulator through the connection's own CA bundle."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("ORGLINK_RETRY_BASE_S", "0.02")
    monkeypatch.setenv("ORGLINK_RETRY_BUDGET_S", retry_budget_s)
    salesforce.reset()
    connection = {"auth": "emulator", "state_dir": str(emulator.state_dir)}
    salesforce.configure_orgs(json.dumps({alias: dict(connection) for alias in ("orgA", "orgB")}))
    try:
        yield
    finally:
        salesforce.reset()


def run_together(jobs: dict[str, Callable[[], Any]]) -> None:
    """Run the callables at the same moment on threads (the engine uses 4); re-raise any failure."""
    start = threading.Barrier(len(jobs))
    errors: dict[str, BaseException] = {}

    def run(key: str, job: Callable[[], Any]) -> None:
        start.wait()
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors[key] = exc

    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise AssertionError(errors)


State = tuple[str, dict[str, Any]]


def apply_in_rounds(
    app: OrglinkProvider,
    app_state: State,
    parts: dict[str, OrglinkProvider],
    wanted: Callable[[int], dict[str, dict[str, Any]]],
    check: Callable[[int, dict[str, dict[str, Any]]], None],
    rounds: range = range(2, 8),
) -> dict[str, State]:
    """An app's parts created at one moment from ``wanted(1)``, then in each round every resource
    (the app under key "app" too) updated at one moment to ``wanted(round)``, and ``check(round,
    wanted)`` run on the org; returns each resource's (id, outputs)."""
    states: dict[str, State] = {"app": app_state}

    def create_part(key: str, new: dict[str, Any]) -> None:
        states[key] = create(parts[key], new)

    def update_any(key: str, new: dict[str, Any]) -> None:
        id_, old = states[key]
        states[key] = (id_, update(parts.get(key, app), id_, old, new)[1])

    first = wanted(1)
    run_together({key: partial(create_part, key, first[key]) for key in parts})
    for round_ in rounds:
        want = wanted(round_)
        run_together({key: partial(update_any, key, new) for key, new in want.items()})
        check(round_, want)
    return states
