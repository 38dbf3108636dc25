"""A real deployment on this machine for scale-out, fault and load tests.

Scratch PostgreSQL databases (unique names, dropped afterwards), an optional second PostgreSQL
cluster on another port (created and removed here), and the app under gunicorn on loopback with
production settings. Used by tests/deploy/test_scale_out.py and the bench/ load and fault scripts.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_HOST = "127.0.0.1"
MAIN_PG_PORT = int(os.environ.get("HELPDESK_PG_PORT", "5432"))
SEED_NAMES = [
    "TECHNICAL_ISSUES",
    "ACCOUNT_BILLING",
    "PRODUCT_SERVICE",
    "GENERAL_INQUIRY",
    "FEEDBACK_SUGGESTIONS",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_tools_available() -> str | None:
    """Why a second cluster cannot be made here, or None if it can."""
    if shutil.which("pg_createcluster") is None:
        return "pg_createcluster is not installed (Debian postgresql-common)"
    if os.geteuid() != 0:
        return "creating a PostgreSQL cluster needs root"
    if not Path("/etc/postgresql").is_dir():
        return "no PostgreSQL installation under /etc/postgresql"
    return None


def pg_ready(port: int) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(
            host=PG_HOST, port=port, user="postgres", dbname="postgres", connect_timeout=2
        ):
            return True
    except psycopg.Error:
        return False


@dataclass
class SecondCluster:
    """A PostgreSQL cluster on its own port: `start()`, `stop()` (as a crash would), `drop()`."""

    port: int = field(default_factory=free_port)
    name: str = field(default_factory=lambda: f"hd{secrets.token_hex(3)}")

    @property
    def version(self) -> str:
        return sorted(os.listdir("/etc/postgresql"))[-1]

    def create(self) -> SecondCluster:
        subprocess.run(
            [
                "pg_createcluster",
                self.version,
                self.name,
                "-p",
                str(self.port),
                "--",
                "--auth-host=trust",
                "--auth-local=trust",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.start()
        return self

    def start(self) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, "start"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for _ in range(100):
            if pg_ready(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"cluster {self.name} did not accept connections")

    def stop(self) -> None:
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                self.version,
                self.name,
                "stop",
                "-m",
                "immediate",
            ],
            check=False,
            capture_output=True,
            timeout=60,
        )
        # pg_ctlcluster can return while the server still answers for a moment; callers that
        # measure "while it was down" must not start early.
        for _ in range(100):
            if not pg_ready(self.port):
                return
            time.sleep(0.1)

    def drop(self) -> None:
        self.stop()
        subprocess.run(
            ["pg_dropcluster", self.version, self.name],
            check=False,
            capture_output=True,
            timeout=60,
        )


@contextlib.contextmanager
def second_cluster() -> Iterator[SecondCluster]:
    cluster = SecondCluster().create()
    try:
        yield cluster
    finally:
        cluster.drop()


@contextlib.contextmanager
def scratch_databases(port: int, names: list[str]) -> Iterator[dict[str, str]]:
    """Create uniquely named databases on the server at ``port``; drop them afterwards."""
    import psycopg

    run = secrets.token_hex(3)
    made = {name: f"hdstack_{run}_{name.lower()}" for name in names}
    with psycopg.connect(
        host=PG_HOST, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        for database in made.values():
            conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield {name: f"postgres://postgres@{PG_HOST}:{port}/{db}" for name, db in made.items()}
    finally:
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(
                host=PG_HOST,
                port=port,
                user="postgres",
                dbname="postgres",
                autocommit=True,
                connect_timeout=3,
            ) as conn,
        ):
            for database in made.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def operator_environ() -> dict[str, str]:
    """This process's environment without the app's own variables: what an operator's shell
    has before configuring the help desk (the test settings put run-specific ones in it)."""
    return {
        k: v
        for k, v in os.environ.items()
        if "DEPARTMENT" not in k and not k.startswith(("HELPDESK_", "DATABASE_URL", "DJANGO_"))
    }


def base_environment(urls: dict[str, str], **extra: str) -> dict[str, str]:
    """Production settings for these URLs; nothing leaks in from the caller's shell."""
    env = operator_environ()
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": urls["SYSTEM"],
            "CACHE_URL": "dbcache://helpdesk_cache",
            # /healthz shows the per-database report only with this token (see healthz()).
            "HELPDESK_HEALTHZ_TOKEN": secrets.token_urlsafe(24),
        }
    )
    for name, url in urls.items():
        if name != "SYSTEM":
            env[f"{name}_DEPARTMENT_DATABASE_URL"] = url
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class AppServer:
    """gunicorn serving the app on a loopback port."""

    env: dict[str, str]
    workers: int = 2
    threads: int = 4
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    # A file, not a pipe: nobody drains a pipe while the load runs, and once its buffer is full
    # every worker blocks on its next log line.
    log: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="gunicorn-")[1]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> AppServer:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--timeout",
                "30",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_tail()}")
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=2)
                return self
            except urllib.error.HTTPError:
                return self  # answering, even if degraded
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start in time")

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def healthz(base_url: str, env: dict[str, str]) -> tuple[int, dict]:
    """GET /healthz as an operator (the token of ``env``): status and the per-database report."""
    request = urllib.request.Request(
        f"{base_url}/healthz",
        headers={"Authorization": f"Bearer {env['HELPDESK_HEALTHZ_TOKEN']}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def prepare(env: dict[str, str]) -> None:
    """Migrate the system database and every department database of ``env``."""
    for args in (
        ("migrate", "--noinput"),
        ("createcachetable",),
        # Production serves hashed static names from a manifest that collectstatic writes.
        ("collectstatic", "--noinput", "--verbosity=0"),
        ("migrate_departments", "--noinput"),
    ):
        result = manage(env, *args)
        if result.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
            )


def references_by_department(urls: dict[str, str]) -> dict[str, Counter]:
    """Every ticket reference in each department database (by env name), with multiplicity."""
    import psycopg

    found: dict[str, Counter] = {}
    for name, url in urls.items():
        if name == "SYSTEM":
            continue
        with psycopg.connect(url, connect_timeout=5) as conn:
            rows = conn.execute("SELECT reference FROM tickets_ticket").fetchall()
        found[name] = Counter(row[0] for row in rows)
    return found


def verify_acknowledged(urls: dict[str, str], acknowledged: dict[str, str]) -> dict[str, int]:
    """Check every acknowledged ticket exists exactly once, in its own department only.

    ``acknowledged`` maps reference -> department slug. Returns counts of what was found wrong.
    """
    stored = references_by_department(urls)
    slug_of = {name: name.lower().replace("_", "-") for name in stored}
    problems = {"lost": 0, "duplicated": 0, "wrong_department": 0}
    for reference, slug in acknowledged.items():
        homes = [name for name, refs in stored.items() if reference in refs]
        if not homes:
            problems["lost"] += 1
            continue
        if len(homes) > 1 or any(stored[name][reference] > 1 for name in homes):
            problems["duplicated"] += 1
        if [slug_of[name] for name in homes] != [slug]:
            problems["wrong_department"] += 1
    return problems


def create_superadmin(env: dict[str, str], username: str, password: str) -> None:
    code = (
        "from accounts.models import User; "
        f"User.objects.filter(username={username!r}).exists() or "
        f"User.objects.create_superuser({username!r}, 'load@example.com', {password!r})"
    )
    result = manage(env, "shell", "--verbosity=0", "-c", code)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)


@dataclass
class TwoServerStack:
    """The system database and ``near`` departments on the main server, ``far`` departments
    on a second cluster, the app under gunicorn, and a superadmin ``ops``."""

    cluster: SecondCluster
    server: AppServer
    urls: dict[str, str]
    env: dict[str, str]
    password: str


@contextlib.contextmanager
def two_server_stack(
    near: list[str], far: list[str], *, workers: int, threads: int, **extra_env: str
) -> Iterator[TwoServerStack]:
    password = secrets.token_urlsafe(12)
    with (
        second_cluster() as cluster,
        scratch_databases(MAIN_PG_PORT, ["SYSTEM", *near]) as near_urls,
        scratch_databases(cluster.port, far) as far_urls,
    ):
        urls = {**near_urls, **far_urls}
        env = base_environment(urls, **extra_env)
        prepare(env)
        create_superadmin(env, "ops", password)
        with AppServer(env, workers=workers, threads=threads) as server:
            yield TwoServerStack(cluster, server, urls, env, password)
