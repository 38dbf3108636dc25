"""Every difference between the database backends, one class per backend.

Django's own ``connection.ops`` / ``connection.features`` pattern: code that builds or runs a
statement asks the dialect instead of testing ``vendor``. ``dialect_for(alias)`` picks one.
"""

from __future__ import annotations

import functools
import sqlite3
from datetime import datetime
from typing import Any

from django.db import connections

from departments.config import postgres_schema


def _server_key(config: dict[str, Any]) -> tuple:
    host = config.get("HOST") or "localhost"
    if host in {"127.0.0.1", "::1"}:
        host = "localhost"
    return (str(host), str(config.get("PORT") or ""), str(config.get("USER") or ""))


class Dialect:
    """SQL and connection behaviour of one backend; the base is standard SQL."""

    vendor = ""
    # The page and the maintained counts can ride in one statement (a server round trip saved).
    folds_counts = True
    # Text sorts merge on the database's own collation weights (Python's order differs).
    sort_weights = False

    def __init__(self, ops):
        self.ops = ops

    def quote(self, name: str) -> str:
        return f'"{name}"'

    def sort_expr(self, column: str, kind: str) -> str:
        return column

    def contains(self, column: str) -> str:
        """A case-insensitive substring condition on ``column`` for a ``%...%`` pattern."""
        return f"{column} LIKE %s"

    def adapt(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return self.ops.adapt_datetimefield_value(value)
        return value

    def weight_expr(self, column: str) -> str:
        raise NotImplementedError

    def group_key(self, config: dict[str, Any], alias: str) -> tuple:
        """Departments with equal keys can be read by one statement on one connection."""
        return ("alone", alias)

    def group_prefixes(self, configs: list[dict[str, Any]]) -> tuple[str, ...]:
        """The table qualifier of each department of one group, in order."""
        return ("",) * len(configs)

    def max_group_size(self) -> int | None:
        """How many departments one connection can reach at most (None: no limit)."""
        return None

    def group_files(self, configs: list[dict[str, Any]]) -> tuple[str, ...]:
        """Database files a group's connection opens itself (SQLite only)."""
        return ()

    def single_prefix(self, group_prefix: str, index: int) -> str:
        """A department's qualifier once it is read on its own connection."""
        return group_prefix

    def statement_timeout_sql(self, seconds: float) -> tuple[str, list[Any]] | None:
        return None

    def add_or_insert_sql(self, table: str, keys: tuple[str, ...], column: str) -> str:
        """One statement adding to ``column`` of the row with these key values, or inserting it:
        parameters are the key values, then the amount. Concurrent first writers of one row
        cannot deadlock on it (an INSERT failing as a duplicate, then an UPDATE, can)."""
        t, c = self.quote(table), self.quote(column)
        k = ", ".join(self.quote(key) for key in keys)
        values = ", ".join(["%s"] * (len(keys) + 1))
        return f"INSERT INTO {t} ({k}, {c}) VALUES ({values}) {self._add_on_conflict(t, k, c)}"

    def _add_on_conflict(self, table: str, keys: str, column: str) -> str:
        return f"ON CONFLICT ({keys}) DO UPDATE SET {column} = {table}.{column} + excluded.{column}"

    def text_index(
        self, cursor, *, fts_table: str, table: str, fulltext_index: str, trigram_index: str
    ) -> str | int | None:
        """Which text search index the connected database has (None: none it can use)."""
        return None


class SQLiteDialect(Dialect):
    vendor = "sqlite"
    # One local file read: nothing is saved by folding, and counts stay exact apart.
    folds_counts = False

    def contains(self, column: str) -> str:
        return f"{column} LIKE %s ESCAPE '\\'"

    def group_key(self, config, alias):
        return ("sqlite",)  # every file can be ATTACHed to one connection

    def group_prefixes(self, configs):
        return tuple(f'"d{i}".' for i in range(len(configs)))

    def max_group_size(self):
        return sqlite_attach_limit()  # ATTACH has a per-connection limit

    def group_files(self, configs):
        return tuple(c["NAME"] for c in configs)

    def single_prefix(self, group_prefix, index):
        return '"d0".'

    def text_index(self, cursor, *, fts_table, table, fulltext_index, trigram_index):
        cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [fts_table]
        )
        return "fts5" if cursor.fetchone() else None

    def fts_match(self, fts_table: str, prefix: str, id_column: str) -> str:
        """Rows whose id is in the trigram FTS5 index's matches for a quoted phrase."""
        fts = self.quote(fts_table)
        return f"{id_column} IN (SELECT rowid FROM {prefix}{fts} WHERE {fts} MATCH %s)"


