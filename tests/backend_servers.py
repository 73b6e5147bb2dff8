"""Shared Pulumi state backends for the team tests, each a real server the test starts and stops.

- PostgreSQL: a throwaway cluster (`initdb`, `pg_ctl`) from the machine's PostgreSQL in a temporary
  directory, on a free loopback port, password authentication (scram-sha-256). initdb and postgres
  refuse to run as root, so as root they run as the unprivileged user that `make setup` creates.
- S3: the Versity S3 Gateway (`versitygw`, built by `make setup`) serving a temporary directory,
  with its own random root credentials, over HTTP on loopback.

Each test gets its own namespace (a table, a bucket), so stacks of different tests never meet.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.engine import TOOLS_BIN

# The same name as in tools/setup.sh.
POSTGRES_TEST_USER = "orglink-pg"
POSTGRES_SUPERUSER = "orglink"
STATE_DATABASE = "orglink_state"
S3_REGION = "us-east-1"
LOCK_PREFIX = ".pulumi/locks/"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode} before it listened")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")


@dataclass
class Backend:
    """A running state server; `namespace(name)` gives the Pulumi settings of one test's corner."""

    kind: str

    def namespace(self, name: str) -> Namespace:
        raise NotImplementedError


@dataclass
class Namespace:
    """One test's part of a backend: the backend URL and environment Pulumi needs, and read access to
    what is stored there (to find locks, and to prove no secret is stored in clear)."""

    url: str
    env: dict[str, str]
    backend: Backend
    name: str

    def stored(self) -> dict[str, bytes]:
        """Every object stored in this namespace, by key."""
        raise NotImplementedError

    def lock_keys(self) -> list[str]:
        return sorted(key for key in self.stored() if key.startswith(LOCK_PREFIX))


# -- PostgreSQL -----------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """The directory of initdb/pg_ctl/psql: on PATH, or Debian's /usr/lib/postgresql/<major>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions or not (versions[-1] / "initdb").exists():
        pytest.fail("PostgreSQL's initdb and pg_ctl are missing: install PostgreSQL 15 or newer")
    return versions[-1]


