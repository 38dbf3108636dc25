"""Running one statement per group on worker threads, with a deadline and failure isolation.

Every read runs on a worker thread, so the request thread never waits on a slow department
beyond the timeout, and each worker's connections carry the statement timeout. A department
that fails or runs out of time is reported as failed; the others' answers are still returned.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connections

from departments.fanout.dialects import Dialect, SQLiteDialect, dialect_of
from departments.fanout.planning import Group

logger = logging.getLogger(__name__)
T = TypeVar("T")


def department_timeout() -> float:
    return float(getattr(settings, "DASHBOARD_DEPARTMENT_TIMEOUT", 2.0))


class WorkerPool:
    """Threads that keep their own database connections between tasks."""

    def __init__(self, size: int):
        self.size = size
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def submit(self, fn: Callable[[], Any]) -> Future:
        future: Future = Future()
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            if len(self.threads) < self.size:
                thread = threading.Thread(target=self._work, name="dashboard-worker", daemon=True)
                self.threads.append(thread)
                thread.start()
        self.tasks.put((fn, future))
        return future

    def _work(self) -> None:
        try:
            while True:
                item = self.tasks.get()
                if item is None:
                    return
                fn, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)
        finally:
            _close_thread_connections()

    def shutdown(self) -> None:
        with self.lock:
            threads, self.threads = self.threads, []
        for _ in threads:
            self.tasks.put(None)
        for thread in threads:
            thread.join(timeout=10)


class ServerConnections:
    """Department connections shared by the worker threads: borrowed per read, then returned.

    Thread-local connections would make every worker thread of every gunicorn process hold one
    connection per department (processes x threads x departments), which exhausted
    PostgreSQL's 100 slots under bench/load.py. Here a process holds, per department, only the
    connections in use plus at most ``keep`` idle ones, and still never reconnects per page.
    """

    def __init__(self, keep: int):
        self.keep = keep
        self.idle: dict[str, list] = {}
        self.lock = threading.Lock()

    def borrow(self, alias: str):
        with self.lock:
            idle = self.idle.get(alias)
            if idle:
                return idle.pop()
        conn = connections.create_connection(alias)
        conn.inc_thread_sharing()  # handed from worker thread to worker thread
        return conn

    def give_back(self, alias: str, conn, *, broken: bool = False) -> None:
        if not broken and conn.connection is not None:
            with self.lock:
                idle = self.idle.setdefault(alias, [])
                if len(idle) < self.keep:
                    idle.append(conn)
                    return
        conn.close()

    def close_all(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


# Made on first use, from the settings in force then (not at import time).
_pool: WorkerPool | None = None
_servers: ServerConnections | None = None
_made = threading.Lock()
_local = threading.local()


def workers() -> WorkerPool:
    global _pool
    if _pool is None:
        with _made:
            if _pool is None:
                _pool = WorkerPool(int(getattr(settings, "DASHBOARD_WORKERS", 8)))
    return _pool


def server_connections() -> ServerConnections:
    global _servers
    if _servers is None:
        with _made:
            if _servers is None:
                keep = int(getattr(settings, "DASHBOARD_IDLE_CONNECTIONS", 2))
                _servers = ServerConnections(keep=keep)
    return _servers


def shutdown_workers() -> None:
    """Close the worker threads and their connections (tests call this before dropping DBs)."""
    if _pool is not None:
        _pool.shutdown()
    if _servers is not None:
        _servers.close_all()


def _close_thread_connections() -> None:
    for conn in getattr(_local, "sqlite", {}).values():
        conn.close()
    _local.sqlite = {}
    connections.close_all()


def _sqlite_connection(files: tuple[str, ...]) -> sqlite3.Connection:
    """A connection of this thread with ``files`` attached as d0, d1, ... (reused)."""
    cache = getattr(_local, "sqlite", None)
    if cache is None:
        cache = _local.sqlite = {}
    conn = cache.get(files)
    if conn is None:
        conn = sqlite3.connect(":memory:", uri=True, isolation_level=None)
        try:
            for i, path in enumerate(files):
                # mode=rw: a missing file is an error, never a new empty database.
                conn.execute(f"ATTACH DATABASE ? AS d{i}", (f"file:{path}?mode=rw",))
        except sqlite3.Error:
            conn.close()
            raise
        cache[files] = conn
    return conn


def _drop_sqlite_connection(files: tuple[str, ...]) -> None:
    conn = getattr(_local, "sqlite", {}).pop(files, None)
    if conn is not None:
        conn.close()


class Runner:
    """Executes statements for one group on this worker thread's connection."""

    dialect: Dialect

    def __init__(self, group: Group, timeout: float):
        self.group = group
        self.timeout = timeout

    @staticmethod
    def open(group: Group, timeout: float) -> Runner:
        return (_FileRunner if group.sqlite_files else _ServerRunner)(group, timeout)

    def fetch(self, sql: str, params: list[Any]) -> list[tuple]:
        return self._execute(sql, params)

    def _execute(self, sql: str, params: list[Any]) -> list[tuple]:
        raise NotImplementedError

    def release(self, *, broken: bool = False) -> None:
        """Return the connection; after an error it is dropped and the next read reconnects."""
        raise NotImplementedError


