#!/usr/bin/env python
"""Benchmark migrate_departments at scale: first migrate, no-op, serial vs --parallel.

Creates N department databases per backend (SQLite: N files in a temporary folder; PostgreSQL /
MariaDB: N uniquely named databases, dropped at the end), runs the commands through manage.py as
an operator would (so every figure includes Django's start-up) and prints the times, per
department costs and ratios against the baseline measured in the same run: the foundation's
approach, Django's own ``migrate`` called once per department database in one process.

    .venv/bin/python bench/migrate.py                      # SQLite 100 + PostgreSQL 20
    .venv/bin/python bench/migrate.py --sqlite 20 --postgres 0 --mariadb 10

Figures are wall-clock times on whatever else the machine is doing: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
# What django-tenants users report for a no-op `migrate_schemas` (django-tenants #719, #1082).
TENANTS_NOOP_SECONDS_PER_TENANT = 0.8

# Run inside `manage.py shell -c` so that the time without Django's start-up is known too.
TIMED = """
import time
from io import StringIO
from django.core.management import call_command
from departments.registry import all_departments
started = time.perf_counter()
{body}
print("INNER", time.perf_counter() - started)
"""
# The baseline: the foundation's approach, Django's migrate for each department alias in turn.
FOUNDATION_LOOP = TIMED.format(
    body="""
for department in all_departments():
    call_command("migrate", "tickets", database=department.alias, interactive=False,
                 verbosity=1, stdout=StringIO())
"""
)
OURS_SERIAL = TIMED.format(
    body='call_command("migrate_departments", "--parallel", "1", stdout=StringIO())'
)


@dataclass
class Backend:
    """N department databases on one backend: their URLs, and how to (re)create and drop them."""

    name: str
    count: int
    server_url: str = ""
    folder: Path | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(3))

    def db_name(self, i: int) -> str:
        return f"hdbench{self.token}_{i:03d}"

    def url(self, i: int) -> str:
        if self.name == "sqlite":
            return f"sqlite:///{self.folder}/{self.db_name(i)}.sqlite3"
        return f"{self.server_url}/{self.db_name(i)}"

    def environment(self) -> dict[str, str]:
        env = {}
        for i in range(self.count):
            env[f"BENCH{i:03d}_DEPARTMENT_DATABASE_URL"] = self.url(i)
            env[f"BENCH{i:03d}_DEPARTMENT_CODE"] = f"B{i:03d}"
        return env

    def _server(self):
        parts = urlsplit(self.server_url)
        if self.name == "postgres":
            import psycopg

            return psycopg.connect(
                host=parts.hostname,
                port=parts.port or 5432,
                user=parts.username or "postgres",
                password=parts.password or None,
                dbname="postgres",
                autocommit=True,
            )
        import MySQLdb

        connection = MySQLdb.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
        )
        connection.autocommit(True)
        return connection

    def create_all(self) -> None:
        if self.name == "sqlite":
            self.folder.mkdir(parents=True, exist_ok=True)
            for i in range(self.count):
                sqlite3.connect(self.folder / f"{self.db_name(i)}.sqlite3").close()
            return
        connection = self._server()
        cursor = connection.cursor()
        charset = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        for i in range(self.count):
            if self.name == "postgres":
                cursor.execute(f'CREATE DATABASE "{self.db_name(i)}"')
            else:
                cursor.execute(f"CREATE DATABASE `{self.db_name(i)}`{charset}")
        connection.close()

    def drop_all(self) -> None:
        if self.name == "sqlite":
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        connection = self._server()
        cursor = connection.cursor()
        for i in range(self.count):
            if self.name == "postgres":
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.db_name(i)}" WITH (FORCE)')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.db_name(i)}`")
        connection.close()


def operator_environment(backend: Backend, workdir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if "DEPARTMENT" not in k and not k.startswith(("HELPDESK_", "DATABASE_URL", "DJANGO_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "HELPDESK_EMBEDDED_DEPARTMENTS": "false",
            "HELPDESK_DATA_DIR": str(workdir / "var"),
            "DATABASE_URL": f"sqlite:///{workdir}/system.sqlite3",
            **backend.environment(),
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Wall-clock seconds of ``manage.py *args`` and, for TIMED snippets, the inner seconds."""
    started = time.perf_counter()
    ran = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if ran.returncode != 0:
        raise SystemExit(
            f"manage.py {' '.join(args)} exited {ran.returncode}:\n{ran.stderr[-3000:]}"
        )
    inner = [line.split()[1] for line in ran.stdout.splitlines() if line.startswith("INNER ")]
    return elapsed, float(inner[0]) if inner else elapsed


