"""python -m emulator start|stop|status|serve|set --state-dir DIR ..."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .latency import LatencyProfileError
from .store import DEFAULT_PROFILE, ORG_PROFILES


def _value(text: str) -> Any:
    """`true`/`false`/numbers as JSON, anything else as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _orgs(text: str | None) -> list[str] | None:
    return [a.strip() for a in text.split(",") if a.strip()] if text else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Local Salesforce org emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "serve"):
        p = sub.add_parser(name, help=f"{name} the orgs" + (" in the foreground" if name == "serve" else ""))
        p.add_argument("--state-dir", required=True)
        p.add_argument("--orgs", help="comma-separated aliases (default orgA,orgB or those already in DIR)")
        p.add_argument(
            "--profile",
            choices=sorted(ORG_PROFILES),
            default=DEFAULT_PROFILE,
            help="settings of orgs created now (default: new, an org created today: SOAP login() off); "
            "existing orgs keep theirs",
        )
        p.add_argument(
            "--latency",
            metavar="PROFILE",
            help="delay each answer as a real org would: a latency profile file (emulator/latency/"
            "default.json's format, or a contract-report.json from `make contract`), or `default`",
        )
    for name in ("stop", "status"):
        sub.add_parser(name).add_argument("--state-dir", required=True)
    p = sub.add_parser("set", help="change an org setting, e.g. allow-connected-app-creation true")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--org", required=True)
    p.add_argument("name")
    p.add_argument("value")
    args = parser.parse_args(argv)
    state_dir = Path(args.state_dir)

    if args.command == "serve":
        from .control import DEFAULT_ORGS, known_orgs
        from .server import serve

        try:
            serve(
                state_dir,
                _orgs(args.orgs) or known_orgs(state_dir) or list(DEFAULT_ORGS),
                args.profile,
                args.latency,
            )
        except LatencyProfileError as err:
            print(err, file=sys.stderr)
            return 2
        return 0
    from . import control

    if args.command == "start":
        try:
            orgs = control.start(state_dir, _orgs(args.orgs), args.profile, args.latency)
        except LatencyProfileError as err:
            print(err, file=sys.stderr)
            return 2
        print(json.dumps({a: o["instance_url"] for a, o in orgs.items()}))
        print(f"orgs.json: {state_dir.resolve() / 'orgs.json'}")
        return 0
    if args.command == "stop":
        print("stopped" if control.stop(state_dir) else "not running")
        return 0
    if args.command == "status":
        st = control.status(state_dir)
        print(json.dumps(st, indent=2))
        return 0 if st["running"] else 3
    return _set(state_dir, args.org, args.name, _value(args.value))


def _set(state_dir: Path, alias: str, name: str, value: Any) -> int:
    from .store import DEFAULT_SETTINGS, OrgStore

    if name not in DEFAULT_SETTINGS:
        print(f"unknown setting {name}; known: {', '.join(sorted(DEFAULT_SETTINGS))}", file=sys.stderr)
        return 2
    path = state_dir / f"{alias}.sqlite"
    if not path.exists():
        print(f"no org {alias} in {state_dir}", file=sys.stderr)
        return 2
    # SQLite serialises this write with a running emulator; the next request sees the new value.
    store = OrgStore(path, alias)
    try:
        store.set_setting(name, value)
    finally:
        store.close()
    print(f"{alias}: {name} = {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
