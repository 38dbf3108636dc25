"""Text-search indexes on the ticket table, one kind per backend.

The dashboard's free-text search is a case-insensitive substring match over reference, customer
email, customer name and subject. Without an index that is a scan of every ticket, so:

- PostgreSQL: pg_trgm GIN indexes on the four columns; ``ILIKE '%term%'`` uses them as is
  (BitmapOr of the four). If the extension cannot be created, no index: the scan still works.
- SQLite: an FTS5 table with the ``trigram`` tokenizer over the four columns, external content
  (it stores only the index; rows are read from the ticket table), kept in sync by triggers.
  Terms of 3+ characters are matched through it; shorter terms scan.
- MariaDB/MySQL: one FULLTEXT index over the four columns, queried ``IN BOOLEAN MODE`` as
  word prefixes (see ``tickets.dashboard.search``); what it cannot serve scans with LIKE.

The SQL lives here so the migration and the seed command (which disables the SQLite triggers
during a bulk load and rebuilds the FTS table afterwards) use the same statements.
"""

from __future__ import annotations

TABLE = "tickets_ticket"
FTS_TABLE = "tickets_ticket_fts"
COLUMNS = ("reference", "customer_email", "customer_name", "subject")
FULLTEXT_INDEX = "ticket_search_ft"
TRIGRAM_INDEXES = {f"ticket_{c}_trgm_idx": c for c in COLUMNS}

_cols = ", ".join(COLUMNS)
_new = ", ".join(f"new.{c}" for c in COLUMNS)
_old = ", ".join(f"old.{c}" for c in COLUMNS)

SQLITE_TRIGGERS = {
    "tickets_ticket_fts_ai": (
        f"CREATE TRIGGER tickets_ticket_fts_ai AFTER INSERT ON {TABLE} BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, {_cols}) VALUES (new.id, {_new}); END"
    ),
    "tickets_ticket_fts_ad": (
        f"CREATE TRIGGER tickets_ticket_fts_ad AFTER DELETE ON {TABLE} BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_cols}) "
        f"VALUES ('delete', old.id, {_old}); END"
    ),
    # Only when a searched column changes: status/assignee updates leave the index alone.
    "tickets_ticket_fts_au": (
        f"CREATE TRIGGER tickets_ticket_fts_au AFTER UPDATE OF {_cols} ON {TABLE} BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_cols}) "
        f"VALUES ('delete', old.id, {_old}); "
        f"INSERT INTO {FTS_TABLE}(rowid, {_cols}) VALUES (new.id, {_new}); END"
    ),
}


def sqlite_rebuild(cursor) -> None:
    """Re-read every ticket into the FTS index (after a load with the triggers dropped)."""
    cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


def create(connection, execute) -> None:
    """Create the search index for ``connection``'s backend; ``execute(sql)`` runs a statement."""
    vendor = connection.vendor
    if vendor == "sqlite":
        execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
            f"{_cols}, content='{TABLE}', content_rowid='id', tokenize='trigram')"
        )
        for name, sql in SQLITE_TRIGGERS.items():
            execute(f"DROP TRIGGER IF EXISTS {name}")
            execute(sql)
        with connection.cursor() as cursor:
            sqlite_rebuild(cursor)
    elif vendor == "postgresql":
        schema = _pg_trgm_schema(connection)
        if schema is None:
            return  # no pg_trgm: text search keeps scanning, correctly
        opclass = f"{connection.ops.quote_name(schema)}.gin_trgm_ops"
        for name, column in TRIGRAM_INDEXES.items():
            execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" USING gin ("{column}" {opclass})'
            )
    elif vendor == "mysql":
        execute(f"CREATE FULLTEXT INDEX `{FULLTEXT_INDEX}` ON `{TABLE}` ({_cols})")


def _pg_trgm_schema(connection) -> str | None:
    """The schema pg_trgm lives in, creating the extension if allowed; None if unavailable.

    pg_trgm is a trusted extension (the database owner may create it). A role that may not
    is not an error: the savepoint keeps the surrounding migration transaction usable. The
    opclass is schema-qualified because schema departments search only their own schema.
    """
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        pass
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def drop(connection, execute) -> None:
    vendor = connection.vendor
    if vendor == "sqlite":
        for name in SQLITE_TRIGGERS:
            execute(f"DROP TRIGGER IF EXISTS {name}")
        execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif vendor == "postgresql":
        for name in TRIGRAM_INDEXES:
            execute(f'DROP INDEX IF EXISTS "{name}"')
    elif vendor == "mysql":
        execute(f"DROP INDEX `{FULLTEXT_INDEX}` ON `{TABLE}`")
