"""Provider process start-up: how long until it can answer a resource call (target: under 1.5 s).

The engine starts one `python -m pulumi.dynamic` process per operation. Before it answers the first
call it has started Python, imported the dynamic-provider server (pulumi, grpc, dill) and, by
unpickling a provider, every orglink provider module. A call that talks to an org also needs
simple-salesforce, zeep and the parsed Metadata WSDL (the trimmed one, providers.metadata_wsdl).
Each is timed as a fresh process running exactly those imports (pulumi.dynamic.__main__ itself
would start serving), median of ``rounds``:

- ``preview``: the server and orglink's modules; all a preview needs (it never calls an org);
- ``org_call``: that plus what the first org call loads; the issue's "ready" number;
- ``org_call_cold``: the same with an empty WSDL cache (the first operation after an install or a
  simple-salesforce upgrade makes the trimmed WSDL once).

Wall time on a shared machine is noisy, so the processes' CPU time (user + sys) is reported too.
Run alone with ``python -m bench.startup``; ``make bench`` (bench.run) includes it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"

SERVER = (
    "import dill, grpc, pulumi.dynamic, pulumi.runtime.proto.provider_pb2_grpc; "
    "import providers.integration.component"
)
ORG_CALL = SERVER + "; import simple_salesforce, providers.salesforce as s; s._metadata_wsdl()"
TARGET_S = 1.5


@dataclass(frozen=True)
class Timing:
    name: str
    wall_s: float  # median
    cpu_s: float  # median of user + sys
    wall_all: tuple[float, ...]


def time_snippet(name: str, snippet: str, rounds: int, env: dict[str, str] | None = None) -> Timing:
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(rounds):
        # A fresh cache dir per round when asked for a cold cache: every round then makes the WSDL.
        with tempfile.TemporaryDirectory(prefix="orglink-cache-") as cold:
            run_env = dict(os.environ, **(env or {}))
            if run_env.get("XDG_CACHE_HOME") == "<cold>":
                run_env["XDG_CACHE_HOME"] = cold
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([str(PYTHON), "-c", snippet], cwd=ROOT, env=run_env, check=True)
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return Timing(name, statistics.median(walls), statistics.median(cpus), tuple(round(w, 2) for w in walls))


def measure(rounds: int = 5) -> list[Timing]:
    # One unmeasured run fills the WSDL cache, as the first operation after an install does.
    subprocess.run([str(PYTHON), "-c", ORG_CALL], cwd=ROOT, check=True)
    return [
        time_snippet("preview", SERVER, rounds),
        time_snippet("org_call", ORG_CALL, rounds),
        time_snippet("org_call_cold", ORG_CALL, rounds, {"XDG_CACHE_HOME": "<cold>"}),
    ]


def ready_s(timings: list[Timing]) -> float:
    """The issue's number: ready for the first org call, the WSDL cache warm."""
    return round(next(t.wall_s for t in timings if t.name == "org_call"), 2)


def markdown(timings: list[Timing], rounds: int) -> str:
    lines = [
        f"| provider process ready for | wall s (median of {rounds}) | CPU s (median) | all wall s |",
        "|---|---:|---:|---|",
    ]
    for t in timings:
        lines.append(f"| {t.name} | {t.wall_s:.2f} | {t.cpu_s:.2f} | {', '.join(map(str, t.wall_all))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    timings = measure(args.rounds)
    print(markdown(timings, args.rounds))
    ready = ready_s(timings)
    print(f"\nready for the first org call: {ready:.2f} s ({'met' if ready < TARGET_S else 'NOT met'}: "
          f"under {TARGET_S} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
