"""The latency model: answers on org ports take a profile's time per API family, repeatably."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from emulator import control, latency
from emulator.admin import AdminClient
from tests.emulator_fixtures import API_VERSION
from tests.engine import ROOT
from tools.contract.report import RequestLine, latency_profile

METADATA_S = 0.6
REST_S = 0.25


def _profile(path: Path, families: dict[str, Any], seed: int = 7) -> Path:
    path.write_text(json.dumps({"format": latency.PROFILE_FORMAT, "seed": seed, "families": families}))
    return path


@pytest.fixture(scope="module")
def paced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """An emulator whose Metadata API answers take METADATA_S, REST REST_S, everything else none."""
    tmp = tmp_path_factory.mktemp("latency")
    zero: dict[str, float] = {"median": 0.0, "p90": 0.0}
    families = {f: zero for f in latency.FAMILIES}
    families["metadata"] = {"median": METADATA_S, "p90": METADATA_S}
    families["rest"] = {"median": REST_S, "p90": REST_S}
    profile = _profile(tmp / "profile.json", families)
    state_dir = tmp / "state"
    orgs = control.start(state_dir, ["orgA", "orgB"], latency=profile)
    try:
        yield state_dir, orgs
    finally:
        control.stop(state_dir)


def _login(orgs: dict[str, Any], alias: str) -> Salesforce:
    org = orgs[alias]
    session = requests.Session()
    session.verify = org["ca_bundle"]
    sf = Salesforce(
        instance_url=org["instance_url"],
        session_id=_token(org),
        version=API_VERSION,
        session=session,
    )
    return sf


def _token(org: dict[str, Any]) -> str:
    from tests.emulator_fixtures import jwt_login

    return str(jwt_login(org, org["ca_bundle"])["access_token"])


def _timed(call: Any) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_metadata_and_rest_calls_take_their_profiles_time(
    paced: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir, orgs = paced
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", orgs["orgA"]["ca_bundle"])
    sf = _login(orgs, "orgA")
    rest_s = _timed(lambda: sf.query("SELECT Id FROM User LIMIT 1"))
    metadata_s = _timed(lambda: sf.mdapi.NamedCredential.read(["Nothing_Here"]))
    assert rest_s >= REST_S
    assert metadata_s >= METADATA_S
    # The families are distinct: a REST call does not pay the Metadata API's time.
    assert rest_s < METADATA_S
    # The admin port is the test's own channel to the emulator: never paced.
    assert _timed(lambda: AdminClient(state_dir).counters("orgA")) < REST_S
    assert json.loads((state_dir / "emulator.json").read_text())["latency"].endswith("profile.json")


def test_start_without_latency_restarts_an_emulator_that_had_one(tmp_path: Path) -> None:
    families = {"rest": {"median": REST_S, "p90": REST_S}}
    state_dir = tmp_path / "state"
    control.start(state_dir, ["orgA"], latency=_profile(tmp_path / "p.json", families))
    try:
        orgs = control.start(state_dir, ["orgA"])
        assert json.loads((state_dir / "emulator.json").read_text())["latency"] is None
        versions_url = orgs["orgA"]["instance_url"] + "/services/data/"
        assert _timed(lambda: requests.get(versions_url, verify=orgs["orgA"]["ca_bundle"])) < REST_S
    finally:
        control.stop(state_dir)


def test_the_same_seed_gives_the_same_delays_per_family(tmp_path: Path) -> None:
    path = _profile(
        tmp_path / "p.json", {"metadata": {"median": 0.5, "p90": 1.0}, "rest": {"median": 0.1, "p90": 0.3}}
    )
    first, second = latency.load(path), latency.load(path)
    metadata_only = [first.delay("metadata") for _ in range(20)]
    # Another family's requests in between do not shift a family's sequence.
    interleaved = []
    for _ in range(20):
        second.delay("rest")
        interleaved.append(second.delay("metadata"))
    assert metadata_only == interleaved
    other_seed = latency.load(
        _profile(tmp_path / "q.json", {"metadata": {"median": 0.5, "p90": 1.0}}, seed=8)
    )
    assert [other_seed.delay("metadata") for _ in range(20)] != metadata_only


def test_median_and_p90_fit_a_lognormal_with_those_quantiles(tmp_path: Path) -> None:
    model = latency.load(_profile(tmp_path / "p.json", {"deploy": {"median": 0.5, "p90": 1.0}}))
    draws = sorted(model.delay("deploy") for _ in range(4000))
    assert statistics.median(draws) == pytest.approx(0.5, rel=0.08)
    assert draws[int(0.9 * len(draws))] == pytest.approx(1.0, rel=0.1)


def test_a_contract_report_loads_and_draws_from_its_observed_seconds(tmp_path: Path) -> None:
    observed = [0.41, 0.52, 0.77]
    lines = [
        RequestLine(
            at=0.0,
            org="orgB",
            family="metadata",
            method="POST",
            path="/services/Soap/m/63.0",
            operation="readMetadata",
            status=200,
            seconds=s,
        )
        for s in observed
    ]
    report = {"ok": True, "checks": [], "latency_profile": latency_profile(lines, [], "orgs")}
    path = tmp_path / "contract-report.json"
    path.write_text(json.dumps(report))
    model = latency.load(path)
    assert {model.delay("metadata") for _ in range(50)} <= set(observed)
    # A family the contract run never called keeps the default profile's figures.
    default = latency.load("default")
    assert model.families["tooling"] == default.families["tooling"]
    # The profile alone (the JSON under latency_profile) loads too.
    alone = tmp_path / "profile.json"
    alone.write_text(json.dumps(report["latency_profile"]))
    assert latency.load(alone).families["metadata"].seconds == tuple(observed)


def test_the_default_profile_covers_every_family() -> None:
    model = latency.load("default")
    assert set(model.families) == set(latency.FAMILIES)
    assert all(d.typical > 0 for d in model.families.values())


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"format": "something/2", "families": {}}, "`format`"),
        ({"format": latency.PROFILE_FORMAT, "seed": "one", "families": {}}, "`seed`"),
        ({"format": latency.PROFILE_FORMAT, "families": []}, "`families`"),
        (
            {"format": latency.PROFILE_FORMAT, "families": {"soap": {"median": 1, "p90": 1}}},
            "`families.soap`",
        ),
        (
            {"format": latency.PROFILE_FORMAT, "families": {"rest": {"seconds": ["fast"]}}},
            "`families.rest.seconds`",
        ),
        (
            {"format": latency.PROFILE_FORMAT, "families": {"rest": {"median": -1, "p90": 1}}},
            "`families.rest.median`",
        ),
        (
            {"format": latency.PROFILE_FORMAT, "families": {"metadata": {"median": 2, "p90": 1}}},
            "`families.metadata.p90`",
        ),
        ({"latency_profile": {"format": "x"}}, "`latency_profile.format`"),
    ],
)
def test_a_bad_profile_names_its_field(tmp_path: Path, document: Any, field: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(latency.LatencyProfileError, match=field.replace(".", r"\.")):
        latency.load(path)


def test_cli_start_rejects_a_bad_profile_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "orglink-latency-profile/1", "families": {"rest": {"median": 1}}}')
    state_dir = tmp_path / "state"
    out = subprocess.run(
        [sys.executable, "-m", "emulator", "start", "--state-dir", str(state_dir), "--latency", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 2
    assert "families.rest.p90" in out.stderr
    assert control.running_info(state_dir) is None
    not_json = tmp_path / "typo.json"
    not_json.write_text("{")
    with pytest.raises(latency.LatencyProfileError, match="not JSON"):
        control.start(state_dir, latency=not_json)
