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

Two worlds: `zero` (the emulator answers at once: mostly the engine's own cost) and `latency` (the
emulator's latency model, `--latency PROFILE`, default emulator/latency/default.json: what a user
waits for on real orgs). In each world, beside orglink: the serial script an admin would write
(bench.script: up, change, destroy, once per round after orglink's destroy, on the same orgs), the
critical-path bound (bench.model.bound_s, from the profile's median per family; 0 at zero latency)
and the engine's floor (bench.floor: echo resources in the shape of the orglink stack just made,
timed for up, preview and destroy).

Writes bench/results.json (a list of rows) and prints a markdown table per world. Never prints a
secret.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import floor, model, script, startup
from bench.procmem import ProviderPeakRss
from emulator import control
from emulator import latency as latency_model
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


Key = tuple[str, int, str]  # (world, K, operation)


@dataclass
class Measurements:
    samples: dict[Key, list[Sample]] = field(default_factory=dict)
    script: dict[Key, list[Sample]] = field(default_factory=dict)
    floor: dict[Key, list[float]] = field(default_factory=dict)
    shapes: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)

    def add(self, key: Key, sample: Sample) -> None:
        self.samples.setdefault(key, []).append(sample)


@dataclass(frozen=True)
class World:
    name: str  # "zero" or "latency"
    profile: str | None  # the latency profile (a path or "default"), None at zero latency

    def typical_latency(self) -> dict[str, float]:
        if self.profile is None:
            return dict.fromkeys(latency_model.FAMILIES, 0.0)
        families = latency_model.load(self.profile).families
        return {family: delay.typical for family, delay in families.items()}


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


def run_pulumi(pulumi: Pulumi, args: tuple[str, ...], stack: str = STACK) -> tuple[float, float]:
    """Run one CLI command; (wall seconds, provider peak RSS MB). Raises with the output on failure."""
    (pulumi.state_dir / "backend").mkdir(parents=True, exist_ok=True)
    command = ["pulumi", *args, "--stack", stack, "--non-interactive"]
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


def _counted(admin: AdminClient, action: Callable[[], Any]) -> tuple[float, dict[str, dict[str, int]], Any]:
    for alias in ORGS:
        admin.mark(alias)
    started = time.perf_counter()
    result = action()
    wall = time.perf_counter() - started
    requests = {alias: {key: n for key, n in admin.counters(alias).items() if n} for alias in ORGS}
    return wall, requests, result


def measure(admin: AdminClient, pulumi: Pulumi, operation: str) -> Sample:
    wall, requests, (_, peak) = _counted(admin, lambda: run_pulumi(pulumi, COMMANDS[operation]))
    return Sample(round(wall, 2), peak, requests)


def one_round(project: StackProject, admin: AdminClient, world: World, k: int,
              measurements: Measurements) -> None:  # fmt: skip
    project.write_stack(STACK, stack_config(k))
    for operation in OPERATIONS:
        if operation == "change":
            project.edit_stack(STACK, change_one_setting)
        sample = measure(admin, project.pulumi, operation)
        measurements.add((world.name, k, operation), sample)
        print(
            f"  {world.name} K={k} {operation}: {sample.wall_s:.1f}s, {sample.total()} requests", flush=True
        )
        if operation == "up" and (world.name, k) not in measurements.shapes:
            shape = floor.shape(project.pulumi.export_state(STACK))  # the floor's shape: this state
            measurements.shapes[(world.name, k)] = floor.summary(shape)
            (project.directory / "floor-shape.json").write_text(json.dumps(shape))


@contextlib.contextmanager
def _trusting(ca_bundle: str) -> Iterator[None]:
    """The emulator's CA for the script's requests and zeep (REQUESTS_CA_BUNDLE is what reaches
    both), only while it runs: the Pulumi commands keep the environment they had."""
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous


