"""python -m tools.contract (--org-a A --org-b B | --stack-file FILE | --emulator) [--read-only] [--out DIR]
    [--adopt-connected-app NAME]

Run with `.tools/env.sh` sourced (the Makefile does). The lifecycle writes to both orgs: only
objects whose API names carry `orglink_contract_<hex>`, all removed again by destroy and the sweep.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from emulator import control  # only to start local orgs for --emulator (a tool-side import)
from emulator.admin import AdminClient
from providers import salesforce

from . import connections as conns
from . import facts, lifecycle
from .report import FAIL, INFO, SKIP, Check, Redactor, Report, RequestLog, latency_profile

FIDELITY_DOC = lifecycle.ROOT / "docs" / "emulator-fidelity.md"
# The adopted app's consumer secret: Salesforce never returns it, and a secret stays off command lines.
ADOPT_SECRET_ENV = "ADOPT_CONNECTED_APP_SECRET"


def progress(message: str) -> None:
    print(f"==> {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.contract", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--org-a", help="Org A: a Salesforce CLI alias or username (or an alias of --stack-file)"
    )
    parser.add_argument(
        "--org-b", help="Org B: a Salesforce CLI alias or username (or an alias of --stack-file)"
    )
    parser.add_argument(
        "--stack-file", type=Path, help="take the connections from this stack file's orglink:orgs"
    )
    parser.add_argument("--emulator", action="store_true", help="start two local emulator orgs in a temp dir")
    parser.add_argument("--read-only", action="store_true", help="stop after the read-only facts")
    parser.add_argument(
        "--run-as-user", help="Org B's client-credentials run-as user (default: Org B's login user)"
    )
    parser.add_argument(
        "--ca-bundle", help="a CA bundle the connections trust (one that sets none of its own)"
    )
    parser.add_argument(
        "--adopt-connected-app",
        metavar="NAME",
        help=f"run the connected-app part on this existing app of Org B (its API name) instead of "
        f"creating one; destroy leaves it in place. Its consumer secret comes from ${ADOPT_SECRET_ENV}",
    )
    parser.add_argument("--out", type=Path, default=Path.cwd(), help="where the reports go (default: here)")
    args = parser.parse_args(argv)
    if (
        sum(
            bool(x)
            for x in (args.emulator, args.stack_file, args.org_a and args.org_b and not args.stack_file)
        )
        != 1
    ):
        parser.error("give --org-a and --org-b (Salesforce CLI aliases), or --stack-file, or --emulator")
    if args.adopt_connected_app and not args.read_only and not os.environ.get(ADOPT_SECRET_ENV):
        parser.error(
            f"--adopt-connected-app: set {ADOPT_SECRET_ENV} to the app's consumer secret (Setup > App "
            "Manager > the app > View > Manage Consumer Details); Org A's credentials need it"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="orglink-contract-"))
    stack = f"orglink-contract-{secrets.token_hex(4)}"
    redact = Redactor()
    started_emulator: Path | None = None
    try:
        if args.emulator:
            # Stopped (Ctrl-C, a CI job cancelled), a rehearsal still stops its emulator and removes
            # its temp dir. Against real orgs a stop keeps the temp dir: its Pulumi state is what
            # tells which objects the run had made.
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
            started_emulator = work / "emulator"
            orgs = start_emulator(started_emulator)
        elif args.stack_file:
            orgs = conns.from_stack_file(args.stack_file, args.org_a, args.org_b)
        else:
            orgs = conns.from_cli_aliases(args.org_a, args.org_b)
        if args.ca_bundle:
            orgs.trust(str(Path(args.ca_bundle).resolve()))
        for value in orgs.secrets():
            redact.add(value)
        if os.environ.get(ADOPT_SECRET_ENV):
            redact.add(os.environ[ADOPT_SECRET_ENV])
        report = run(orgs, stack, work, redact, args)
    except conns.ContractError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if started_emulator is not None:
            control.stop(started_emulator)
        shutil.rmtree(work, ignore_errors=True)
    md, js = report.write(args.out, redact)
    progress(f"{'PASSED' if report.ok else 'FAILED'}: reports in {md} and {js}")
    return 0 if report.ok else 1


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def start_emulator(state_dir: Path) -> conns.Orgs:
    """Two fresh local orgs; Org B allows connected apps (as an org whose Support enabled it)."""
    progress(f"starting the emulator orgs orgA, orgB in {state_dir}")
    control.start(state_dir, list(conns.ALIASES))
    admin = AdminClient(state_dir)
    admin.set_setting("orgB", "allow-connected-app-creation", True)
    # A new app reaches the token endpoint after 2 s (minutes on a real org), retried every second.
    admin.set_setting("orgB", "app-propagation-seconds", 2)
    orgs = conns.from_emulator(state_dir)
    orgs.cli_env["ORGLINK_VERIFY_RETRY_S"] = os.environ.get("ORGLINK_VERIFY_RETRY_S", "1")
    return orgs


def run(orgs: conns.Orgs, stack: str, work: Path, redact: Redactor, args: argparse.Namespace) -> Report:
    report = Report(orgs.target, stack)
    log = RequestLog(work / "requests-contract.jsonl")
    previous = os.environ.get(salesforce.REQUEST_LOG_ENV)
    os.environ[salesforce.REQUEST_LOG_ENV] = str(log.path)
    salesforce.reset()
    salesforce.configure_orgs(orgs.connections)
    lc: lifecycle.Lifecycle | None = None
    try:
        found = facts.read_only_facts(
            facts.FactRunner(log, redact, report.checks, progress), args.run_as_user, orgs.connections,
            args.adopt_connected_app,
        )  # fmt: skip
        if not all(found.logged_in.get(a) for a in conns.ALIASES):
            report.failed_step = "login"
        elif not args.read_only:
            lc = lifecycle_run(orgs, stack, work, redact, report, found, args.adopt_connected_app)
    finally:
        report.checks += facts.behaviour_checks(report.checks, FIDELITY_DOC)
        lines = log.since() + (lc.requests if lc else [])
        report.profile = latency_profile(
            lines, lc.propagation if lc else [], "emulator" if orgs.emulator_state_dir else "orgs"
        )
        salesforce.reset()
        if previous is None:
            os.environ.pop(salesforce.REQUEST_LOG_ENV, None)
        else:
            os.environ[salesforce.REQUEST_LOG_ENV] = previous
    return report


def with_instance_urls(connections: dict[str, dict[str, Any]], found: facts.OrgFacts) -> dict[str, Any]:
    """Each connection with the My Domain its login found (a sf alias names none): the stack
    knows Org B's token and callout URL at preview, before it calls any org."""
    filled = {alias: dict(connection) for alias, connection in connections.items()}
    for alias, connection in filled.items():
        if connection.get("auth") != "emulator" and not connection.get("instance_url"):
            connection["instance_url"] = found.instance_urls[alias]
    return filled