class PostgreSQLDialect(Dialect):
    vendor = "postgresql"

    def sort_expr(self, column, kind):
        # PostgreSQL compares text in the database collation; "C" (code point order) is what
        # Python compares too, so the k-way merge and the statement agree (indexes in 0003).
        if kind == "text":
            return f'{column} COLLATE "C"'
        return column

    def contains(self, column):
        return f"{column} ILIKE %s"

    def group_key(self, config, alias):
        # Schemas of one database share a statement; separate databases cannot.
        if postgres_schema(config):
            return ("pg", *_server_key(config), config["NAME"])
        return ("alone", alias)

    def group_prefixes(self, configs):
        return tuple(f"{self.ops.quote_name(postgres_schema(c))}." for c in configs)

    def statement_timeout_sql(self, seconds):
        return "SET statement_timeout = %s", [int(seconds * 1000)]

    def text_index(self, cursor, *, fts_table, table, fulltext_index, trigram_index):
        cursor.execute(
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s",
            [trigram_index],
        )
        return "trigram" if cursor.fetchone() else None


class MySQLDialect(Dialect):
    vendor = "mysql"

    def quote(self, name):
        return f"`{name}`"

    def contains(self, column):
        return f"{column} LIKE %s"  # case-insensitive collation, backslash escapes

    def group_key(self, config, alias):
        return ("mysql", *_server_key(config))  # databases of one server: `db`.table

    def group_prefixes(self, configs):
        return tuple(f"{self.ops.quote_name(c['NAME'])}." for c in configs)

    def single_prefix(self, group_prefix, index):
        return ""  # on its own connection, its own database is the default

    def statement_timeout_sql(self, seconds):
        return "SET SESSION max_execution_time = %s", [int(seconds * 1000)]

    def text_index(self, cursor, *, fts_table, table, fulltext_index, trigram_index):
        cursor.execute(
            "SELECT @@innodb_ft_min_token_size FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() AND table_name = %s AND index_name = %s",
            [table, fulltext_index],
        )
        row = cursor.fetchone()
        return int(row[0]) if row else None  # the FULLTEXT minimum token size

    def _add_on_conflict(self, table, keys, column):
        return f"ON DUPLICATE KEY UPDATE {column} = {column} + VALUES({column})"

    def fulltext_match(self, columns: tuple[str, ...]) -> str:
        return f"MATCH ({', '.join(columns)}) AGAINST (%s IN BOOLEAN MODE)"


class MariaDBDialect(MySQLDialect):
    # MariaDB collations are not Python's string order: rows carry their sort weights.
    sort_weights = True

    def weight_expr(self, column):
        return f"WEIGHT_STRING({column})"

    def statement_timeout_sql(self, seconds):
        return "SET SESSION max_statement_time = %s", [seconds]


_BY_VENDOR: dict[str, type[Dialect]] = {
    "sqlite": SQLiteDialect,
    "postgresql": PostgreSQLDialect,
    "mysql": MySQLDialect,
}


def dialect_of(connection) -> Dialect:
    """The dialect of a Django connection (asks a MySQL-family server which it is)."""
    if connection.vendor == "mysql" and getattr(connection, "mysql_is_mariadb", False):
        return MariaDBDialect(connection.ops)
    return _BY_VENDOR.get(connection.vendor, Dialect)(connection.ops)


def dialect_for(alias: str) -> Dialect:
    return dialect_of(connections[alias])


def planning_dialect(alias: str) -> Dialect:
    """The dialect for grouping, without connecting (MariaDB and MySQL group alike)."""
    connection = connections[alias]
    return _BY_VENDOR.get(connection.vendor, Dialect)(connection.ops)


@functools.cache
def sqlite_attach_limit() -> int:
    probe = sqlite3.connect(":memory:")
    try:
        return max(1, probe.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED))
    finally:
        probe.close()
