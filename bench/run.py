"""`make bench`: the orglink stack's lifecycle on a fresh emulator, for K integrations.

For each K (default 1, 10, 50) one stack of K copies of the demo integration (stacks/Pulumi.local.yaml,
verification included) goes through `--runs` rounds of

    up (from empty) -> preview (no-op) -> up (no-op) -> change (one policy field of one
    integration, then up) -> refresh -> destroy

each through the real Pulumi CLI exactly as a user runs it (`up`, `refresh` and `destroy` with
`--yes --skip-preview`, `preview` plain). Per operation it records the wall time, the Salesforce
API requests both emulator orgs counted (admin mark/counters), and the provider process's peak
resident memory (bench.procmem). The median over rounds is reported, next to the minimum number of
requests a hand-written script needs for the same job (bench.model).

Writes bench/results.json (a list of rows) and prints a markdown table. Never prints a secret.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import model, startup
from bench.procmem import ProviderPeakRss
from emulator import control
from emulator.admin import AdminClient
from tests.engine import Pulumi
from tests.stack_project import StackProject, shipped_stack_settings

STACK = "bench"
ORGS = ("orgA", "orgB")
OPERATIONS = ("up", "preview", "noop_up", "change", "refresh", "destroy")
RESULTS = Path(__file__).resolve().parent / "results.json"
SOAP_APIS = ("soap_login", "metadata")  # everything else (oauth, rest, connect, tooling) is REST
COMMAND_TIMEOUT_S = 3600.0


@dataclass
class Sample:
    wall_s: float
    peak_rss_mb: float
    requests: dict[str, dict[str, int]]  # org -> "<api>.<read|write>" -> count (non-zero only)

    def total(self, predicate: Callable[[str], bool] = lambda _key: True) -> int:
        return sum(n for counts in self.requests.values() for key, n in counts.items() if predicate(key))


@dataclass
class Measurements:
    samples: dict[tuple[int, str], list[Sample]] = field(default_factory=dict)

    def add(self, k: int, operation: str, sample: Sample) -> None:
        self.samples.setdefault((k, operation), []).append(sample)


# ---------------------------------------------------------------------------------------------
# The stack
# ---------------------------------------------------------------------------------------------


def stack_config(k: int) -> dict[str, Any]:
    """The demo stack's config with K copies of its integration, named Bench App 01..K."""
    config = shipped_stack_settings("local")
    [template] = config["orglink:integrations"]
    integrations = []
    for index in range(1, k + 1):
        integration = copy.deepcopy(template)
        integration["name"] = f"Bench App {index:02d}"
        integrations.append(integration)
    config["orglink:integrations"] = integrations
    return config


def change_one_setting(config: dict[str, Any]) -> None:
    """The one-setting change: the first integration's session timeout, 24 h -> 12 h."""
    config["orglink:integrations"][0]["policy"]["session_timeout"] = 720


COMMANDS: dict[str, tuple[str, ...]] = {
    "up": ("up", "--yes", "--skip-preview"),
    "preview": ("preview",),
    "noop_up": ("up", "--yes", "--skip-preview"),
    "change": ("up", "--yes", "--skip-preview"),
    "refresh": ("refresh", "--yes", "--skip-preview"),
    "destroy": ("destroy", "--yes", "--skip-preview"),
}


# ---------------------------------------------------------------------------------------------
# Measuring one operation
# ---------------------------------------------------------------------------------------------


def run_pulumi(pulumi: Pulumi, args: tuple[str, ...]) -> tuple[float, float]:
    """Run one CLI command; (wall seconds, provider peak RSS MB). Raises with the output on failure."""
    (pulumi.state_dir / "backend").mkdir(parents=True, exist_ok=True)
    command = ["pulumi", *args, "--stack", STACK, "--non-interactive"]
    started = time.perf_counter()
    with subprocess.Popen(
        command, cwd=pulumi.project_dir, env=pulumi.env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    ) as process, ProviderPeakRss(process.pid) as memory:  # fmt: skip
        output, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"pulumi {' '.join(args)} exited {process.returncode}\n{output[-4000:]}")
    return wall, memory.peak_mb


