"""Benchmark: emulator start-to-ready, and median metadata / REST read latency.

Run: .venv/bin/python bench/bench_emulator.py [--rounds N]
Targets: start to ready under 2 s; a metadata read under 20 ms median.
Prints numbers only; never prints tokens or passwords.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator import control  # noqa: E402
from emulator.admin import AdminClient  # noqa: E402

VERSION = "63.0"
READ = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://soap.sforce.com/2006/04/metadata">
<soapenv:Header><m:SessionHeader><m:sessionId>{sid}</m:sessionId></m:SessionHeader></soapenv:Header>
<soapenv:Body><m:readMetadata><m:type>ConnectedApp</m:type><m:fullNames>Bench_App</m:fullNames>
</m:readMetadata></soapenv:Body></soapenv:Envelope>"""


def _login(org: dict, ca: str) -> str:
    """JWT bearer through the org's seeded CI login app (SOAP login() is off in a new org)."""
    login = org["login"]
    claims = {
        "iss": login["consumer_key"],
        "sub": login["username"],
        "aud": login["audience"],
        "exp": int(time.time()) + 180,
    }
    resp = requests.post(
        org["token_url"],
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": jwt.encode(claims, login["private_key"], algorithm="RS256"),
        },
        verify=ca,
        timeout=10,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        t0 = time.perf_counter()
        orgs = control.start(state, ["orgA", "orgB"])
        first_start = time.perf_counter() - t0
        control.stop(state)
        t0 = time.perf_counter()
        orgs = control.start(state, ["orgA", "orgB"])
        restart = time.perf_counter() - t0
        try:
            org = orgs["orgA"]
            ca = org["ca_bundle"]
            AdminClient(state).put_component(
                "orgA",
                "ConnectedApp",
                "Bench_App",
                {
                    "label": "Bench_App",
                    "contactEmail": "a@b.invalid",
                    "oauthConfig": {
                        "callbackUrl": "https://localhost/cb",
                        "consumerKey": "BENCHKEY0001",
                        "consumerSecret": "BENCHSECRET0001",
                        "scopes": ["Api"],
                    },
                },
            )
            sid = _login(org, ca)
            http = requests.Session()
            # Per-request verify: a session's verify loses to REQUESTS_CA_BUNDLE from the environment.
            md_url = f"{org['instance_url']}/services/Soap/m/{VERSION}/"
            md_body = READ.format(sid=sid)
            md_headers = {"Content-Type": "text/xml", "SOAPAction": '""'}
            probe = http.post(md_url, data=md_body, headers=md_headers, verify=ca)
            md_ok = probe.status_code == 200 and "Bench_App" in probe.text
            rest_url = f"{org['instance_url']}/services/data/v{VERSION}/query"
            rest_params = {
                "q": "SELECT Id, Name, Profile.Name FROM PermissionSet WHERE IsOwnedByProfile = true"
            }
            rest_headers = {"Authorization": f"Bearer {sid}"}
            md = _median_ms(
                lambda: http.post(md_url, data=md_body, headers=md_headers, verify=ca), args.rounds
            )
            rest = _median_ms(
                lambda: http.get(rest_url, params=rest_params, headers=rest_headers, verify=ca), args.rounds
            )
        finally:
            control.stop(state)
    print(f"start-to-ready (fresh state dir, incl. TLS + seeding): {first_start * 1000:.0f} ms")
    print(f"start-to-ready (existing state dir): {restart * 1000:.0f} ms")
    print(
        f"metadata readMetadata median over {args.rounds}: {md:.2f} ms"
        + ("" if md_ok else "  (metadata handler not answering 200; measured its error path)")
    )
    print(f"REST query median over {args.rounds}: {rest:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
