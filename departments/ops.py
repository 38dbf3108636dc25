"""Migrate, roll back and inspect department databases, one department per call.

Each ``department_*`` function takes one department, never raises for that department's own
trouble (unreachable, missing, a failing migration) and returns a result the commands report;
:func:`departments_run` runs one of them over many departments, serially or in worker processes.

Department databases hold only the ``tickets`` app, so the pre/post_migrate signals are not sent
for them: their receivers (content types, permissions) write system-database rows that the router
keeps out of department databases anyway, and rendering the post-migrate state for them would put
the slowest part of Django's ``migrate`` back into every run.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import signal
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from departments.config import postgres_schema
from departments.registry import Department

DEPARTMENT_APP = "tickets"

# Exit codes of the *_departments commands (documented in their --help and the README).
EXIT_CANCELLED = 1  # declined at the confirmation prompt (also Django's default CommandError)
EXIT_USAGE = 2  # unknown department or migration name, conflicting migrations (argparse uses 2)
EXIT_SOME_FAILED = 3  # at least one department failed; the others ran
EXIT_PENDING = 4  # --check: some department has unapplied migrations

MigrationKey = tuple[str, str]
Result = TypeVar("Result")


class Outcome(StrEnum):
    DONE = "ok"  # migrations applied (or rolled back)
    NOTHING_TO_DO = "nothing to do"
    PENDING = "pending"  # --plan / --check: work that a real run would do
    MISSING = "missing"  # the database does not exist (and --create-missing was not given)
    UNREACHABLE = "unreachable"
    FAILED = "failed"

    @property
    def is_failure(self) -> bool:
        return self in {Outcome.MISSING, Outcome.UNREACHABLE, Outcome.FAILED}


@dataclass(frozen=True)
class DepartmentResult:
    """What one migrate or rollback did (or, for a plan, would do) in one department."""

    department: Department
    outcome: Outcome
    migrations: tuple[str, ...] = ()  # applied / unapplied, or for a plan the ones to do
    duration: float = 0.0
    error: str = ""
    failed_migration: str = ""  # the migration that was running when the error happened
    created: bool = False  # --create-missing made the database
    notice: str = ""

    @classmethod
    def crashed(cls, department: Department, error: str) -> DepartmentResult:
        return cls(department=department, outcome=Outcome.FAILED, error=error)


@dataclass(frozen=True)
class MigrationStatus:
    """Where one department's database stands against the migrations on disk."""

    department: Department
    backend: str
    reachable: bool
    applied: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    error: str = ""

    @property
    def total(self) -> int:
        return len(self.applied) + len(self.pending)

    @classmethod
    def crashed(cls, department: Department, error: str) -> MigrationStatus:
        return cls(department=department, backend="?", reachable=False, error=error)


# --- The migrations on disk -----------------------------------------------------------------


class MigrationConflict(Exception):
    """The department app has several leaf migrations (two branches need a merge migration)."""


