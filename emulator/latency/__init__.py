"""The latency model: how long a real org takes to answer, per API family, played by the emulator.

A profile (format ``orglink-latency-profile/1``, the one ``make contract`` writes, see
docs/contract.md) gives each API family either the seconds observed on a real org (a delay is drawn
from that list) or a median and p90 (a delay is drawn from the lognormal with that median and p90).
A family the profile leaves out or saw no request for takes the default profile's figures, so a
contract run that never touched Tooling still paces Tooling calls.

Draws are seeded: each family has its own generator seeded from the profile's ``seed`` and the
family's name, so the n-th request of a family gets the same delay in every run whatever the other
families do.
"""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILE_FORMAT = "orglink-latency-profile/1"
FAMILIES = ("login", "oauth", "rest", "metadata", "deploy", "connect", "tooling")
DEFAULT_PROFILE_PATH = Path(__file__).resolve().parent / "default.json"
# The standard normal's 90th percentile: p90 = median * exp(sigma * Z90) for a lognormal.
_Z90 = 1.2815515655446004
# Metadata API operations that belong to the deploy family (deploy, retrieve and their polling).
DEPLOY_OPERATIONS = frozenset(
    {
        "deploy",
        "checkDeployStatus",
        "cancelDeploy",
        "retrieve",
        "checkRetrieveStatus",
        "deployRecentValidation",
    }
)


class LatencyProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class FamilyDelay:
    """One family's distribution: observed seconds to draw from, else a lognormal(median, p90)."""

    seconds: tuple[float, ...] = ()
    median: float = 0.0
    p90: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.seconds:
            return rng.choice(self.seconds)
        if self.median <= 0:
            return 0.0
        sigma = math.log(self.p90 / self.median) / _Z90 if self.p90 > self.median else 0.0
        return rng.lognormvariate(math.log(self.median), sigma) if sigma else self.median

    @property
    def typical(self) -> float:
        """The median delay (what the critical-path bound multiplies by)."""
        if self.seconds:
            ordered = sorted(self.seconds)
            mid = len(ordered) // 2
            return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        return self.median


@dataclass
class LatencyModel:
    """A loaded profile: ``delay(family)`` draws the next delay of that family's sequence."""

    name: str
    seed: int
    families: dict[str, FamilyDelay]
    _rngs: dict[str, random.Random] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        # A string seed is hashed with SHA-512 by `random`, so it is the same in every process.
        self._rngs = {f: random.Random(f"{self.seed}:{f}") for f in FAMILIES}

    def delay(self, family: str) -> float:
        with self._lock:
            return self.families[family].draw(self._rngs[family])


def family_of(api: str, path: str, operation: str = "") -> str:
    """The profile family of a request the emulator classified as `api` (server.classify's kinds)."""
    if api == "soap_login":
        return "login"
    if api == "metadata":
        return "deploy" if operation in DEPLOY_OPERATIONS else "metadata"
    if api in ("oauth", "tooling", "connect"):
        return api
    # /connect/ resources (and anything under /services/data the contract counts as Connect REST).
    return "connect" if "/connect/" in path else "rest"


def resolve_path(spec: str | Path) -> Path:
    """`default` names the shipped profile; anything else is a path to a profile file."""
    if str(spec) == "default":
        return DEFAULT_PROFILE_PATH
    return Path(spec).expanduser().resolve()


def load(spec: str | Path) -> LatencyModel:
    """Load and check a profile file (a profile, or a whole contract-report.json holding one)."""
    path = resolve_path(spec)
    try:
        document = json.loads(path.read_text())
    except OSError as err:
        raise LatencyProfileError(f"latency profile {path}: cannot read it ({err.strerror})") from None
    except ValueError as err:
        raise LatencyProfileError(f"latency profile {path}: not JSON ({err})") from None
    return parse(document, str(path))


def parse(document: Any, name: str) -> LatencyModel:
    if isinstance(document, dict) and "latency_profile" in document and "format" not in document:
        document = document["latency_profile"]  # a contract-report.json as written
        field_prefix = "latency_profile."
    else:
        field_prefix = ""
    where = f"latency profile {name}"
    if not isinstance(document, dict):
        raise LatencyProfileError(f"{where}: must be a JSON object with `format` and `families`")
    if document.get("format") != PROFILE_FORMAT:
        raise LatencyProfileError(
            f"{where}: field `{field_prefix}format` is {document.get('format')!r}, "
            f"expected {PROFILE_FORMAT!r}"
        )
    seed = document.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise LatencyProfileError(f"{where}: field `{field_prefix}seed` must be an integer, got {seed!r}")
    raw = document.get("families")
    if not isinstance(raw, dict):
        raise LatencyProfileError(
            f"{where}: field `{field_prefix}families` must be an object of API families"
        )
    unknown = sorted(set(raw) - set(FAMILIES))
    if unknown:
        raise LatencyProfileError(
            f"{where}: field `{field_prefix}families.{unknown[0]}` is not an API family; "
            f"known: {', '.join(FAMILIES)}"
        )
    families = {
        family: _family(raw[family], f"{field_prefix}families.{family}", where)
        for family in FAMILIES
        if family in raw
    }
    missing = [f for f in FAMILIES if f not in families or families[f] is None]
    if missing:
        fallback = _default_families() if name != str(DEFAULT_PROFILE_PATH) else {}
        for family in missing:
            if family not in fallback:
                raise LatencyProfileError(f"{where}: field `{field_prefix}families.{family}` is missing")
            families[family] = fallback[family]
    return LatencyModel(name=name, seed=seed, families={f: d for f, d in families.items() if d is not None})


def _family(raw: Any, field_name: str, where: str) -> FamilyDelay | None:
    """One family's entry; None when it holds no figure (a family a contract run never called)."""
    if not isinstance(raw, dict):
        raise LatencyProfileError(
            f"{where}: field `{field_name}` must be an object with `seconds` or `median`/`p90`"
        )
    seconds = raw.get("seconds", [])
    if not isinstance(seconds, list) or not all(_non_negative(s) for s in seconds):
        raise LatencyProfileError(
            f"{where}: field `{field_name}.seconds` must be a list of seconds (numbers >= 0)"
        )
    if seconds:
        return FamilyDelay(seconds=tuple(float(s) for s in seconds))
    median, p90 = raw.get("median"), raw.get("p90")
    if median is None and p90 is None:
        return None
    for key, value in (("median", median), ("p90", p90)):
        if not _non_negative(value):
            raise LatencyProfileError(
                f"{where}: field `{field_name}.{key}` must be seconds (a number >= 0), got {value!r}"
            )
    assert isinstance(median, (int, float)) and isinstance(p90, (int, float))
    if p90 < median:
        raise LatencyProfileError(f"{where}: field `{field_name}.p90` ({p90}) is below its median ({median})")
    return FamilyDelay(median=float(median), p90=float(p90))


def _non_negative(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


_defaults: dict[str, FamilyDelay] | None = None


def _default_families() -> dict[str, FamilyDelay]:
    global _defaults
    if _defaults is None:
        _defaults = load(DEFAULT_PROFILE_PATH).families
    return _defaults