def measure(admin: AdminClient, pulumi: Pulumi, operation: str) -> Sample:
    for alias in ORGS:
        admin.mark(alias)
    wall, peak = run_pulumi(pulumi, COMMANDS[operation])
    requests = {alias: {key: n for key, n in admin.counters(alias).items() if n} for alias in ORGS}
    return Sample(round(wall, 2), peak, requests)


def one_round(project: StackProject, admin: AdminClient, k: int, measurements: Measurements) -> None:
    project.write_stack(STACK, stack_config(k))
    for operation in OPERATIONS:
        if operation == "change":
            project.edit_stack(STACK, change_one_setting)
        sample = measure(admin, project.pulumi, operation)
        measurements.add(k, operation, sample)
        print(f"  K={k} {operation}: {sample.wall_s:.1f}s, {sample.total()} requests", flush=True)


def bench_k(workdir: Path, emulator_dir: Path, admin: AdminClient, k: int, runs: int,
            measurements: Measurements) -> None:  # fmt: skip
    project = StackProject(workdir / f"project-k{k}", emulator_dir, workdir / f"pulumi-k{k}")
    project.init_stack(STACK, stack_config(k))
    for round_index in range(runs):
        print(f"K={k}: round {round_index + 1}/{runs}", flush=True)
        one_round(project, admin, k, measurements)


# ---------------------------------------------------------------------------------------------
# Rows, table, results.json
# ---------------------------------------------------------------------------------------------


def _median_int(values: list[int]) -> int:
    return round(statistics.median(values))


def row(k: int, operation: str, samples: list[Sample]) -> dict[str, Any]:
    minimum = model.min_requests(operation, k)
    total = _median_int([s.total() for s in samples])
    by_org = {
        alias: {key: _median_int([s.requests[alias].get(key, 0) for s in samples])
                for key in sorted({key for s in samples for key in s.requests[alias]})}
        for alias in ORGS
    }  # fmt: skip
    return {
        "k": k,
        "operation": operation,
        "runs": len(samples),
        "wall_s_median": round(statistics.median(s.wall_s for s in samples), 2),
        "wall_s_all": [s.wall_s for s in samples],
        "requests_total": total,
        "requests_write": _median_int([s.total(lambda key: key.endswith(".write")) for s in samples]),
        "requests_read": _median_int([s.total(lambda key: key.endswith(".read")) for s in samples]),
        "requests_soap": _median_int([s.total(lambda key: key.split(".")[0] in SOAP_APIS) for s in samples]),
        "requests_rest": _median_int(
            [s.total(lambda key: key.split(".")[0] not in SOAP_APIS) for s in samples]
        ),
        "requests_by_org": by_org,
        "min_requests": minimum,
        "ratio_to_min": round(total / minimum, 2) if minimum else None,
        "peak_rss_mb": max(s.peak_rss_mb for s in samples),
    }


