"""Health of the system database and every department database, cheap enough to poll.

Each database gets one connection and one query (its applied department migrations), run
concurrently with a time limit, so one slow or dead department never delays the report past the
budget and never hides the others.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from functools import cache

from django.db import connections
from django.db.migrations.loader import MigrationLoader

from departments.registry import all_departments

logger = logging.getLogger(__name__)
DEPARTMENT_APP = "tickets"
DEFAULT_BUDGET_SECONDS = 2.0


@dataclass(frozen=True)
class DatabaseHealth:
    name: str  # department slug, or "system"
    label: str
    alias: str
    reachable: bool
    latency_ms: float | None
    pending_migrations: list[str] | None  # None when unknown (unreachable)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.reachable and not self.pending_migrations


@cache
def _migrations_on_disk() -> dict[str, frozenset[str]]:
    """Migration names per app, read from disk once per process."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    names: dict[str, set[str]] = {}
    for app_label, name in loader.disk_migrations:
        names.setdefault(app_label, set()).add(name)
    return {app: frozenset(found) for app, found in names.items()}


def _applied(alias: str, apps: set[str]) -> dict[str, set[str]]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        # A reachable database that was never migrated has no table yet: everything is pending.
        if "django_migrations" not in connection.introspection.table_names(cursor):
            return {}
        cursor.execute("SELECT app, name FROM django_migrations")
        applied: dict[str, set[str]] = {}
        for app, name in cursor.fetchall():
            if app in apps:
                applied.setdefault(app, set()).add(name)
        return applied


def _check(name: str, label: str, alias: str, apps: set[str]) -> DatabaseHealth:
    started = time.perf_counter()
    try:
        applied = _applied(alias, apps)
    except Exception as exc:  # any driver error means "not reachable" to an operator
        logger.warning(
            "database health check failed",
            extra={"department": name, "alias": alias, "error": f"{type(exc).__name__}: {exc}"},
        )
        return DatabaseHealth(name, label, alias, False, None, None, error=type(exc).__name__)
    finally:
        # Worker threads own their connections; leaving them open would leak one per poll.
        connections[alias].close()
    latency = round((time.perf_counter() - started) * 1000, 1)
    on_disk = _migrations_on_disk()
    pending = sorted(
        f"{app}.{migration}"
        for app in apps
        for migration in on_disk.get(app, frozenset()) - applied.get(app, set())
    )
    return DatabaseHealth(name, label, alias, True, latency, pending)


def system_apps() -> set[str]:
    return {app for app in _migrations_on_disk() if app != DEPARTMENT_APP}


def health_report(budget_seconds: float = DEFAULT_BUDGET_SECONDS) -> list[DatabaseHealth]:
    """One entry for the system database, then one per department, in registry order."""
    targets = [("system", "System database", "default", system_apps())]
    targets += [(d.slug, d.label, d.alias, {DEPARTMENT_APP}) for d in all_departments()]
    pool = ThreadPoolExecutor(max_workers=min(16, len(targets)), thread_name_prefix="healthz")
    futures = [pool.submit(_check, *target) for target in targets]
    wait(futures, timeout=budget_seconds)
    # Do not wait for stragglers: a hung connection must not hold up the report.
    pool.shutdown(wait=False, cancel_futures=True)
    report = []
    for (name, label, alias, _apps), future in zip(targets, futures, strict=True):
        if future.done() and not future.cancelled():
            report.append(future.result())
        else:
            logger.warning(
                "database health check timed out", extra={"department": name, "alias": alias}
            )
            report.append(DatabaseHealth(name, label, alias, False, None, None, error="timeout"))
    return report


def as_json(report: list[DatabaseHealth]) -> dict:
    system, departments = report[0], report[1:]
    return {
        "status": "ok" if all(entry.ok for entry in report) else "degraded",
        "system": asdict(system) | {"ok": system.ok},
        "departments": [asdict(entry) | {"ok": entry.ok} for entry in departments],
    }