def script_round(orgs: dict[str, Any], admin: AdminClient, world: World, k: int,
                 measurements: Measurements) -> None:  # fmt: skip
    """The serial script's up, change and destroy on the orgs orglink's destroy just emptied."""
    made: dict[str, script.Made] = {}
    steps: dict[str, Callable[[], Any]] = {
        "up": lambda: made.update(script.up(orgs, k)),
        "change": lambda: script.change(orgs, made),
        "destroy": lambda: script.destroy(orgs, k),
    }
    for operation, step in steps.items():
        with _trusting(orgs["orgA"]["ca_bundle"]):
            wall, requests, _ = _counted(admin, step)
        sample = Sample(round(wall, 2), 0.0, requests)
        measurements.script.setdefault((world.name, k, operation), []).append(sample)
        print(f"  {world.name} K={k} script {operation}: {sample.wall_s:.1f}s, {sample.total()} requests",
              flush=True)  # fmt: skip


FLOOR_COMMANDS = {"up": COMMANDS["up"], "preview": COMMANDS["preview"], "destroy": COMMANDS["destroy"]}


def floor_rounds(
    workdir: Path, shape_file: Path, world: World, k: int, runs: int, measurements: Measurements
) -> None:
    project = floor.FloorProject(
        workdir / f"floor-{world.name}-k{k}",
        workdir / f"floor-pulumi-{world.name}-k{k}",
        json.loads(shape_file.read_text()),
    )
    for _ in range(runs):
        for operation, args in FLOOR_COMMANDS.items():
            wall, _peak = run_pulumi(project.pulumi, args, floor.FLOOR_STACK)
            measurements.floor.setdefault((world.name, k, operation), []).append(round(wall, 2))
            print(f"  {world.name} K={k} floor {operation}: {wall:.1f}s", flush=True)


def bench_k(workdir: Path, emulator_dir: Path, admin: AdminClient, world: World, k: int, runs: int,
            measurements: Measurements) -> None:  # fmt: skip
    project = StackProject(workdir / f"project-{world.name}-k{k}", emulator_dir,
                           workdir / f"pulumi-{world.name}-k{k}")  # fmt: skip
    project.init_stack(STACK, stack_config(k))
    orgs = control.opened_orgs(emulator_dir)
    for round_index in range(runs):
        print(f"{world.name} K={k}: round {round_index + 1}/{runs}", flush=True)
        one_round(project, admin, world, k, measurements)
        script_round(orgs, admin, world, k, measurements)
    floor_rounds(workdir, project.directory / "floor-shape.json", world, k, runs, measurements)


# ---------------------------------------------------------------------------------------------
# Rows, table, results.json
# ---------------------------------------------------------------------------------------------


def _median_int(values: list[int]) -> int:
    return round(statistics.median(values))


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 2) if value is not None and base else None


