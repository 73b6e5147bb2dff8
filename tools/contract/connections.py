"""Where the contract's two org connections come from: a Salesforce CLI alias each (`auth: sfdx`),
the `orglink:orgs` of a stack file (any orglink auth mode), or two emulator orgs.

Whatever the source, the result is the `orglink:orgs` value of orglink's own stack config: the
contract logs in through providers.salesforce exactly as `pulumi up` will.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SECRET_FIELDS = (
    "password",
    "security_token",
    "consumer_secret",
    "private_key",
    "access_token",
    "sfdx_auth_url",
)
ALIASES = ("orgA", "orgB")


class ContractError(Exception):
    """A problem with the contract's own options or setup; the message says what to change."""


@dataclass
class Orgs:
    """The connections of Org A and Org B (orglink:orgs value) and how to name them in the report."""

    connections: dict[str, dict[str, Any]]
    target: str
    emulator_state_dir: Path | None = None
    cli_env: dict[str, str] = field(default_factory=dict)  # for the Pulumi CLI and its provider

    def trust(self, ca_bundle: str) -> None:
        """Connections without a `ca_bundle` of their own verify the orgs against this one."""
        for connection in self.connections.values():
            connection.setdefault("ca_bundle", ca_bundle)

    def secrets(self) -> list[str]:
        return [str(c[name]) for c in self.connections.values() for name in SECRET_FIELDS if c.get(name)]


def from_cli_aliases(org_a: str, org_b: str) -> Orgs:
    """`auth: sfdx` connections: the Salesforce CLI logs in, orglink asks it for a token."""
    connections = {"orgA": {"auth": "sfdx", "username": org_a}, "orgB": {"auth": "sfdx", "username": org_b}}
    return Orgs(connections, f"Org A `{org_a}`, Org B `{org_b}` (Salesforce CLI logins)")


def from_emulator(state_dir: Path) -> Orgs:
    connections = {alias: {"auth": "emulator", "state_dir": str(state_dir)} for alias in ALIASES}
    return Orgs(connections, "the local emulator orgs orgA and orgB", emulator_state_dir=state_dir)


def from_stack_file(path: Path, org_a: str | None, org_b: str | None) -> Orgs:
    """orglink:orgs of a stack file; `--org-a`/`--org-b` pick its aliases (default orgA, orgB)."""
    try:
        settings = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"--stack-file {path}: cannot read it ({type(exc).__name__})") from None
    orgs = (settings.get("config") or {}).get("orglink:orgs")
    if not isinstance(orgs, dict):
        raise ContractError(f"--stack-file {path}: it has no `orglink:orgs` map under `config`")
    if _has_secure_values(orgs):
        orgs = _decrypted_orgs(path)
    picked = {}
    for contract_alias, wanted in zip(ALIASES, (org_a or "orgA", org_b or "orgB"), strict=True):
        if not isinstance(orgs.get(wanted), dict):
            raise ContractError(
                f"--stack-file {path}: `orglink:orgs` has no connection '{wanted}' "
                f"(it has: {', '.join(sorted(orgs))}); pick them with --org-a and --org-b"
            )
        picked[contract_alias] = _absolute_state_dir(dict(orgs[wanted]), path)
    return Orgs(picked, f"Org A `{org_a or 'orgA'}`, Org B `{org_b or 'orgB'}` of {path.name}")


def _has_secure_values(value: Any) -> bool:
    if isinstance(value, dict):
        return "secure" in value or any(_has_secure_values(v) for v in value.values())
    return False


def _project_dir(stack_file: Path) -> Path:
    """The Pulumi project a stack file belongs to (orglink keeps them in stacks/)."""
    for candidate in (stack_file.parent, stack_file.parent.parent):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return stack_file.parent


def _decrypted_orgs(stack_file: Path) -> dict[str, Any]:
    """Secret connection fields are encrypted by the stack's secrets provider: the Pulumi CLI of
    that stack decrypts them (`config get` shows secrets; the values stay in memory, never in a
    report, and go into the throwaway stack as Pulumi secrets through stdin)."""
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    completed = subprocess.run(
        ["pulumi", "config", "get", "orglink:orgs", "--json", "--stack", stack],
        cwd=_project_dir(stack_file), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    try:
        value = json.loads(completed.stdout).get("objectValue")
    except (ValueError, AttributeError):
        value = None
    if completed.returncode != 0 or not isinstance(value, dict):
        raise ContractError(
            f"--stack-file {stack_file}: its secret connection fields need `pulumi config get orglink:orgs "
            f"--json --stack {stack}` to work there (the stack's backend, secrets provider and passphrase)"
        )
    return value


def _absolute_state_dir(connection: dict[str, Any], stack_file: Path) -> dict[str, Any]:
    """An emulator connection's `state_dir` is relative to its project; the contract runs elsewhere."""
    state_dir = connection.get("state_dir")
    if connection.get("auth") == "emulator" and state_dir and not Path(state_dir).is_absolute():
        connection["state_dir"] = str((_project_dir(stack_file) / state_dir).resolve())
    return connection