@dataclass(frozen=True)
class DiskMigrations:
    """The department migration graph, read once per command and handed to every worker."""

    leaves: tuple[MigrationKey, ...]
    # Every migration a fully migrated department has applied, in application order.
    plan: tuple[MigrationKey, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label(key) for key in self.plan)

    def resolve(self, name: str) -> str:
        """A full migration name from a name or unique prefix (``0001``), like ``migrate``.

        Raises ``LookupError`` naming the choices.
        """
        own = [n for app, n in self.plan if app == DEPARTMENT_APP]
        matches = [n for n in own if n == name] or [n for n in own if n.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        problem = "matches several migrations" if matches else "matches no migration"
        raise LookupError(f"{name!r} {problem}; the department migrations are: {', '.join(own)}.")


def disk_migrations(loader: MigrationLoader | None = None) -> DiskMigrations:
    loader = loader or MigrationLoader(None, ignore_no_migrations=True)
    conflicts = loader.detect_conflicts().get(DEPARTMENT_APP)
    if conflicts:
        raise MigrationConflict(
            f"Conflicting department migrations ({', '.join(sorted(conflicts))}): run "
            f"'python manage.py makemigrations --merge {DEPARTMENT_APP}' first."
        )
    leaves = tuple(sorted(loader.graph.leaf_nodes(DEPARTMENT_APP)))
    plan: dict[MigrationKey, None] = {}
    for leaf in leaves:
        plan.update(dict.fromkeys(loader.graph.forwards_plan(leaf)))
    return DiskMigrations(leaves=leaves, plan=tuple(plan))


def label(key: MigrationKey) -> str:
    """``0001_initial`` for the department app, ``app.name`` for a dependency in another app."""
    app, name = key
    return name if app == DEPARTMENT_APP else f"{app}.{name}"


# --- Reaching (and creating) a department database ------------------------------------------


class DatabaseMissing(Exception):
    """The department's database does not exist."""


class DatabaseUnreachable(Exception):
    """The department's database (or its server) cannot be connected to."""


def describe_error(exc: BaseException) -> str:
    """One line: drivers like to spread connection errors over several."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def backend_name(alias: str) -> str:
    connection = connections[alias]
    if connection.vendor == "mysql" and connection.connection is not None:
        return "mariadb" if connection.mysql_is_mariadb else "mysql"
    return connection.vendor


def database_location(connection: BaseDatabaseWrapper) -> str:
    """Where the database is, for messages (never the password)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"file {settings['NAME']}"
    host = settings.get("HOST") or "localhost"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"database {settings['NAME']!r} on {host}{port}"


def _sqlite_path(connection: BaseDatabaseWrapper) -> Path | None:
    name = str(connection.settings_dict["NAME"])
    if connection.is_in_memory_db() or name.startswith("file:"):
        return None
    return Path(name)


@contextlib.contextmanager
def _server_cursor(connection: BaseDatabaseWrapper) -> Iterator[Any]:
    """A cursor on the department's server outside its database, which may not exist yet.

    PostgreSQL: the ``postgres`` maintenance database; MySQL/MariaDB: no database at all.
    """
    maintenance = "postgres" if connection.vendor == "postgresql" else ""
    server = connection.__class__(
        {**connection.settings_dict, "NAME": maintenance}, alias=f"{connection.alias}:server"
    )
    try:
        with server.cursor() as cursor:
            yield cursor
    finally:
        server.close()


def _server_database_exists(connection: BaseDatabaseWrapper) -> bool:
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        sql = "SELECT 1 FROM pg_database WHERE datname = %s"
    else:
        sql = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
    with _server_cursor(connection) as cursor:
        cursor.execute(sql, [name])
        return cursor.fetchone() is not None


def _server_database_create(connection: BaseDatabaseWrapper) -> None:
    quoted = connection.ops.quote_name(connection.settings_dict["NAME"])
    if connection.vendor == "postgresql":
        sql = f"CREATE DATABASE {quoted} ENCODING 'UTF8'"
    else:
        # utf8mb4: MySQL's "utf8" stores only three bytes per character (no emoji, some CJK).
        sql = f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    with _server_cursor(connection) as cursor:
        cursor.execute(sql)


def database_open(connection: BaseDatabaseWrapper, *, create: bool) -> bool:
    """Connect to a department database, creating it first when ``create``; True if created.

    Raises :class:`DatabaseMissing` or :class:`DatabaseUnreachable` with a one-line message.
    """
    created = False
    if connection.vendor == "sqlite":
        path = _sqlite_path(connection)
        # SQLite creates a missing file on connect: look before connecting, or a typo in a URL
        # would quietly become a new empty department.
        if path is not None and not path.exists():
            in_the_way = next((p for p in path.parents if p.exists()), None)
            if in_the_way is not None and not in_the_way.is_dir():
                raise DatabaseUnreachable(f"cannot reach {path}: {in_the_way} is not a folder")
            if not create:
                raise DatabaseMissing(
                    f"database file {path} does not exist (run with --create-missing to create it)"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                if isinstance(exc, FileExistsError | NotADirectoryError):
                    reason = "a file of that name is in the way"
                raise DatabaseUnreachable(
                    f"cannot create the folder {path.parent}: {reason}"
                ) from None
            created = True
        try:
            connection.ensure_connection()
        except DatabaseError as exc:
            raise DatabaseUnreachable(f"{describe_error(exc)} ({path})") from None
        return created

    try:
        connection.ensure_connection()
        return False
    except DatabaseError as exc:
        first_error = describe_error(exc)
    if connection.vendor not in {"postgresql", "mysql"}:
        raise DatabaseUnreachable(first_error)
    # The connection failed: find out from the server whether the database is simply not there
    # (driver messages for that differ by backend, version and locale; the catalog does not).
    try:
        exists = _server_database_exists(connection)
    except DatabaseError:
        raise DatabaseUnreachable(first_error) from None
    if exists:  # there, but we may not connect to it (permissions, too many connections, ...)
        raise DatabaseUnreachable(first_error)
    if not create:
        raise DatabaseMissing(
            f"{database_location(connection)} does not exist "
            f"(run with --create-missing to create it)"
        )
    try:
        _server_database_create(connection)
        connection.ensure_connection()
    except DatabaseError as exc:
        raise DatabaseUnreachable(
            f"cannot create {database_location(connection)}: {describe_error(exc)}"
        ) from None
    return True


# How long a run waits for another run that is migrating the same department database.
LOCK_WAIT = 120.0


class MigrationLocked(Exception):
    pass


@contextlib.contextmanager
def migration_lock(connection: BaseDatabaseWrapper, *, wait: float | None = None) -> Iterator[None]:
    """Hold this department database's migration lock while changing its schema.

    Two operators (or a deploy job and an operator) running migrate_departments at once would
    otherwise both apply the same migration to the same database, and the second would fail
    half-way. The lock is the database's own where it has one: a PostgreSQL advisory lock (per
    schema, for departments sharing a database), a MySQL/MariaDB named lock; for SQLite a file
    lock beside the database file. Waits up to ``wait`` seconds, then raises MigrationLocked.
    """
    wait = LOCK_WAIT if wait is None else wait
    deadline = time.monotonic() + wait
    message = (
        f"another run is migrating this department database (waited {wait:g} s for its lock); "
        "try again when it has finished"
    )
    if connection.vendor == "postgresql":
        schema = postgres_schema(connection.settings_dict) or ""
        key = zlib.crc32(f"helpdesk migrate_departments {schema}".encode())
        with connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                if cursor.fetchone()[0]:
                    break
                if time.monotonic() >= deadline:
                    raise MigrationLocked(message)
                time.sleep(0.2)
        try:
            yield
        finally:
            _unlock(connection, "SELECT pg_advisory_unlock(%s)", key)
    elif connection.vendor == "mysql":
        name = f"helpdesk_migrate:{connection.settings_dict['NAME']}"[:64]
        with connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, %s)", [name, max(0, int(wait))])
            if cursor.fetchone()[0] != 1:
                raise MigrationLocked(message)
        try:
            yield
        finally:
            _unlock(connection, "SELECT RELEASE_LOCK(%s)", name)
    else:
        path = _sqlite_path(connection) if connection.vendor == "sqlite" else None
        if path is None:  # in memory: nothing else can reach it
            yield
            return
        with open(f"{path}.migrate-lock", "a") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise MigrationLocked(message) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _unlock(connection: BaseDatabaseWrapper, sql: str, key: Any) -> None:
    # A session lock ends with its connection anyway: a broken connection must not hide the
    # error that broke it.
    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute(sql, [key])


def _applied(connection: BaseDatabaseWrapper) -> set[MigrationKey]:
    """The department's own django_migrations rows: one cheap query, no graph, no states."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return set()
    return set(recorder.applied_migrations())


def _release(connection: BaseDatabaseWrapper | None) -> None:
    # Workers come and go; a hundred departments must not keep a hundred connections open.
    if connection is not None and not connection.in_atomic_block:
        with contextlib.suppress(DatabaseError):
            connection.close()


class _Progress:
    """Executor callback remembering what finished and what was running when it failed."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.current = ""

    def __call__(self, action: str, migration: Any = None, fake: bool = False) -> None:
        if action in {"apply_start", "unapply_start"}:
            self.current = label((migration.app_label, migration.name))
        elif action in {"apply_success", "unapply_success"}:
            self.done.append(self.current)
            self.current = ""


# --- One department -------------------------------------------------------------------------


def department_migrate(
    *,
    department: Department,
    disk: DiskMigrations,
    fake: bool = False,
    plan_only: bool = False,
    create_missing: bool = False,
    probe: bool = False,
) -> DepartmentResult | None:
    """Apply the department migrations to one department (or, with ``plan_only``, list them).

    A database already at the latest migration is recognised from its django_migrations rows
    alone and left without building a migration executor or any model state. With ``probe``
    only that cheap part runs: None means "there is work to do" (nothing is created or changed).
    """
    started = time.perf_counter()
    progress = _Progress()
    created = False
    connection = None

    def result(outcome: Outcome, **fields: Any) -> DepartmentResult:
        return DepartmentResult(
            department=department,
            outcome=outcome,
            duration=time.perf_counter() - started,
            created=created,
            **fields,
        )

    try:
        connection = connections[department.alias]
        try:
            created = database_open(
                connection, create=create_missing and not plan_only and not probe
            )
        except DatabaseMissing as exc:
            if probe and create_missing and not plan_only:
                return None
            if plan_only and create_missing:
                return result(
                    Outcome.PENDING, migrations=disk.names, notice="the database would be created"
                )
            return result(Outcome.MISSING, error=str(exc))
        except DatabaseUnreachable as exc:
            return result(Outcome.UNREACHABLE, error=str(exc))

        applied = _applied(connection)
        if applied.issuperset(disk.plan):
            return result(Outcome.NOTHING_TO_DO, notice="up to date")
        if probe:
            return None

        with contextlib.nullcontext() if plan_only else migration_lock(connection):
            # Another run may have applied them while this one waited for the lock.
            if not plan_only and _applied(connection).issuperset(disk.plan):
                return result(Outcome.NOTHING_TO_DO, notice="up to date (applied by another run)")
            # Something to do: from here on it is Django's own machinery, as in `migrate`.
            connection.prepare_database()
            # An empty plan here: e.g. a squashed migration recorded under the names it replaces.
            return _execute(
                connection,
                progress,
                list(disk.leaves),
                result,
                fake=fake,
                plan_only=plan_only,
                nothing_notice="up to date",
            )
    except Exception as exc:  # reported for this department; the others carry on
        return _failed(result, exc, connection, progress)
    finally:
        _release(connection)


def _execute(
    connection: BaseDatabaseWrapper,
    progress: _Progress,
    targets: list,
    result: Callable[..., DepartmentResult],
    *,
    fake: bool,
    plan_only: bool,
    nothing_notice: str,
) -> DepartmentResult:
    """Django's own machinery, as in `migrate`: check the history, plan, then apply or list."""
    executor = MigrationExecutor(connection, progress)
    executor.loader.check_consistent_history(connection)
    plan = executor.migration_plan(targets)
    if not plan:
        return result(Outcome.NOTHING_TO_DO, notice=nothing_notice)
    if plan_only:
        return result(
            Outcome.PENDING, migrations=tuple(label((m.app_label, m.name)) for m, _ in plan)
        )
    executor.migrate(targets, plan=plan, fake=fake)
    return result(Outcome.DONE, migrations=tuple(progress.done), notice="faked" if fake else "")


def _failed(
    result: Callable[..., DepartmentResult],
    exc: Exception,
    connection: BaseDatabaseWrapper | None,
    progress: _Progress,
) -> DepartmentResult:
    return result(
        Outcome.FAILED,
        migrations=tuple(progress.done),
        error=describe_error(exc) + _partial_change_warning(connection, progress),
        failed_migration=progress.current,
    )


def _partial_change_warning(connection: BaseDatabaseWrapper | None, progress: _Progress) -> str:
    # MySQL/MariaDB commit every DDL statement: a failed migration is half applied, and running
    # it again will trip over what the first half created. Say so next to the error.
    if connection is None or not progress.current or connection.features.can_rollback_ddl:
        return ""
    return (
        f" ({connection.vendor} cannot roll back schema changes: whatever {progress.current} "
        f"changed before failing is still there; check before running it again)"
    )


def department_rollback(
    *,
    department: Department,
    disk: DiskMigrations,
    steps: int | None = None,
    to: str | None = None,
    fake: bool = False,
    plan_only: bool = False,
) -> DepartmentResult:
    """Unapply department migrations: the latest ``steps``, back to just after ``to``, or all.

    ``to`` is a full migration name (see :meth:`DiskMigrations.resolve`); with neither ``steps``
    nor ``to`` everything is unapplied. A department with nothing to undo is a no-op.
    """
    started = time.perf_counter()
    progress = _Progress()
    connection = None

    def result(outcome: Outcome, **fields: Any) -> DepartmentResult:
        return DepartmentResult(
            department=department, outcome=outcome, duration=time.perf_counter() - started, **fields
        )

    try:
        connection = connections[department.alias]
        try:
            database_open(connection, create=False)
        except DatabaseMissing as exc:
            return result(Outcome.MISSING, error=str(exc))
        except DatabaseUnreachable as exc:
            return result(Outcome.UNREACHABLE, error=str(exc))

        with contextlib.nullcontext() if plan_only else migration_lock(connection):
            applied = _applied(connection)
            applied_here = [key for key in disk.plan if key[0] == DEPARTMENT_APP and key in applied]
            if not applied_here:
                return result(Outcome.NOTHING_TO_DO, notice="nothing applied, nothing to roll back")
            if to is not None:
                target: tuple[str, str | None] = (DEPARTMENT_APP, to)
                if target not in applied:
                    return result(
                        Outcome.NOTHING_TO_DO,
                        notice=f"{to} is not applied here, nothing to roll back",
                    )
            elif steps is not None and steps < len(applied_here):
                target = applied_here[-steps - 1]
            else:
                target = (DEPARTMENT_APP, None)

            return _execute(
                connection,
                progress,
                [target],
                result,
                fake=fake,
                plan_only=plan_only,
                nothing_notice=f"already at {to}",
            )
    except Exception as exc:  # reported for this department; the others carry on
        return _failed(result, exc, connection, progress)
    finally:
        _release(connection)


def department_migration_status(*, department: Department, disk: DiskMigrations) -> MigrationStatus:
    """Applied and pending department migrations of one department; never raises."""
    connection = None
    reachable = False
    backend = "?"
    try:
        connection = connections[department.alias]
        backend = connection.vendor
        try:
            database_open(connection, create=False)
        except (DatabaseMissing, DatabaseUnreachable) as exc:
            return MigrationStatus(
                department=department, backend=backend, reachable=False, error=str(exc)
            )
        reachable = True
        backend = backend_name(department.alias)
        applied = _applied(connection)
        pending = [key for key in disk.plan if key not in applied]
        if pending:
            # Let Django decide (it knows about squashed migrations); only paid when not current.
            plan = MigrationExecutor(connection).migration_plan(list(disk.leaves))
            pending = [(m.app_label, m.name) for m, _ in plan]
        return MigrationStatus(
            department=department,
            backend=backend,
            reachable=True,
            applied=tuple(label(key) for key in disk.plan if key in applied),
            pending=tuple(label(key) for key in pending),
        )
    except Exception as exc:  # a status report never stops at one department
        return MigrationStatus(
            department=department, backend=backend, reachable=reachable, error=describe_error(exc)
        )
    finally:
        _release(connection)


# --- Many departments -----------------------------------------------------------------------


def default_parallel() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group. A worker lets its running migration finish (a DDL
    # statement cut in half on MySQL cannot be rolled back); the parent stops handing out work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool(workers: int) -> Executor:
    if "fork" in multiprocessing.get_all_start_methods():
        # Processes, so that the CPU-bound part (model states) really runs in parallel; forked,
        # so that each worker starts with the settings and migration modules already loaded
        # (spawn would set Django up again per worker and lose settings changed in memory).
        return ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"), initializer=_ignore_interrupts
        )
    # No fork (Windows): threads, each with its own connections (Django's are per thread).
    return ThreadPoolExecutor(workers)


def _close_connections_before_fork() -> None:
    # A child must never share a socket with its parent. Connections inside a transaction (a
    # caller's atomic block, a test) stay open: closing them would break that transaction, and
    # workers only ever open department connections of their own.
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


@dataclass
class _Run:
    total: int
    on_result: Callable[[Any, int, int], None]
    results: dict[str, Any] = field(default_factory=dict)

    def add(self, department: Department, result: Any) -> None:
        self.results[department.alias] = result
        self.on_result(result, len(self.results), self.total)


def departments_run(
    task: Callable[..., Result],
    departments: Sequence[Department],
    *,
    parallel: int,
    crashed: Callable[[Department, str], Result],
    on_result: Callable[[Result, int, int], None] | None = None,
    probe: Callable[..., Result | None] | None = None,
    **task_kwargs: Any,
) -> list[Result]:
    """Run ``task(department=..., **task_kwargs)`` for every department; results in their order.

    ``parallel`` workers (1: in this process, one after another). ``on_result(result, k, n)`` is
    called as each department finishes. ``crashed`` makes the result for a department whose
    worker died or that an interrupt (Ctrl-C) kept from running. ``probe`` (same arguments)
    settles what it can cheaply, in threads, before any process is forked: it returns a final
    result, or None when the department needs ``task``.
    """
    run = _Run(total=len(departments), on_result=on_result or (lambda *args: None))
    workers = max(1, min(parallel, len(departments)))
    remaining = list(departments)
    if probe is not None and workers > 1:
        # On most deploys most departments are up to date: finding that out is a query or two,
        # I/O that threads overlap well (unreachable hosts time out together), whereas forking
        # workers for it would cost more than the work itself.
        with ThreadPoolExecutor(workers) as threads:
            probes = {threads.submit(probe, department=d, **task_kwargs): d for d in departments}
            for future in as_completed(probes):
                settled = future.result()
                if settled is not None:
                    run.add(probes[future], settled)
        remaining = [d for d in departments if d.alias not in run.results]
        workers = max(1, min(workers, len(remaining)))

    if workers == 1:
        for department in remaining:
            run.add(department, task(department=department, **task_kwargs))
        return [run.results[d.alias] for d in departments]

    _close_connections_before_fork()
    pool = _pool(workers)
    futures = {pool.submit(task, department=d, **task_kwargs): d for d in remaining}
    try:
        for future in as_completed(futures):
            department = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker died (killed, out of memory)
                outcome = crashed(department, f"worker process failed: {describe_error(exc)}")
            run.add(department, outcome)
    except KeyboardInterrupt:
        # Let running departments finish, skip the rest, and report all of it honestly.
        pool.shutdown(wait=True, cancel_futures=True)
        for future, department in futures.items():
            if department.alias in run.results:
                continue
            if future.done() and not future.cancelled() and future.exception() is None:
                run.add(department, future.result())
            else:
                run.add(department, crashed(department, "interrupted before it ran"))
    finally:
        # Normally everything is done by now; after an error here (say, a closed stdout) do not
        # go on migrating departments nobody will hear about.
        pool.shutdown(wait=True, cancel_futures=True)
    return [run.results[d.alias] for d in departments]
