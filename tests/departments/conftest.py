"""Department databases that a test makes for itself, on the backend under test, and drops."""

from __future__ import annotations

import secrets
import sqlite3
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from config.settings.test import test_database_url
from departments.config import department_databases
from departments.registry import Department, all_departments


class DepartmentDatabases:
    """Make department databases and install them as the only departments the registry knows.

    SQLite files go in the test's tmp_path; server databases get names unique to the test
    (``hd<run>_ops<token>_<stem>``) and are dropped at the end, whoever created them.
    """

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.backend = settings.TEST_BACKEND
        self.token = secrets.token_hex(3)
        self.server_names: list[str] = []
        self.aliases: list[str] = []
        self.overrides: list[override_settings] = []

    # --- URLs -----------------------------------------------------------------------------

    def url(self, stem: str, *, exists: bool = True, folder: str = "departments") -> str:
        """URL of a new department database; with ``exists=False`` nothing is created yet."""
        if self.backend == "sqlite":
            path = self.tmp_path / folder / f"{stem}.sqlite3"
            if exists:
                path.parent.mkdir(parents=True, exist_ok=True)
                sqlite3.connect(path).close()
            return f"sqlite:///{path}"
        url = test_database_url(f"ops{self.token}_{stem}")
        name = url.rsplit("/", 1)[1]
        self.server_names.append(name)
        if exists:
            with self.server_cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {self.quote(name)}{self.charset}")
        return url

    def unreachable_url(self, stem: str) -> str:
        """SQLite: a path below a regular file; servers: a port nothing listens on."""
        if self.backend == "sqlite":
            blocker = self.tmp_path / "not-a-folder"
            blocker.write_text("a file where a folder should be")
            return f"sqlite:///{blocker}/{stem}.sqlite3"
        parts = urlsplit(test_database_url(f"ops{self.token}_{stem}"))
        netloc = parts.netloc.rsplit("@", 1)[0] + "@127.0.0.1:1"
        return urlunsplit(parts._replace(netloc=netloc))

    def exists(self, url: str) -> bool:
        if self.backend == "sqlite":
            return Path(url.removeprefix("sqlite:///")).exists()
        name = url.rsplit("/", 1)[1]
        sql = (
            "SELECT 1 FROM pg_database WHERE datname = %s"
            if self.backend == "postgres"
            else "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
        )
        with self.server_cursor() as cursor:
            cursor.execute(sql, [name])
            return cursor.fetchone() is not None

    # --- installing them as the departments ----------------------------------------------

    def install(self, urls: dict[str, str]) -> list[Department]:
        """Make ``{NAME: url}`` the configured departments, as the environment variables would."""
        environ = {}
        for name, url in urls.items():
            environ[f"{name}_DEPARTMENT_DATABASE_URL"] = url
            environ[f"{name}_DEPARTMENT_CODE"] = name[:6]
        found = department_databases(
            environ, system_database=settings.DATABASES["default"], embedded_dir=None
        )
        # django.db.connections keeps its own reference to the original DATABASES dict and
        # ignores override_settings, so the new aliases are added there too.
        connections.configure_settings(
            {"default": connections.settings["default"], **found.databases}
        )
        for alias in found.databases:
            self.forget_connection(alias)  # installed again: no wrapper for the old database
        connections.settings.update(found.databases)
        self.aliases += list(found.databases)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Overriding setting DATABASES can lead to ..."
            override = override_settings(
                DATABASES={"default": settings.DATABASES["default"], **found.databases},
                DEPARTMENTS=found.metadata,
            )
            override.enable()
        self.overrides.append(override)
        return all_departments()

    def cleanup(self) -> None:
        for alias in self.aliases:
            self.forget_connection(alias)
            connections.settings.pop(alias, None)
        while self.overrides:  # installed more than once: undo in reverse order
            self.overrides.pop().disable()
        for name in self.server_names:
            force = " WITH (FORCE)" if self.backend == "postgres" else ""
            with self.server_cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {self.quote(name)}{force}")

    def forget_connection(self, alias: str) -> None:
        if hasattr(connections._connections, alias):  # a wrapper was made in this thread
            connections[alias].close()
            del connections[alias]

    # --- server helpers -------------------------------------------------------------------

    def server_cursor(self):
        # The system test database is on the same server; this cursor is outside any database.
        return connections["default"]._nodb_cursor()

    def quote(self, name: str) -> str:
        return connections["default"].ops.quote_name(name)

    @property
    def charset(self) -> str:
        return (
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if self.backend == "mariadb" else ""
        )


@pytest.fixture
def dbs(tmp_path, django_db_blocker) -> DepartmentDatabases:
    # Not the django_db marker: its test case forbids connections to aliases it was not told
    # about when the test started, and these databases are not the suite's test databases.
    with django_db_blocker.unblock():
        made = DepartmentDatabases(tmp_path)
        try:
            yield made
        finally:
            made.cleanup()