class _FileRunner(Runner):
    """SQLite: the group's files attached to one connection of this thread."""

    def __init__(self, group: Group, timeout: float):
        super().__init__(group, timeout)
        self.conn = _sqlite_connection(group.sqlite_files)
        self.dialect = SQLiteDialect(connections[group.alias].ops)

    def _execute(self, sql, params):
        deadline = time.monotonic() + self.timeout
        self.conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            return self.conn.execute(sql.replace("%s", "?"), params).fetchall()
        finally:
            self.conn.set_progress_handler(None, 0)

    def release(self, *, broken=False):
        if broken:
            _drop_sqlite_connection(self.group.sqlite_files)


class _ServerRunner(Runner):
    """A database server: a borrowed connection carrying the statement timeout."""

    def __init__(self, group: Group, timeout: float):
        super().__init__(group, timeout)
        self.django = server_connections().borrow(group.alias)
        try:
            self.django.ensure_connection()
        except DatabaseError:
            server_connections().give_back(group.alias, self.django, broken=True)
            raise
        self.dialect = dialect_of(self.django)
        self._configure_timeout()

    def _configure_timeout(self) -> None:
        raw = self.django.connection
        if getattr(self.django, "_dashboard_timeout_for", None) is raw:
            return
        statement = self.dialect.statement_timeout_sql(self.timeout)
        if statement:
            with self.django.cursor() as cursor:
                cursor.execute(*statement)
        self.django._dashboard_timeout_for = raw

    def _execute(self, sql, params):
        with self.django.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def release(self, *, broken=False):
        server_connections().give_back(self.group.alias, self.django, broken=broken)


def on_group(group: Group, work: Callable[[Runner], T]) -> T:
    """In a worker: ``work`` on a runner for ``group``; driver errors become DatabaseError."""
    try:
        runner = Runner.open(group, department_timeout())
    except sqlite3.Error as exc:
        raise DatabaseError(str(exc)) from exc
    try:
        outcome = work(runner)
    except (DatabaseError, sqlite3.Error) as exc:
        runner.release(broken=True)
        if isinstance(exc, sqlite3.Error):
            raise DatabaseError(str(exc)) from exc
        raise
    except BaseException:
        runner.release(broken=True)
        raise
    runner.release()
    return outcome


def each_group(
    groups: list[Group],
    work: Callable[[Group, Runner], T],
    *,
    alone: Callable[[Group, Runner], T] | None = None,
) -> tuple[list[T], list[tuple[Group, Any]]]:
    """``work`` on every group concurrently, each round within the department timeout.

    Returns the answers and the (group, reason) of every group that failed or ran out of time.
    A failed group of several departments is retried one department at a time (with ``alone``
    if given), so one slow or broken department never hides the others sharing its statement.
    """
    answers: list[T] = []
    failed: list[tuple[Group, Any]] = []
    retry = _round(groups, work, answers, failed, split=True)
    if retry:
        _round(retry, alone or work, answers, failed, split=False)
    return answers, failed


def _round(
    groups: list[Group],
    work: Callable[[Group, Runner], T],
    answers: list[T],
    failed: list[tuple[Group, Any]],
    *,
    split: bool,
) -> list[Group]:
    """One concurrent round; returns the single-department groups to try again."""
    deadline = time.monotonic() + department_timeout() + 0.5
    futures = [
        (group, workers().submit(lambda g=group: on_group(g, lambda runner: work(g, runner))))
        for group in groups
    ]
    retry: list[Group] = []
    for group, future in futures:
        try:
            answers.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
            continue
        except FutureTimeout:
            reason: Any = "timed out"
        except DatabaseError as exc:
            reason = exc
        if split and len(group.departments) > 1:
            logger.info("group statement failed, retrying per department: %s", reason)
            retry += group.split()
        else:
            failed.append((group, reason))
    return retry
