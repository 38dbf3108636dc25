"""Health of the system database and every department database, cheap enough to poll.

Each database gets one connection and one query (its applied department migrations), run
concurrently with a time limit, so one slow or dead department never delays the report past the
budget and never hides the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from departments.ops import (
    DEPARTMENT_APP,
    DiskMigrations,
    department_migration_status,
    describe_error,
    disk_migrations,
)
from departments.registry import Department, all_departments

logger = logging.getLogger(__name__)
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
    # What other apps report about a reachable department (see register_department_detail).
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reachable and not self.pending_migrations


# name -> function(department) -> JSON-able value, added to the operators' report per department.
# Other apps register here (tickets: its outbox), so this module never imports them.
_DEPARTMENT_DETAILS: dict[str, Callable[[Department], Any]] = {}


def register_department_detail(name: str, read: Callable[[Department], Any]) -> None:
    """Report ``read(department)`` as ``details[name]`` for every reachable department. It is
    information for operators and never changes the status."""
    _DEPARTMENT_DETAILS[name] = read


def _department_details(department: Department) -> dict[str, Any]:
    details: dict[str, Any] = {}
    try:
        for name, read in _DEPARTMENT_DETAILS.items():
            try:
                details[name] = read(department)
            except Exception as exc:  # a detail never breaks the report
                logger.warning(
                    "health detail failed",
                    extra={"department": department.slug, "detail": name, "error": repr(exc)},
                )
                details[name] = None
    finally:
        connections[department.alias].close()  # this worker thread's own connection
    return details


@cache
def _system_migrations_on_disk() -> dict[str, frozenset[str]]:
    """Migration names per system app, read from disk once per process."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    names: dict[str, set[str]] = {}
    for app_label, name in loader.disk_migrations:
        if app_label != DEPARTMENT_APP:
            names.setdefault(app_label, set()).add(name)
    return {app: frozenset(found) for app, found in names.items()}


@cache
def _department_migrations_on_disk() -> DiskMigrations:
    return disk_migrations()


def _applied(alias: str) -> dict[str, set[str]]:
    recorder = MigrationRecorder(connections[alias])
    # A reachable database that was never migrated has no table yet: everything is pending.
    if not recorder.has_table():
        return {}
    applied: dict[str, set[str]] = {}
    for app, name in recorder.applied_migrations():
        applied.setdefault(app, set()).add(name)
    return applied


def _unreachable(name: str, label: str, alias: str, detail: str) -> DatabaseHealth:
    # The endpoint is public: the driver's message (hosts, users) goes to the log only.
    logger.warning(
        "database health check failed", extra={"department": name, "alias": alias, "error": detail}
    )
    return DatabaseHealth(name, label, alias, False, None, None, error="unreachable")


def _check_system() -> DatabaseHealth:
    name, label, alias = "system", "System database", "default"
    started = time.perf_counter()
    try:
        applied = _applied(alias)
    except Exception as exc:  # any driver error means "not reachable" to an operator
        return _unreachable(name, label, alias, describe_error(exc))
    finally:
        # Worker threads own their connections; leaving them open would leak one per poll.
        connections[alias].close()
    latency = round((time.perf_counter() - started) * 1000, 1)
    pending = sorted(
        f"{app}.{migration}"
        for app, names in _system_migrations_on_disk().items()
        for migration in names - applied.get(app, set())
    )
    return DatabaseHealth(name, label, alias, True, latency, pending)


def _check_department(department: Department) -> DatabaseHealth:
    started = time.perf_counter()
    status = department_migration_status(
        department=department, disk=_department_migrations_on_disk()
    )
    if not status.reachable or status.error:
        return _unreachable(department.slug, department.label, department.alias, status.error)
    latency = round((time.perf_counter() - started) * 1000, 1)
    return DatabaseHealth(
        department.slug,
        department.label,
        department.alias,
        True,
        latency,
        [f"{DEPARTMENT_APP}.{name}" for name in status.pending],
        details=_department_details(department) if _DEPARTMENT_DETAILS else {},
    )


def health_report(budget_seconds: float = DEFAULT_BUDGET_SECONDS) -> list[DatabaseHealth]:
    """One entry for the system database, then one per department, in registry order."""
    departments = all_departments()
    targets = [("system", "System database", "default")]
    targets += [(d.slug, d.label, d.alias) for d in departments]
    pool = ThreadPoolExecutor(max_workers=min(16, len(targets)), thread_name_prefix="healthz")
    futures = [pool.submit(_check_system)]
    futures += [pool.submit(_check_department, d) for d in departments]
    wait(futures, timeout=budget_seconds)
    # Do not wait for stragglers: a hung connection must not hold up the report.
    pool.shutdown(wait=False, cancel_futures=True)
    report = []
    for (name, label, alias), future in zip(targets, futures, strict=True):
        if future.done() and not future.cancelled():
            report.append(future.result())
        else:
            logger.warning(
                "database health check timed out", extra={"department": name, "alias": alias}
            )
            report.append(DatabaseHealth(name, label, alias, False, None, None, error="timeout"))
    return report


def overall_status(report: list[DatabaseHealth]) -> str:
    return "ok" if all(entry.ok for entry in report) else "degraded"


def as_public_json(report: list[DatabaseHealth]) -> dict:
    """What anyone may know: up or not. Aliases, latencies and migrations map the internals."""
    return {"status": overall_status(report)}


def as_json(report: list[DatabaseHealth]) -> dict:
    """The full report, for operators (see departments.views.healthz)."""
    system, departments = report[0], report[1:]
    return {
        "status": overall_status(report),
        "system": asdict(system) | {"ok": system.ok},
        "departments": [asdict(entry) | {"ok": entry.ok} for entry in departments],
    }
