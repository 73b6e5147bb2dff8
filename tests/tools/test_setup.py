"""`make setup` is idempotent and explains itself when it cannot get a Pulumi CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.engine import ROOT, TOOLS_BIN


def run_setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "tools/setup.sh"], cwd=ROOT, env=env, capture_output=True, text=True)


def test_second_setup_rebuilds_nothing():
    completed = run_setup(dict(os.environ))
    assert completed.returncode == 0, completed.stderr
    assert "Python environment .venv is up to date" in completed.stdout
    assert "Building" not in completed.stdout
    assert "Installing" not in completed.stdout
    assert "Salesforce CLI 2.150.6 found in cache" in completed.stdout
    assert "Node 22.23.5 found in cache" in completed.stdout


def test_setup_without_pulumi_or_go_names_the_installer(tmp_path: Path):
    bare_path = os.pathsep.join(["/usr/bin", "/bin"])
    env = dict(os.environ, PATH=bare_path, XDG_CACHE_HOME=str(tmp_path / "empty-cache"))
    completed = run_setup(env)
    assert completed.returncode != 0
    assert "neither a pulumi 3.x CLI nor Go is available" in completed.stderr
    assert "https://get.pulumi.com" in completed.stderr
    # The failed run left the working CLI of this clone in place.
    assert (TOOLS_BIN / "pulumi").exists()


def test_setup_for_running_orglink_leaves_out_the_test_servers():
    """`make demo` and `make contract` set up with ORGLINK_TEST_TOOLS=0: a cold machine then skips the
    S3 gateway build (minutes) and the PostgreSQL test user, which only the backend tests need."""
    completed = run_setup(dict(os.environ, ORGLINK_TEST_TOOLS="0"))
    assert completed.returncode == 0, completed.stderr
    assert "versitygw" not in completed.stdout
    assert "PostgreSQL" not in completed.stdout
    assert "Setup done" in completed.stdout