def unprivileged_prefix() -> list[str]:
    """The command prefix that runs a program as someone initdb accepts: ourselves unless root."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam(POSTGRES_TEST_USER)
    except KeyError:
        pytest.fail(f"user {POSTGRES_TEST_USER} is missing (initdb refuses root): run `make setup`")
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]


def hand_over(path: Path) -> None:
    """Gives a directory to the unprivileged user (when root), so that the cluster can write it."""
    if os.geteuid() == 0:
        user = pwd.getpwnam(POSTGRES_TEST_USER)
        for item in [path, *path.rglob("*")]:
            os.chown(item, user.pw_uid, user.pw_gid)


@dataclass
class PostgresBackend(Backend):
    port: int
    password: str
    bin_dir: Path

    def namespace(self, name: str) -> PostgresNamespace:
        table = "state_" + name.replace("-", "_")
        # The password stays out of the URL (Pulumi keeps the login URL in its credentials file and
        # prints it in lock errors): the PostgreSQL driver reads PGPASSWORD like every libpq client.
        url = (
            f"postgres://{POSTGRES_SUPERUSER}@127.0.0.1:{self.port}/{STATE_DATABASE}"
            f"?sslmode=disable&table={table}"
        )
        return PostgresNamespace(url, {"PGPASSWORD": self.password}, self, name, table)

    def psql(self, sql: str) -> str:
        completed = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", POSTGRES_SUPERUSER,
             "-d", STATE_DATABASE, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env={**os.environ, "PGPASSWORD": self.password}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return completed.stdout


@dataclass
class PostgresNamespace(Namespace):
    table: str = ""

    def stored(self) -> dict[str, bytes]:
        backend = self.backend
        assert isinstance(backend, PostgresBackend)
        exists = backend.psql(f"SELECT to_regclass('{self.table}') IS NOT NULL").strip()
        if exists != "t":
            return {}
        # Each row's data is {"data": base64 of the object}: the blob the Pulumi CLI wrote. The keys
        # start with the URL's path (the database name), as a bucket URL's path is a key prefix.
        rows = backend.psql(f"SELECT key, data->>'data' FROM {self.table} ORDER BY key")
        pairs = (line.split("\t", 1) for line in rows.splitlines() if line)
        return {key.removeprefix(f"{STATE_DATABASE}/"): base64.b64decode(data) for key, data in pairs}


@contextmanager
def postgres_server() -> Iterator[PostgresBackend]:
    """A fresh cluster in a temporary directory (outside pytest's root-only tmp dirs, so that the
    unprivileged user can enter it), stopped and removed afterwards."""
    bin_dir = postgres_bin_dir()
    prefix = unprivileged_prefix()
    base = Path(tempfile.mkdtemp(prefix="orglink-pg-"))
    data, password, port = base / "data", secrets.token_urlsafe(18), free_port()
    (base / "pwfile").write_text(password + "\n")
    hand_over(base)

    def as_cluster_owner(*argv: str) -> None:
        subprocess.run([*prefix, *argv], cwd=base, capture_output=True, text=True, check=True)

    try:
        as_cluster_owner(str(bin_dir / "initdb"), "-D", str(data), "-U", POSTGRES_SUPERUSER,
                         "--auth=scram-sha-256", f"--pwfile={base / 'pwfile'}", "--no-sync",
                         "--encoding=UTF8", "--locale=C")  # fmt: skip
        (base / "pwfile").unlink()
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off"
        log = str(base / "server.log")
        as_cluster_owner(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", log, "-o", options,
                         "-w", "-t", str(int(START_TIMEOUT_S)), "start")  # fmt: skip
        backend = PostgresBackend("postgres", port, password, bin_dir)
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", POSTGRES_SUPERUSER,
             STATE_DATABASE],
            env={**os.environ, "PGPASSWORD": password}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        yield backend
    finally:
        if (data / "postmaster.pid").exists():
            as_cluster_owner(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


# -- S3 (Versity S3 Gateway) ----------------------------------------------------------------------


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def sigv4_headers(method: str, host: str, path: str, access_key: str, secret_key: str) -> dict[str, str]:
    """AWS Signature Version 4 headers of a body-less S3 request (the test only creates buckets)."""
    now = dt.datetime.now(dt.UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(b"").hexdigest()
    signed = "host;x-amz-content-sha256;x-amz-date"
    headers = f"host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{stamp}\n"
    canonical = f"{method}\n{path}\n\n{headers}\n{signed}\n{payload}"
    scope = f"{day}/{S3_REGION}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + secret_key).encode()
    for part in (day, S3_REGION, "s3", "aws4_request"):
        key = _sign(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "x-amz-date": stamp,
        "x-amz-content-sha256": payload,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        ),
    }


@dataclass
class S3Backend(Backend):
    port: int
    root: Path
    access_key: str
    secret_key: str
    home: Path
    buckets: set[str] = field(default_factory=set)

    def namespace(self, name: str) -> S3Namespace:
        bucket = "orglink-state-" + name.replace("_", "-")
        self.create_bucket(bucket)
        # The endpoint options Pulumi documents for S3-compatible servers; plain HTTP because the
        # server listens on loopback only (a shared server is reached over https with a real CA).
        url = (
            f"s3://{bucket}?endpoint=127.0.0.1:{self.port}&disableSSL=true&s3ForcePathStyle=true"
            f"&region={S3_REGION}"
        )
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": S3_REGION,
            # Nothing from the machine's own AWS setup, and never the instance metadata service.
            "AWS_CONFIG_FILE": str(self.home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        return S3Namespace(url, env, self, name, bucket)

    def create_bucket(self, bucket: str) -> None:
        host = f"127.0.0.1:{self.port}"
        headers = sigv4_headers("PUT", host, f"/{bucket}", self.access_key, self.secret_key)
        response = requests.put(f"http://{host}/{bucket}", headers=headers, timeout=10)
        assert response.status_code == 200, f"bucket {bucket}: {response.status_code} {response.text}"
        self.buckets.add(bucket)


@dataclass
class S3Namespace(Namespace):
    bucket: str = ""

    def stored(self) -> dict[str, bytes]:
        # The posix backend keeps each object as a file under <root>/<bucket>/<key>.
        backend = self.backend
        assert isinstance(backend, S3Backend)
        base = backend.root / self.bucket
        return {
            path.relative_to(base).as_posix(): path.read_bytes()
            for path in base.rglob("*")
            if path.is_file() and not path.relative_to(base).as_posix().startswith(".sgwtmp")
        }


def s3_server_binary() -> Path:
    binary = TOOLS_BIN / "versitygw"
    if not binary.exists():
        pytest.fail("the S3 server versitygw is missing from .tools/bin: run `make setup` (it needs Go)")
    return binary


@contextmanager
def s3_server(base: Path) -> Iterator[S3Backend]:
    """versitygw serving `base/objects` on a free loopback port, stopped afterwards."""
    binary = s3_server_binary()
    root, home = base / "objects", base / "home"
    root.mkdir(parents=True)
    home.mkdir()
    port = free_port()
    access_key, secret_key = "orglink" + secrets.token_hex(6), secrets.token_urlsafe(24)
    env = {**os.environ, "ROOT_ACCESS_KEY": access_key, "ROOT_SECRET_KEY": secret_key}
    with (base / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [str(binary), "--port", f"127.0.0.1:{port}", "--region", S3_REGION, "--quiet",
             "posix", str(root)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_port(port, "versitygw", process)
        yield S3Backend("s3", port, root, access_key, secret_key, home)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