def median_of(runs: int, env: dict[str, str], *args: str) -> tuple[float, float]:
    times = [manage(env, *args) for _ in range(runs)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def bench(backend: Backend, workdir: Path, *, cores: int, repeat: int) -> dict[str, float]:
    env = operator_environment(backend, workdir)
    r: dict[str, float] = {}

    def record(key: str, times: tuple[float, float], *, inner: bool = False) -> None:
        r[key], r[f"{key} (inner)"] = times
        shown = f"{times[0]:7.2f} s"
        if inner:
            shown += f"   ({times[1]:.2f} s without Django start-up)"
        print(f"  {key:<36} {shown}", flush=True)

    record("django start-up (shell -c pass)", median_of(repeat, env, "shell", "-c", "pass"))
    backend.create_all()
    record("baseline: first migrate", manage(env, "shell", "-c", FOUNDATION_LOOP), inner=True)
    record(
        "baseline: no-op migrate",
        median_of(repeat, env, "shell", "-c", FOUNDATION_LOOP),
        inner=True,
    )
    backend.drop_all()
    backend.create_all()
    record("first migrate, --parallel 1", manage(env, "migrate_departments", "--parallel", "1"))
    record(
        "no-op migrate, --parallel 1",
        median_of(repeat, env, "shell", "-c", OURS_SERIAL),
        inner=True,
    )
    record(
        f"no-op migrate, --parallel {cores}",
        median_of(repeat, env, "migrate_departments", "--parallel", str(cores)),
    )
    record(
        "no-op migrate --check",
        median_of(repeat, env, "migrate_departments", "--check"),
    )
    record(
        "showmigrations_departments",
        median_of(repeat, env, "showmigrations_departments", "--format", "json"),
    )
    backend.drop_all()
    backend.create_all()
    record(
        f"first migrate, --parallel {cores}",
        manage(env, "migrate_departments", "--parallel", str(cores)),
    )
    return r


def report(backend: Backend, r: dict[str, float], *, cores: int) -> None:
    n = backend.count
    noop_serial = r["no-op migrate, --parallel 1"]
    noop_parallel = r[f"no-op migrate, --parallel {cores}"]
    noop_inner = r["no-op migrate, --parallel 1 (inner)"]
    base_noop = r["baseline: no-op migrate"]
    base_noop_inner = r["baseline: no-op migrate (inner)"]
    base_first = r["baseline: first migrate"]
    first_serial = r["first migrate, --parallel 1"]
    first_parallel = r[f"first migrate, --parallel {cores}"]
    tenants = n * TENANTS_NOOP_SECONDS_PER_TENANT
    target = "met" if max(noop_serial, noop_parallel) < 3 else "MISSED"
    rows = [
        ("no-op, serial / parallel", f"{noop_serial:.2f} s / {noop_parallel:.2f} s ({target})"),
        ("  per department, in-process", f"{noop_inner / n * 1000:.1f} ms"),
        ("  baseline per department", f"{base_noop_inner / n * 1000:.1f} ms"),
        ("  speed-up vs baseline, whole command", f"{base_noop / noop_serial:.1f}x"),
        ("  speed-up vs baseline, per department", f"{base_noop_inner / noop_inner:.1f}x"),
        (f"  django-tenants anchor ({n} x 0.8 s)", f"{tenants:.0f} s"),
        ("  speed-up vs the anchor", f"{tenants / noop_serial:.0f}x"),
        ("first migrate, serial / parallel", f"{first_serial:.2f} s / {first_parallel:.2f} s"),
        (f"  --parallel {cores} vs --parallel 1", f"{first_serial / first_parallel:.2f}x"),
        ("  serial vs baseline", f"{base_first / first_serial:.2f}x"),
    ]
    print(f"\n  {backend.name}, {n} departments: summary (target: no-op under 3 s)")
    for name, value in rows:
        print(f"    {name:<40} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", type=int, default=100, metavar="N", help="default 100")
    parser.add_argument("--postgres", type=int, default=20, metavar="N", help="default 20")
    parser.add_argument("--mariadb", type=int, default=0, metavar="N", help="default 0")
    parser.add_argument("--repeat", type=int, default=3, help="runs per no-op figure (median)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
    )
    parser.add_argument(
        "--mariadb-url", default=os.environ.get("BENCH_MARIADB_URL", "mysql://root@127.0.0.1:3306")
    )
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"bench/migrate.py: {cores} CPU core(s), load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; times include Django start-up; "
        f"no-op figures are the median of {args.repeat} runs."
    )
    backends = [
        Backend("sqlite", args.sqlite),
        Backend("postgres", args.postgres, server_url=args.postgres_url),
        Backend("mariadb", args.mariadb, server_url=args.mariadb_url),
    ]
    for backend in backends:
        if backend.count <= 0:
            continue
        with tempfile.TemporaryDirectory(prefix="hdbench-") as tmp:
            workdir = Path(tmp)
            backend.folder = workdir / "departments"
            print(f"\n{backend.name}: {backend.count} department databases")
            try:
                results = bench(backend, workdir, cores=cores, repeat=args.repeat)
            finally:
                backend.drop_all()
            report(backend, results, cores=cores)


if __name__ == "__main__":
    main()