def markdown(rows: list[dict[str, Any]], ready_s: float) -> str:
    lines = [
        "| K | operation | runs | wall s (median) | requests (A / B) | writes | SOAP / REST | min | ratio "
        "| provider peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per_org = " / ".join(str(sum(r["requests_by_org"][alias].values())) for alias in ORGS)
        ratio = "-" if r["ratio_to_min"] is None else f"{r['ratio_to_min']:.2f}"
        lines.append(
            f"| {r['k']} | {r['operation']} | {r['runs']} | {r['wall_s_median']:.1f} | "
            f"{r['requests_total']} ({per_org}) | {r['requests_write']} | "
            f"{r['requests_soap']} / {r['requests_rest']} | {r['min_requests']} | {ratio} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    lines.append(f"\nProvider process ready for the first org call (bench.startup): "
                 f"{ready_s:.2f} s (median of 5).")
    return "\n".join(lines)


def ready_row(ready_s: float) -> dict[str, Any]:
    """The provider start-up as a row of its own (k 0: it does not depend on the stack)."""
    return {"k": 0, "operation": "provider_ready", "runs": 5, "wall_s_median": ready_s,
            "requests_total": 0, "requests_write": 0, "min_requests": 0, "peak_rss_mb": None}  # fmt: skip


def _row(rows: list[dict[str, Any]], k: int, operation: str) -> dict[str, Any]:
    return next(r for r in rows if r["k"] == k and r["operation"] == operation)


def targets(rows: list[dict[str, Any]], ready_s: float) -> list[tuple[str, bool, str]]:
    """Issue 9's targets: (what, met, the measured numbers)."""
    ks = sorted({r["k"] for r in rows})
    found: list[tuple[str, bool, str]] = []
    previews = [_row(rows, k, "preview")["requests_total"] for k in ks]
    found.append(("no-op preview makes 0 requests", not any(previews), f"{previews} for K={ks}"))
    writes = [_row(rows, k, "noop_up")["requests_write"] for k in ks]
    found.append(("no-op up makes 0 write requests", not any(writes), f"{writes} for K={ks}"))
    for operation in ("up", "destroy"):
        ratios = [_row(rows, k, operation)["ratio_to_min"] for k in ks]
        met = all(r is not None and r <= 1.2 for r in ratios)
        found.append((f"{operation} within 1.2 x the hand-written minimum", met, f"{ratios} for K={ks}"))
    resources = {k: k * model.RESOURCES_PER_INTEGRATION for k in ks}
    per_resource = [round(_row(rows, k, "refresh")["requests_read"] / resources[k], 2) for k in ks]
    found.append(("refresh at most 1 read per resource", all(r <= 1 for r in per_resource),
                  f"{per_resource} reads per resource for K={ks} (logins not counted)"))  # fmt: skip
    if len(ks) > 1:
        small, large = ks[0], ks[-1]
        times = {k: _row(rows, k, "preview")["wall_s_median"] for k in (small, large)}
        slope = (times[large] - times[small]) / (large - small)
        found.append(("no-op preview marginal cost under 0.15 s per integration", slope < 0.15,
                      f"{slope:.3f} s from K={small} to K={large}"))  # fmt: skip
    found.append(("provider ready under 1.5 s", ready_s < 1.5, f"{ready_s:.2f} s"))
    return found


def targets_markdown(found: list[tuple[str, bool, str]]) -> str:
    return "\n".join(f"- {'met' if met else 'NOT met'}: {what} ({numbers})" for what, met, numbers in found)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ks", default="1,10,50", help="comma-separated stack sizes (default 1,10,50)")
    parser.add_argument("--runs", type=int, default=3, help="rounds per K (default 3)")
    parser.add_argument(
        "--runs-for", default="", metavar="K=N,...",
        help="fewer rounds for some sizes, e.g. 50=1 when K=50 x 3 rounds takes too long",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the rows")
    return parser.parse_args(argv)


def runs_for(args: argparse.Namespace) -> dict[int, int]:
    overrides = dict(item.split("=") for item in args.runs_for.split(",") if item)
    return {int(k): int(overrides.get(k, args.runs)) for k in args.ks.split(",")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = runs_for(args)
    measurements = Measurements()
    with tempfile.TemporaryDirectory(prefix="orglink-bench-") as tmp:
        workdir = Path(tmp)
        emulator_dir = workdir / "emulator"
        control.start(emulator_dir, list(ORGS))
        try:
            admin = AdminClient(emulator_dir)
            admin.set_setting("orgB", "allow-connected-app-creation", True)
            for k, runs in plan.items():
                bench_k(workdir, emulator_dir, admin, k, runs, measurements)
        finally:
            control.stop(emulator_dir)
    timings = startup.measure()
    ready = startup.ready_s(timings)
    rows = [row(k, op, measurements.samples[(k, op)]) for k in plan for op in OPERATIONS]
    rows.append(ready_row(ready))
    args.output.write_text(json.dumps(rows, indent=1) + "\n")
    print(markdown(rows[:-1], ready))
    print("\n" + startup.markdown(timings, rounds=5))
    print("\nTargets:\n" + targets_markdown(targets(rows[:-1], ready)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
