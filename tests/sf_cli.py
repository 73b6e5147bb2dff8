"""pytest plugin: the real Salesforce CLI (`sf`, installed by `make setup`) against the emulator.

- `sf_cli` (function): an `SfCli` with its own HOME, so logins made in one test never leak into
  another or into the user's ~/.sfdx. `sf_cli.run(...)` runs one command with `--json` and returns
  the parsed output; `sf_cli.env()` is the environment, for tools (orglink) that run `sf` themselves.

The CLI trusts the emulator through NODE_EXTRA_CA_CERTS, keeps its key in ~/.sfdx/key.json
(SF_USE_GENERIC_UNIX_KEYCHAIN: no OS keychain on a test machine), and is told not to look for
updates or send telemetry: a test never reaches the internet.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.engine import TOOLS_BIN

SF_CLI_VERSION = "2.150.6"
SF_BIN = TOOLS_BIN / "sf"

# The CLI's own switches for everything it would otherwise fetch or send on its own.
QUIET_ENV = {
    "SF_USE_GENERIC_UNIX_KEYCHAIN": "true",
    "SF_DISABLE_TELEMETRY": "true",
    "SFDX_DISABLE_TELEMETRY": "true",
    "SF_AUTOUPDATE_DISABLE": "true",
    "SF_DISABLE_AUTOUPDATE": "true",
    "SFDX_AUTOUPDATE_DISABLE": "true",
    "SF_SKIP_NEW_VERSION_CHECK": "true",
    "SF_USE_PROGRESS_BAR": "false",
    "FORCE_COLOR": "0",
}


class SfCliError(AssertionError):
    pass


@dataclass
class SfResult:
    returncode: int
    payload: dict[str, Any]  # the parsed --json output ({} for text output)
    stdout: str
    stderr: str

    @property
    def result(self) -> Any:
        return self.payload.get("result")


@dataclass
class SfCli:
    home: Path
    ca_bundle: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFDX_"))}
        env.update(QUIET_ENV)
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            NODE_EXTRA_CA_CERTS=self.ca_bundle,
            PATH=f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}",
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float = 180,
        json_output: bool = True,
        cwd: Path | None = None,
    ) -> SfResult:
        """`sf <args> --json` (or the text a person sees, without json_output) in `cwd` (default
        HOME; a project directory for `sf project ...`); with check, a non-zero exit fails the
        test with the CLI's message."""
        completed = subprocess.run(
            [str(SF_BIN), *args, *(["--json"] if json_output else [])],
            env=self.env(**(env or {})),
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        try:
            payload = json.loads(completed.stdout)
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        result = SfResult(completed.returncode, payload, completed.stdout, completed.stderr)
        if check and completed.returncode != 0:
            # The CLI's error name and message carry no secret; its full output may (a token).
            raise SfCliError(
                f"sf {args[0]} {args[1] if len(args) > 1 else ''} exited {completed.returncode}: "
                f"{result.payload.get('name')}: {result.payload.get('message')}"
                + ("" if json_output else f"\n{completed.stderr[-2000:]}")
            )
        return result


@pytest.fixture
def sf_cli(tmp_path: Path, emulator: Any) -> Iterator[SfCli]:
    if not SF_BIN.exists():
        pytest.fail("the Salesforce CLI is missing from .tools/bin: run `make setup` (make test does)")
    home = tmp_path / "sf-home"
    home.mkdir()
    yield SfCli(home=home, ca_bundle=emulator.ca_bundle)
