"""The environment orglink's tools and tests run the real Pulumi CLI in: this checkout's CLI first on
PATH, state in a local file backend, and nothing that would reach the internet or wait for a person
(no update check, no plugin download, no confirmation prompt)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = ROOT / ".tools" / "bin"


def pulumi_env(state_dir: Path, passphrase: str) -> dict[str, str]:
    """This process's environment for a `pulumi` whose backend (``state_dir/backend``, which the
    caller makes: the CLI does not) and home are in ``state_dir``; stacks are encrypted with
    ``passphrase``."""
    env = dict(os.environ)
    env.update(
        PATH=f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}",
        PULUMI_BACKEND_URL=f"file://{state_dir / 'backend'}",
        PULUMI_HOME=str(state_dir / "pulumi-home"),
        PULUMI_CONFIG_PASSPHRASE=passphrase,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_SKIP_CONFIRMATIONS="true",
    )
    return env