def lifecycle_run(orgs: conns.Orgs, stack: str, work: Path, redact: Redactor, report: Report,
                  found: facts.OrgFacts, adopt: str | None = None) -> lifecycle.Lifecycle:  # fmt: skip
    """Sweep what earlier runs left, the lifecycle (stopping at the first failure), then destroy
    and the sweep whatever happened."""
    lifecycle.sweep(report.checks, progress, "before: what earlier runs left")
    if not found.run_as_user:
        report.failed_step, report.failed_field = "run-as user", "--run-as-user"
        report.checks.append(Check("lifecycle", "run-as user", FAIL, "give --run-as-user (a user of Org B)"))
        return lifecycle.Lifecycle(
            lifecycle.Cli(work, work, ""), stack, work, redact, report.checks, progress
        )
    cli = lifecycle.Cli(lifecycle.make_project(work), work, secrets.token_urlsafe(24), orgs.cli_env)
    redact.add(cli.passphrase)
    lc = lifecycle.Lifecycle(cli, stack, work, redact, report.checks, progress)
    adopt = adopt if found.adoptable_app else None
    wanted = lifecycle.integrations(
        found.run_as_user,
        found.usernames.get("orgA"),
        found.may_create_connected_app,
        120 if orgs.emulator_state_dir else 900,
        adopt,
    )
    if adopt:
        # The adopted app's integration comes second, after the External Client App's.
        lc.secret_config["orglink:integrations[1].app.consumer_secret"] = os.environ[ADOPT_SECRET_ENV]
    report.checks.append(connected_app_path(found, adopt))
    started = time.monotonic()
    try:
        lc.run(with_instance_urls(orgs.connections, found), wanted)
    except lifecycle.StepFailed as failed:
        report.failed_step, report.failed_field = failed.step, failed.field
    finally:
        if lc.created:
            try:
                lc.destroy()
            except lifecycle.StepFailed as failed:
                report.failed_step = report.failed_step or failed.step
        lifecycle.sweep(report.checks, progress, "after")
        report.checks.append(
            Check("lifecycle", "lifecycle time", INFO, f"{time.monotonic() - started:.1f} s")
        )
    return lc


def connected_app_path(found: facts.OrgFacts, adopt: str | None) -> Check:
    """Which way the connected-app part ran: adopted, created, or skipped and why."""
    if adopt:
        return Check(
            "lifecycle", "connected app", INFO, f"adopted: Org B's existing app '{adopt}' (left in place)"
        )
    if found.may_create_connected_app:
        return Check("lifecycle", "connected app", INFO, "created: Org B allows new connected apps")
    return Check(
        "lifecycle",
        "connected app",
        SKIP,
        f"skipped: Org B refuses new connected apps ({found.creation_words}) and no app to adopt was "
        "given (--adopt-connected-app)",
    )


if __name__ == "__main__":
    sys.exit(main())