def row(world: World, k: int, operation: str, measurements: Measurements,
        bound: float | None) -> dict[str, Any]:  # fmt: skip
    key = (world.name, k, operation)
    samples = measurements.samples[key]
    minimum = model.min_requests(operation, k)
    total = _median_int([s.total() for s in samples])
    by_org = {
        alias: {key: _median_int([s.requests[alias].get(key, 0) for s in samples])
                for key in sorted({key for s in samples for key in s.requests[alias]})}
        for alias in ORGS
    }  # fmt: skip
    wall = round(statistics.median(s.wall_s for s in samples), 2)
    scripted = measurements.script.get(key, [])
    script_wall = _median([s.wall_s for s in scripted])
    floor_wall = _median(measurements.floor.get(key, []))
    return {
        "world": world.name,
        "latency_profile": world.profile,
        "k": k,
        "operation": operation,
        "runs": len(samples),
        "wall_s_median": wall,
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
        "script_wall_s": script_wall,
        "script_requests": _median_int([s.total() for s in scripted]) if scripted else None,
        "bound_wall_s": bound,
        "floor_wall_s": floor_wall,
        "ratio_to_script": _ratio(wall, script_wall),
        "ratio_to_bound": _ratio(wall, bound),
        "ratio_to_floor": _ratio(wall, floor_wall),
        "floor_shape": measurements.shapes.get((world.name, k)),
    }


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| K | operation | runs | wall s | script s | bound s | floor s | x script | x bound | x floor "
        "| requests (A / B) | writes | SOAP / REST | script req | min | x min | peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per_org = " / ".join(str(sum(r["requests_by_org"][alias].values())) for alias in ORGS)
        script_requests = "-" if r["script_requests"] is None else str(r["script_requests"])
        lines.append(
            f"| {r['k']} | {r['operation']} | {r['runs']} | {r['wall_s_median']:.1f} | "
            f"{_cell(r['script_wall_s'])} | {_cell(r['bound_wall_s'])} | {_cell(r['floor_wall_s'])} | "
            f"{_cell(r['ratio_to_script'], 2)} | {_cell(r['ratio_to_bound'], 2)} | "
            f"{_cell(r['ratio_to_floor'], 2)} | {r['requests_total']} ({per_org}) | {r['requests_write']} | "
            f"{r['requests_soap']} / {r['requests_rest']} | {script_requests} | {r['min_requests']} | "
            f"{_cell(r['ratio_to_min'], 2)} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def ready_row(ready_s: float) -> dict[str, Any]:
    """The provider start-up as a row of its own (k 0: it does not depend on the stack)."""
    return {
        "world": "zero",
        "latency_profile": None,
        "k": 0,
        "operation": "provider_ready",
        "runs": 5,
        "wall_s_median": ready_s,
        "requests_total": 0,
        "requests_write": 0,
        "min_requests": 0,
        "peak_rss_mb": None,
        "script_wall_s": None,
        "bound_wall_s": None,
        "floor_wall_s": None,
    }


def _of(rows: list[dict[str, Any]], world: str, operation: str) -> dict[int, dict[str, Any]]:
    return {r["k"]: r for r in rows if r["world"] == world and r["operation"] == operation}


def _figures(found: dict[int, Any]) -> str:
    return ", ".join(f"K={k}: {v}" for k, v in sorted(found.items()))


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    """The issue's targets: (what, met, the measured numbers). Reported, never asserted."""
    found: list[tuple[str, bool, str]] = []
    for world in sorted({r["world"] for r in rows}):
        previews = _of(rows, world, "preview")
        requests = {k: r["requests_total"] for k, r in previews.items()}
        found.append(
            (f"{world}: no-op preview makes 0 requests", not any(requests.values()), _figures(requests))
        )
        writes = {k: r["requests_write"] for k, r in _of(rows, world, "noop_up").items()}
        found.append((f"{world}: no-op up makes 0 writes", not any(writes.values()), _figures(writes)))
        ratios = {k: r["ratio_to_floor"] for k, r in previews.items()}
        found.append(
            (
                f"{world}: no-op preview within 1.3 x the engine's floor",
                all(v is not None and v <= 1.3 for v in ratios.values()),
                _figures(ratios),
            )
        )
        up_min = {k: r["ratio_to_min"] for k, r in _of(rows, world, "up").items()}
        found.append(
            (
                f"{world}: up requests within 1.5 x the hand-written minimum",
                all(v is not None and v <= 1.5 for v in up_min.values()),
                _figures(up_min),
            )
        )
    for operation in ("up", "destroy"):
        ratios = {k: r["ratio_to_floor"] for k, r in _of(rows, "zero", operation).items()}
        if ratios:
            found.append(
                (
                    f"zero: {operation} within 1.3 x the engine's floor",
                    all(v is not None and v <= 1.3 for v in ratios.values()),
                    _figures(ratios),
                )
            )
    ups = _of(rows, "latency", "up")
    if 1 in ups:
        r = ups[1]
        found.append(
            (
                "latency: up at K=1 no slower than the serial script",
                r["ratio_to_script"] is not None and r["ratio_to_script"] <= 1.0,
                f"{r['wall_s_median']} s vs {r['script_wall_s']} s",
            )
        )
        found.append(
            (
                "latency: up at K=1 within 1.5 x the critical-path bound",
                r["ratio_to_bound"] is not None and r["ratio_to_bound"] <= 1.5,
                f"{r['wall_s_median']} s vs {r['bound_wall_s']} s",
            )
        )
    if 10 in ups:
        r = ups[10]
        found.append(
            (
                "latency: up at K=10 at most half the serial script's time",
                r["ratio_to_script"] is not None and r["ratio_to_script"] <= 0.5,
                f"{r['wall_s_median']} s vs {r['script_wall_s']} s",
            )
        )
    for world in sorted({r["world"] for r in rows}):
        refresh = _of(rows, world, "refresh")
        per_resource = {
            k: round(r["requests_read"] / (k * model.RESOURCES_PER_INTEGRATION), 2)
            for k, r in refresh.items()
        }
        found.append(
            (
                f"{world}: refresh at most 1 read per resource",
                all(v <= 1 for v in per_resource.values()),
                _figures(per_resource),
            )
        )
    return found


def targets_markdown(found: list[tuple[str, bool, str]]) -> str:
    return "\n".join(f"- {'met' if met else 'NOT met'}: {what} ({numbers})" for what, met, numbers in found)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ks", default="1,10,50", help="stack sizes at zero latency (default 1,10,50)")
    parser.add_argument(
        "--latency-ks",
        default="1,10",
        help="stack sizes under the latency model (default 1,10; add 50 when there is time)",
    )
    parser.add_argument("--latency", default="default", metavar="PROFILE",
                        help="latency profile: `default` (emulator/latency/default.json) or a file, "
                        "e.g. a contract-report.json from `make contract`")  # fmt: skip
    parser.add_argument("--worlds", default="zero,latency", help="zero, latency or both (default)")
    parser.add_argument("--runs", type=int, default=3, help="rounds per K (default 3)")
    parser.add_argument(
        "--runs-for", default="", metavar="K=N,...",
        help="fewer rounds for some sizes, e.g. 50=1 when K=50 x 3 rounds takes too long",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the rows")
    return parser.parse_args(argv)


def runs_for(args: argparse.Namespace, ks: str) -> dict[int, int]:
    overrides = dict(item.split("=") for item in args.runs_for.split(",") if item)
    return {int(k): int(overrides.get(k, args.runs)) for k in ks.split(",") if k}


def plans(args: argparse.Namespace) -> list[tuple[World, dict[int, int]]]:
    wanted = [w.strip() for w in args.worlds.split(",") if w.strip()]
    unknown = set(wanted) - {"zero", "latency"}
    if unknown:
        raise SystemExit(f"--worlds: unknown world {sorted(unknown)[0]!r}; use zero, latency or both")
    found = []
    if "zero" in wanted:
        found.append((World("zero", None), runs_for(args, args.ks)))
    if "latency" in wanted:
        latency_model.load(args.latency)  # a bad profile stops the bench before anything runs
        found.append((World("latency", args.latency), runs_for(args, args.latency_ks)))
    return found


def bench_world(workdir: Path, world: World, plan: dict[int, int], measurements: Measurements) -> None:
    emulator_dir = workdir / f"emulator-{world.name}"
    control.start(emulator_dir, list(ORGS), latency=world.profile)
    try:
        admin = AdminClient(emulator_dir)
        admin.set_setting("orgB", "allow-connected-app-creation", True)
        for k, runs in plan.items():
            bench_k(workdir, emulator_dir, admin, world, k, runs, measurements)
    finally:
        control.stop(emulator_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    worlds = plans(args)
    measurements = Measurements()
    with tempfile.TemporaryDirectory(prefix="orglink-bench-") as tmp:
        for world, plan in worlds:
            bench_world(Path(tmp), world, plan, measurements)
    timings = startup.measure()
    ready = startup.ready_s(timings)
    rows = []
    for world, plan in worlds:
        latency = world.typical_latency()
        bounds = {op: (model.bound_s(op, latency) if world.profile else None) for op in OPERATIONS}
        rows += [row(world, k, op, measurements, bounds[op]) for k in plan for op in OPERATIONS]
    args.output.write_text(json.dumps([*rows, ready_row(ready)], indent=1) + "\n")
    for world, _plan in worlds:
        profile = f", latency profile {world.profile}" if world.profile else ""
        print(f"\n## World: {world.name}{profile}\n")
        print(markdown([r for r in rows if r["world"] == world.name]))
    for (world_name, k), shape in sorted(measurements.shapes.items()):
        print(f"\nFloor shape ({world_name}, K={k}): {shape}")
    print(f"\nProvider process ready for the first org call (bench.startup): {ready:.2f} s (median of 5).")
    print("\n" + startup.markdown(timings, rounds=5))
    print("\nTargets:\n" + targets_markdown(targets(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
