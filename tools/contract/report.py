"""What the contract found: checks, the request log they read, the latency profile, and the two
report files (`contract-report.md` for people, `contract-report.json` for tools).

No secret reaches a report: every text a check keeps goes through ``Redactor`` (the connection
secrets the contract knows), and the request log holds no header, body or query string.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from providers.salesforce import REQUEST_FAMILIES

PASS, FAIL, SKIP, INFO = "pass", "fail", "skip", "info"
PROFILE_FORMAT = "orglink-latency-profile/1"


@dataclass
class Check:
    """One fact or lifecycle step: what was asked, what Salesforce answered, and the verdict."""

    section: str  # "fact", "lifecycle", "sweep" or "fidelity"
    name: str
    status: str  # pass, fail, skip or info
    answer: str  # what Salesforce (or the engine) answered, in words; never a secret
    requests: list[str] = field(default_factory=list)  # "GET /services/data/" (org, method, path)
    field: str | None = None  # the config key or field a failure names
    seconds: float = 0.0


@dataclass
class RequestLine:
    at: float
    org: str
    family: str
    method: str
    path: str
    operation: str
    status: int
    seconds: float
    client: str = ""  # a token request's app (a hash of its client id)

    def short(self) -> str:
        what = f" {self.operation}" if self.operation else ""
        return f"{self.org}: {self.method} {self.path}{what} -> {self.status}"


class RequestLog:
    """The file providers.salesforce appends one line per request to (ORGLINK_REQUEST_LOG)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def mark(self) -> int:
        return self.path.stat().st_size

    def since(self, mark: int = 0) -> list[RequestLine]:
        with self.path.open("rb") as log:
            log.seek(mark)
            text = log.read().decode("utf-8", errors="replace")
        lines = []
        for raw in text.splitlines():
            try:
                lines.append(RequestLine(**json.loads(raw)))
            except (ValueError, TypeError):
                continue  # a line cut short by a killed process
        return lines


class Redactor:
    """Replaces every secret the contract knows with `[secret]` in text bound for a report."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: Any) -> None:
        if isinstance(value, str) and len(value) >= 4:
            self._secrets.add(value)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "[secret]")
        return text


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-int(share * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float]) -> dict[str, Any]:
    rounded = [round(v, 4) for v in values]
    if not values:
        return {"seconds": [], "count": 0, "median": None, "p90": None}
    return {
        "seconds": rounded,
        "count": len(values),
        "median": round(statistics.median(values), 4),
        "p90": round(percentile(values, 0.9), 4),
    }


def latency_profile(lines: list[RequestLine], propagation: list[float], source: str) -> dict[str, Any]:
    """Per API family the observed seconds of each request, plus median and p90 (docs/contract.md)."""
    families = {
        family: summary([r.seconds for r in lines if r.family == family]) for family in REQUEST_FAMILIES
    }
    return {
        "format": PROFILE_FORMAT,
        "source": source,
        "families": families,
        "propagation": summary(propagation),
    }


@dataclass
class Report:
    target: str  # "emulator" or the two org names
    suffix: str
    checks: list[Check] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    failed_step: str | None = None
    failed_field: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_step is None and all(c.status != FAIL for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "suffix": self.suffix,
            "failed_step": self.failed_step,
            "failed_field": self.failed_field,
            "checks": [asdict(c) for c in self.checks],
            "latency_profile": self.profile,
        }

    def to_markdown(self) -> str:
        verdict = "PASSED" if self.ok else f"FAILED at {self.failed_step or 'a check'}"
        if self.failed_field:
            verdict += f" (field `{self.failed_field}`)"
        out = [
            f"# orglink contract report: {verdict}",
            "",
            f"Target: {self.target}. Every object the run made carries `{self.suffix}`.",
            "",
        ]
        titles = {
            "fact": "Read-only facts",
            "lifecycle": "Lifecycle",
            "sweep": "Sweep",
            "fidelity": "Behaviours orglink relies on",
        }
        for section, title in titles.items():
            rows = [c for c in self.checks if c.section == section]
            if not rows:
                continue
            out += [
                f"## {title}",
                "",
                "| check | result | what Salesforce answered | requests |",
                "|---|---|---|---|",
            ]
            for c in rows:
                field_note = f" (field `{c.field}`)" if c.field else ""
                requests = "<br>".join(_cell(r) for r in c.requests[:6])
                if len(c.requests) > 6:
                    requests += f"<br>... {len(c.requests)} in all"
                out.append(f"| {_cell(c.name)} | {c.status}{field_note} | {_cell(c.answer)} | {requests} |")
            out.append("")
        out += [
            "## Latency profile (seconds per request)",
            "",
            "| family | count | median | p90 |",
            "|---|---:|---:|---:|",
        ]
        for family, stats in self.profile.get("families", {}).items():
            out.append(f"| {family} | {stats['count']} | {_num(stats['median'])} | {_num(stats['p90'])} |")
        gate = self.profile.get("propagation", {})
        out += [
            "",
            f"New apps reached the login servers after (token gate wait): {gate.get('seconds', [])} s.",
            "",
        ]
        return "\n".join(out)

    def write(self, out_dir: Path, redact: Redactor) -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        md, js = out_dir / "contract-report.md", out_dir / "contract-report.json"
        md.write_text(redact(self.to_markdown()))
        js.write_text(redact(json.dumps(self.to_json(), indent=2)) + "\n")
        return md, js


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")[:600]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
