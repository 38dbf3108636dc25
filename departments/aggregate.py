"""The cross-department ticket engine: one sorted, filtered, paginated view over many databases.

A query names departments, filters, a whitelisted sort key and a direction; the order always ends
in the unique tiebreaker (department, id). Departments that one SQL statement can reach are read
with ONE ``UNION ALL`` statement whose arms each carry their own WHERE, ORDER BY and LIMIT
(SQLite files ATTACHed to one connection, MySQL/MariaDB databases on one server as ``db.table``,
PostgreSQL schemas of one database). Departments no statement can share (separate servers,
separate PostgreSQL databases) are read concurrently on worker threads and k-way merged.

Every value that comes from a user is a bound parameter. A department that fails or exceeds its
timeout is left out of the result and reported in ``unavailable``; the others are still returned.
"""

from __future__ import annotations

import base64
import binascii
import functools
import heapq
import itertools
import json
import logging
import operator
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.backends.base.operations import BaseDatabaseOperations

from departments.config import postgres_schema
from departments.registry import Department, all_departments
from tickets import search_index
from tickets.models import Priority, Status, Ticket, TicketCount

logger = logging.getLogger(__name__)

# Past this many rows, a page is found from narrow rows first and then read by keyset.
DEEP_OFFSET = 200
# A deep position is narrowed by probe rounds until it is this close, then merged exactly.
EXACT_TAIL = 500
# Counts beyond the maintained (status, priority) columns stop counting here: "10,000+".
COUNT_CAP = 10_000
TICKET_TABLE = Ticket._meta.db_table
COUNT_TABLE = TicketCount._meta.db_table
STATUS_ORDER = tuple(Status.values)  # the workflow order: new, open, pending, resolved, closed
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REFERENCE_BODY = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTWXYZ]{6}$")


# --- What can be asked ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    """A whitelisted sort: the column it orders by and how values are typed."""

    name: str
    column: str | None  # None: the order comes from per-arm constants only (department, status)
    kind: str = "text"  # text | int | datetime | status | department | nullable_int
    unique: bool = False  # the column alone is unique within a department


SORT_KEYS: dict[str, SortKey] = {
    key.name: key
    for key in (
        SortKey("created", "created_at", "datetime"),
        SortKey("updated", "updated_at", "datetime"),
        SortKey("reference", "reference", "text", unique=True),
        SortKey("subject", "subject", "text"),
        SortKey("customer", "customer_name", "text"),
        SortKey("email", "customer_email", "text"),
        SortKey("priority", "priority", "int"),
        # Unassigned tickets sort before assigned ones (by staff id) in ascending order.
        SortKey("assignee", "assignee_id", "nullable_int"),
        # Workflow order (new .. closed), not alphabetical: one arm per status.
        SortKey("status", None, "status"),
        # By department name: one arm per department, so its order is free.
        SortKey("department", None, "department"),
    )
}
DEFAULT_SORT = "created"

SELECT_COLUMNS = (
    "id",
    "reference",
    "customer_name",
    "customer_email",
    "subject",
    "status",
    "priority",
    "assignee_id",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class TicketFilters:
    """Row filters; every value ends up as a bound parameter."""

    statuses: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    assignee_id: int | None = None
    unassigned: bool = False
    created_from: datetime | None = None  # inclusive, aware
    created_before: datetime | None = None  # exclusive, aware
    search: str = ""

    @property
    def countable(self) -> bool:
        """True when the maintained (status, priority) counts answer exactly."""
        return not (
            self.assignee_id is not None
            or self.unassigned
            or self.created_from
            or self.created_before
            or self.search
        )


@dataclass(frozen=True)
class TicketQuery:
    departments: tuple[Department, ...]
    filters: TicketFilters = field(default_factory=TicketFilters)
    sort: str = DEFAULT_SORT
    descending: bool = True

    def __post_init__(self) -> None:
        if self.sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {self.sort!r}")
        unknown = set(self.filters.statuses) - set(STATUS_ORDER)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)!r}")

    def reversed(self) -> TicketQuery:
        return replace(self, descending=not self.descending)


@dataclass(frozen=True, slots=True)
class TicketRow:
    department: Department
    id: int
    reference: str
    customer_name: str
    customer_email: str
    subject: str
    status: str
    priority: int
    assignee_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def status_label(self) -> str:
        return Status(self.status).label

    @property
    def priority_label(self) -> str:
        return Priority(self.priority).label


@dataclass(frozen=True)
class Cursor:
    """A position between two rows: the sort key of the row it follows (keyset pagination)."""

    sort: str
    descending: bool
    department: str  # slug
    id: int
    value: Any  # the row's sort-column value (None for department sort)

    @classmethod
    def for_row(cls, row: TicketRow, query: TicketQuery) -> Cursor:
        key = SORT_KEYS[query.sort]
        if key.kind == "status":
            value: Any = row.status
        elif key.column is None:
            value = None
        else:
            value = getattr(row, key.column)
        return cls(query.sort, query.descending, row.department.slug, row.id, value)

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps(
            [self.sort, int(self.descending), self.department, self.id, value],
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, query: TicketQuery) -> Cursor | None:
        """The cursor in ``token`` if it is well formed and belongs to ``query``'s order."""
        if not token or len(token) > 1200:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            sort, descending, slug, row_id, value = json.loads(raw)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
            return None  # RecursionError: a token of nothing but nested brackets
        if sort != query.sort or descending not in (0, 1) or bool(descending) != query.descending:
            return None
        if not isinstance(slug, str) or slug not in _department_ranks():
            return None
        if not isinstance(row_id, int) or isinstance(row_id, bool) or row_id < 0:
            return None
        try:
            row_id = _column_int("id", row_id)
            value = _parse_cursor_value(SORT_KEYS[sort], value)
        except (ValueError, TypeError, OverflowError):
            return None
        return cls(sort, bool(descending), slug, row_id, value)


def _parse_cursor_value(key: SortKey, value: Any) -> Any:
    """``value`` if its column can hold it; a token's value reaches the database as a parameter.

    Every database refuses a value its column type cannot hold (an integer past 64 bits, text
    that is not UTF-8), and some fail on it in the driver rather than with a DatabaseError.
    """
    kind = key.kind
    if kind == "datetime":
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime")
        # Stored and compared in UTC: 0001-01-01 east of UTC has no UTC time (OverflowError).
        return parsed.astimezone(UTC)
    if kind == "int" or (kind == "nullable_int" and value is not None):
        return _column_int(key.column, value)
    if kind == "nullable_int":
        return None
    if kind == "status":
        if value not in STATUS_ORDER:
            raise ValueError("unknown status")
        return value
    if kind == "department":
        return None
    if not isinstance(value, str) or len(value) > Ticket._meta.get_field(key.column).max_length:
        raise ValueError("not text")
    # Lone surrogates have no UTF-8 form; PostgreSQL text cannot hold NUL.
    value.encode()
    if "\x00" in value:
        raise ValueError("NUL in text")
    return value


def _column_int(column: str, value: Any) -> int:
    """``value`` if it is an integer the model field ``column`` holds on every backend."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("not an int")
    internal_type = Ticket._meta.get_field(column).get_internal_type()
    low, high = BaseDatabaseOperations.integer_field_ranges[internal_type]
    if not low <= value <= high:
        raise ValueError("out of the column's range")
    return value


@dataclass(frozen=True)
class Count:
    value: int  # exact, or a lower bound when not exact
    exact: bool


@dataclass
class Result:
    rows: list[TicketRow] = field(default_factory=list)
    count: Count | None = None
    unavailable: list[Department] = field(default_factory=list)
    has_more: bool = False  # more rows exist beyond ``rows`` in the direction read
    # Rows the databases stepped over to place a deep page (an upper bound; 0 for shallow pages).
    examined: int = 0


# --- Ranks: the stable order of departments and partitions ---------------------------------------


def _department_ranks() -> dict[str, int]:
    """Every configured department's tiebreak rank: by slug (unique and stable)."""
    return {d.slug: i for i, d in enumerate(sorted(all_departments(), key=lambda d: d.slug))}


def _department_label_ranks() -> dict[str, int]:
    ordered = sorted(all_departments(), key=lambda d: (d.label.casefold(), d.label, d.slug))
    return {d.slug: i for i, d in enumerate(ordered)}


@dataclass(frozen=True)
class _Partition:
    """A slice of one department's rows with a constant leading sort rank."""

    rank: int
    where: str = ""
    params: tuple = ()
    column: str | None = None  # the per-row sort column inside the partition, if any


def _partitions(query: TicketQuery, department: Department) -> list[_Partition]:
    key = SORT_KEYS[query.sort]
    if key.kind == "status":
        wanted = query.filters.statuses or STATUS_ORDER
        return [
            _Partition(rank, "status = %s", (status,))
            for rank, status in enumerate(STATUS_ORDER)
            if status in wanted
        ]
    if key.kind == "department":
        return [_Partition(_department_label_ranks()[department.slug])]
    if key.kind == "nullable_int":
        # Two arms, so each is a plain index range and NULLs need no backend-specific ordering.
        parts = []
        if not query.filters.assignee_id:
            parts.append(_Partition(0, f"{key.column} IS NULL"))
        if not query.filters.unassigned:
            parts.append(_Partition(1, f"{key.column} IS NOT NULL", column=key.column))
        return parts
    return [_Partition(0, column=key.column)]


def _cursor_rank(cursor: Cursor) -> tuple[int, Any, int, int]:
    """(partition rank, value, department rank, id) of a cursor, as rows are merged."""
    kind = SORT_KEYS[cursor.sort].kind
    department_rank = _department_ranks()[cursor.department]
    if kind == "status":
        return (STATUS_ORDER.index(cursor.value), None, department_rank, cursor.id)
    if kind == "department":
        return (_department_label_ranks()[cursor.department], None, department_rank, cursor.id)
    if kind == "nullable_int":
        return (0 if cursor.value is None else 1, cursor.value, department_rank, cursor.id)
    return (0, cursor.value, department_rank, cursor.id)


# --- SQL for one vendor --------------------------------------------------------------------------


class _Dialect:
    def __init__(self, vendor: str, ops, *, mariadb: bool = False):
        self.vendor = vendor
        self.ops = ops
        self.mariadb = mariadb

    def quote(self, name: str) -> str:
        return f"`{name}`" if self.vendor == "mysql" else f'"{name}"'

    def sort_expr(self, column: str, kind: str) -> str:
        # PostgreSQL compares text in the database collation; "C" (code point order) is what
        # Python compares too, so the k-way merge and the statement agree (indexes in 0003).
        if kind == "text" and self.vendor == "postgresql":
            return f'{column} COLLATE "C"'
        return column

    def contains(self, column: str) -> str:
        if self.vendor == "postgresql":
            return f"{column} ILIKE %s"
        if self.vendor == "sqlite":
            return f"{column} LIKE %s ESCAPE '\\'"
        return f"{column} LIKE %s"  # MySQL: case-insensitive collation, backslash escapes

    def adapt(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return self.ops.adapt_datetimefield_value(value)
        return value


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filter_sql(
    query: TicketQuery,
    department: Department,
    dialect: _Dialect,
    table_prefix: str = "",
    *,
    counting: bool = False,
) -> tuple[list[str], list[Any]] | None:
    """WHERE conditions shared by every arm of ``department``; None: no row can match.

    ``counting``: for a count, which must see every match rather than stop after a page.
    """
    f = query.filters
    conditions: list[str] = []
    params: list[Any] = []
    if f.statuses and SORT_KEYS[query.sort].kind != "status":
        conditions.append(f"status IN ({', '.join(['%s'] * len(f.statuses))})")
        params += f.statuses
    if f.priorities:
        conditions.append(f"priority IN ({', '.join(['%s'] * len(f.priorities))})")
        params += f.priorities
    if f.unassigned:
        conditions.append("assignee_id IS NULL")
    elif f.assignee_id is not None:
        conditions.append("assignee_id = %s")
        params.append(f.assignee_id)
    if f.created_from:
        conditions.append("created_at >= %s")
        params.append(dialect.adapt(f.created_from))
    if f.created_before:
        conditions.append("created_at < %s")
        params.append(dialect.adapt(f.created_before))
    search = f.search.strip()
    if search:
        shaped = search_shape(search)
        if shaped[0] == "reference":
            references = [r for r in shaped[1] if r.split("-", 1)[0] == department.code]
            if not references:
                return None
            conditions.append("reference = %s")
            params.append(references[0])
        elif shaped[0] == "email":
            conditions.append("customer_email IN (%s, %s)")
            params += [search, search.lower()]
        else:
            condition, values = _text_search_sql(
                search, department, dialect, table_prefix, counting=counting
            )
            conditions.append(condition)
            params += values
    return conditions, params


def _text_search_sql(
    search: str,
    department: Department,
    dialect: _Dialect,
    table_prefix: str,
    *,
    counting: bool = False,
) -> tuple[str, list[Any]]:
    """The free-text condition: through the department's search index where it can serve
    the term (tickets/search_index.py), else a substring scan of the four columns."""
    index = text_search_index(department)
    if dialect.vendor == "sqlite" and index == "fts5" and len(search) >= 3:
        # Trigram FTS5: a quoted phrase is a case-insensitive substring match (3+ chars).
        fts = dialect.quote(search_index.FTS_TABLE)
        phrase = '"' + search.replace('"', '""') + '"'
        # A count sees every match (up to its cap), so the scan pays off only for far more
        # matches than a page needs ('patel': 336 ms by scan, 53 ms from the index at 1M).
        many = _fts_many_matches(department, phrase, counting=counting)
        if not (many and search.isascii()):
            # Few matches: read them by rowid and sort them. Many: "+id" stops SQLite from
            # driving by rowid, so it walks the sort index and stops after a page (a term in
            # every email would otherwise fetch and sort the whole table).
            column = "+id" if many else "id"
            return (
                f"{column} IN (SELECT rowid FROM {table_prefix}{fts} WHERE {fts} MATCH %s)",
                [phrase],
            )
        # Many matches of an ASCII term: even "+id IN (...)" first collects every matching
        # rowid (965 ms for "example" at 1M tickets), while a LIKE walk of the sort index finds
        # a page after a few rows (24 ms). For ASCII both match the same rows: case-insensitive
        # substrings.
    if dialect.vendor == "mysql" and isinstance(index, int):
        boolean = _fulltext_query(search, index)
        if boolean:
            # Word-prefix semantics (documented): every word must start a word in one of
            # the columns. InnoDB FULLTEXT cannot do infix matches.
            columns = ", ".join(search_index.COLUMNS)
            return f"MATCH ({columns}) AGAINST (%s IN BOOLEAN MODE)", [boolean]
    pattern = _like_pattern(search)
    fields = search_index.COLUMNS
    return "(" + " OR ".join(dialect.contains(c) for c in fields) + ")", [pattern] * len(fields)


# InnoDB's default stopword list (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD): never indexed,
# so a prefix query on one of them would miss rows; such terms scan instead.
_INNODB_STOPWORDS = frozenset(
    (
        "a",
        "about",
        "an",
        "are",
        "as",
        "at",
        "be",
        "by",
        "com",
        "de",
        "en",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "la",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "who",
        "will",
        "with",
        "und",
        "www",
    )
)
_FULLTEXT_TEXT = re.compile(r"^[^\W_]+(?:\s+[^\W_]+)*$")


def _fulltext_query(search: str, min_token: int) -> str | None:
    """``+word* +word*`` for a search made only of indexable words, else None (scan)."""
    if not _FULLTEXT_TEXT.match(search):
        return None
    words = search.split()
    if any(len(w) < min_token or len(w) > 84 or w.lower() in _INNODB_STOPWORDS for w in words):
        return None
    return " ".join(f"+{w}*" for w in words)


_search_index_cache: dict[tuple, str | int | None] = {}
# Matches past which a page is found faster by walking the sort index than from the index.
FTS_MANY_MATCHES = 500
# Matches past which a (capped) count is found faster by scanning: dense enough that the scan
# reaches the cap early. Below it the count reads the matches from the index.
FTS_MANY_MATCHES_FOR_COUNT = 2 * COUNT_CAP


@functools.lru_cache(maxsize=512)
def _fts_probe(alias: str, name: str, phrase: str, at_least: int) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT rowid FROM {search_index.FTS_TABLE} "
            f"WHERE {search_index.FTS_TABLE} MATCH %s LIMIT %s)",
            [phrase, at_least],
        )
        return cursor.fetchone()[0] >= at_least


def _fts_many_matches(department: Department, phrase: str, *, counting: bool = False) -> bool:
    """Whether ``phrase`` matches many rows of ``department`` (a LIMITed FTS read, ~1 ms for a
    page, more for a count; remembered per term: a stale answer only picks the slower plan,
    never other rows)."""
    name = str(connections.settings[department.alias].get("NAME"))
    at_least = FTS_MANY_MATCHES_FOR_COUNT if counting else FTS_MANY_MATCHES
    return _fts_probe(department.alias, name, phrase, at_least)


def text_search_index(department: Department) -> str | int | None:
    """Which search index ``department`` has: "fts5" (SQLite), the FULLTEXT minimum token
    size (MariaDB), "trigram" (PostgreSQL) or None. Looked up once per database."""
    config = connections.settings[department.alias]
    key = (department.alias, str(config.get("NAME")), postgres_schema(config) or "")
    if key in _search_index_cache:
        return _search_index_cache[key]
    connection = connections[department.alias]
    found: str | int | None = None
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s",
                [search_index.FTS_TABLE],
            )
            found = "fts5" if cursor.fetchone() else None
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT @@innodb_ft_min_token_size FROM information_schema.statistics "
                "WHERE table_schema = DATABASE() AND table_name = %s AND index_name = %s",
                [search_index.TABLE, search_index.FULLTEXT_INDEX],
            )
            row = cursor.fetchone()
            found = int(row[0]) if row else None
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s",
                [next(iter(search_index.TRIGRAM_INDEXES))],
            )
            found = "trigram" if cursor.fetchone() else None
    _search_index_cache[key] = found
    return found


def search_shape(text: str) -> tuple[str, list[str]]:
    """How a search box text is matched: ("reference", [refs]), ("email", []) or ("text", [])."""
    from tickets.references import InvalidReference, normalize_reference

    compact = re.sub(r"\s+", "", text).upper()
    try:
        reference = normalize_reference(compact)
    except InvalidReference:
        pass
    else:
        # Only a known department code makes it a reference: "printer jam" squeezes into the
        # reference shape (PRIN-TERJAM) but is text.
        if reference.split("-", 1)[0] in {d.code for d in all_departments()}:
            return "reference", [reference]
    if _REFERENCE_BODY.match(compact):
        # A reference typed without its department code: try it in every department.
        return "reference", [f"{d.code}-{compact}" for d in all_departments()]
    if _EMAIL_SHAPE.match(text.strip()):
        return "email", []
    return "text", []


@dataclass(frozen=True)
class _Arm:
    department: Department
    partition: _Partition
    department_rank: int


def _keyset_sql(
    arm: _Arm, cursor_key: tuple, descending: bool, dialect: _Dialect, kind: str
) -> tuple[str | None, list[Any]] | None:
    """Condition for rows of ``arm`` strictly after ``cursor_key``; None: the arm has none.

    The arm's partition rank and department rank are constants, so the tuple comparison
    (rank, value, department, id) > cursor reduces to a plain index range on (value, id).
    """
    c_rank, c_value, c_department, c_id = cursor_key
    after = (lambda a, b: a < b) if descending else (lambda a, b: a > b)
    gt = "<" if descending else ">"
    p = arm.partition
    if p.rank != c_rank:
        return ("", []) if after(p.rank, c_rank) else None
    if p.column is None:
        if arm.department_rank == c_department:
            return f"id {gt} %s", [c_id]
        return ("", []) if after(arm.department_rank, c_department) else None
    column = dialect.sort_expr(p.column, kind)
    value = dialect.adapt(c_value)
    if arm.department_rank == c_department:
        return f"({column} {gt} %s OR ({column} = %s AND id {gt} %s))", [value, value, c_id]
    if after(arm.department_rank, c_department):
        return f"{column} {gt}= %s", [value]
    return f"{column} {gt} %s", [value]


def _arm_sql(
    arm: _Arm,
    query: TicketQuery,
    dialect: _Dialect,
    table_prefix: str,
    limit: int,
    cursor_key: tuple | None,
    with_weight: bool,
    narrow: bool = False,
    offset: int = 0,
) -> tuple[str, list[Any]] | None:
    base = _filter_sql(query, arm.department, dialect, table_prefix)
    if base is None:
        return None
    conditions, params = list(base[0]), list(base[1])
    key = SORT_KEYS[query.sort]
    if arm.partition.where:
        conditions.append(arm.partition.where)
        params += arm.partition.params
    if cursor_key is not None:
        seek = _keyset_sql(arm, cursor_key, query.descending, dialect, key.kind)
        if seek is None:
            return None
        if seek[0]:
            conditions.append(seek[0])
            params += seek[1]
    direction = "DESC" if query.descending else "ASC"
    order = []
    if arm.partition.column:
        order.append(f"{dialect.sort_expr(arm.partition.column, key.kind)} {direction}")
    if not (key.unique and arm.partition.column):
        order.append(f"id {direction}")
    columns = ", ".join(SELECT_COLUMNS)
    if narrow:
        # Only what locates a row (an index-only scan where the index covers it).
        sort_column = key.column if key.column and key.column != "id" else None
        columns = "id" + (f", {sort_column}" if sort_column else "")
    weight = ""
    if with_weight:
        weight = f", WEIGHT_STRING({arm.partition.column}) AS w" if arm.partition.column else ""
        weight = weight or ", NULL AS w"
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = (
        f"SELECT {arm.partition.rank} AS p, {arm.department_rank} AS d, {columns}{weight} "
        f"FROM {table_prefix}{dialect.quote(TICKET_TABLE)}{where} "
        f"ORDER BY {', '.join(order)} LIMIT %s"
    )
    if offset:
        return f"{sql} OFFSET %s", [*params, limit, offset]
    return sql, [*params, limit]


def _range_count_sql(
    arm: _Arm,
    query: TicketQuery,
    dialect: _Dialect,
    table_prefix: str,
    after_key: tuple | None,
    before_key: tuple | None,
    cap: int,
) -> tuple[str, list[Any]] | None:
    """Count (capped) the arm's rows strictly between two keys in query order; None: zero.

    Both bounds are keyset conditions on the sort index, so the count is an index range scan
    over exactly the rows it counts.
    """
    base = _filter_sql(query, arm.department, dialect, table_prefix)
    if base is None:
        return None
    conditions, params = list(base[0]), list(base[1])
    if arm.partition.where:
        conditions.append(arm.partition.where)
        params += arm.partition.params
    kind = SORT_KEYS[query.sort].kind
    for bound, descending in ((after_key, query.descending), (before_key, not query.descending)):
        if bound is None:
            continue
        seek = _keyset_sql(arm, bound, descending, dialect, kind)
        if seek is None:
            return None
        if seek[0]:
            conditions.append(seek[0])
            params += seek[1]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = (
        f"SELECT {arm.partition.rank} AS p, {arm.department_rank} AS d, COUNT(*) AS c "
        f"FROM (SELECT 1 AS one FROM {table_prefix}{dialect.quote(TICKET_TABLE)}{where} "
        f"LIMIT %s) x"
    )
    return sql, [*params, cap]


def _count_table_where(f: TicketFilters) -> tuple[str, list[Any]]:
    """The WHERE clause of a read of the maintained (status, priority) counts."""
    conditions, params = [], []
    if f.statuses:
        conditions.append(f"status IN ({', '.join(['%s'] * len(f.statuses))})")
        params += f.statuses
    if f.priorities:
        conditions.append(f"priority IN ({', '.join(['%s'] * len(f.priorities))})")
        params += f.priorities
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), params


def _count_sql(
    query: TicketQuery, department: Department, dialect: _Dialect, table_prefix: str
) -> tuple[str, list[Any], bool] | None:
    """One department's count: (sql, params, exact). Exact counts read TicketCount."""
    f = query.filters
    if f.countable:
        where, params = _count_table_where(f)
        sql = (
            f"SELECT COALESCE(SUM({dialect.quote('count')}), 0) AS c "
            f"FROM {table_prefix}{dialect.quote(COUNT_TABLE)}{where}"
        )
        return sql, params, True
    base = _filter_sql(
        replace(query, sort=DEFAULT_SORT), department, dialect, table_prefix, counting=True
    )
    if base is None:
        return None
    conditions, params = base
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = (
        f"SELECT COUNT(*) AS c FROM (SELECT 1 AS one FROM {table_prefix}"
        f"{dialect.quote(TICKET_TABLE)}{where} LIMIT %s) capped"
    )
    return sql, [*params, COUNT_CAP + 1], False


# --- Which departments one statement can reach ---------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """Departments one statement on one connection can read."""

    vendor: str
    departments: tuple[Department, ...]
    alias: str  # the Django connection the statement runs on (unused for SQLite)
    prefixes: tuple[str, ...]  # table qualifier per department, e.g. '"d0".' or '`db`.'
    sqlite_files: tuple[str, ...] = ()

    def split(self) -> list[_Group]:
        return [
            _Group(
                self.vendor,
                (d,),
                d.alias if self.vendor != "sqlite" else self.alias,
                (self._single_prefix(i),),
                (self.sqlite_files[i],) if self.sqlite_files else (),
            )
            for i, d in enumerate(self.departments)
        ]

    def _single_prefix(self, index: int) -> str:
        if self.vendor == "sqlite":
            return '"d0".'
        if self.vendor == "mysql":
            return ""  # on its own connection, its own database is the default
        return self.prefixes[index]


def _server_key(config: dict[str, Any]) -> tuple:
    host = config.get("HOST") or "localhost"
    if host in {"127.0.0.1", "::1"}:
        host = "localhost"
    return (str(host), str(config.get("PORT") or ""), str(config.get("USER") or ""))


def plan_groups(
    departments: Sequence[Department], *, single_statement: bool = True
) -> list[_Group]:
    """Group departments by what one statement can reach (see the module docstring)."""
    groups: list[_Group] = []
    pending: dict[tuple, list[Department]] = {}
    for department in departments:
        config = connections.settings[department.alias]
        vendor = connections[department.alias].vendor
        if not single_statement:
            key: tuple = ("alone", department.alias)
        elif vendor == "sqlite":
            key = ("sqlite",)
        elif vendor == "mysql":
            key = ("mysql", *_server_key(config))
        elif vendor == "postgresql":
            schema = postgres_schema(config)
            key = ("pg", *_server_key(config), config["NAME"]) if schema else ("alone", department)
        else:
            key = ("alone", department.alias)
        pending.setdefault(key, []).append(department)
    for key, members in pending.items():
        vendor = connections[members[0].alias].vendor
        if vendor == "sqlite":
            limit = _sqlite_attach_limit()
            for start in range(0, len(members), limit):
                chunk = members[start : start + limit]
                groups.append(
                    _Group(
                        "sqlite",
                        tuple(chunk),
                        chunk[0].alias,
                        tuple(f'"d{i}".' for i in range(len(chunk))),
                        tuple(connections.settings[d.alias]["NAME"] for d in chunk),
                    )
                )
        elif vendor == "mysql" and key[0] == "mysql":
            q = connections[members[0].alias].ops.quote_name
            prefixes = tuple(f"{q(connections.settings[d.alias]['NAME'])}." for d in members)
            groups.append(_Group("mysql", tuple(members), members[0].alias, prefixes))
        elif vendor == "postgresql" and key[0] == "pg":
            q = connections[members[0].alias].ops.quote_name
            prefixes = tuple(
                f"{q(postgres_schema(connections.settings[d.alias]))}." for d in members
            )
            groups.append(_Group("postgresql", tuple(members), members[0].alias, prefixes))
        else:
            for d in members:
                groups.append(_Group(vendor, (d,), d.alias, ("",)))
    return groups


@functools.cache
def _sqlite_attach_limit() -> int:
    probe = sqlite3.connect(":memory:")
    try:
        return max(1, probe.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED))
    finally:
        probe.close()


# --- Running statements on worker threads --------------------------------------------------------


def department_timeout() -> float:
    return float(getattr(settings, "DASHBOARD_DEPARTMENT_TIMEOUT", 2.0))


class _WorkerPool:
    """Threads that keep their own database connections between tasks.

    Every dashboard read runs here, so the request thread never blocks on a slow department
    beyond the timeout and each worker's connections carry the statement timeout.
    """

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


class _ServerConnections:
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


_pool = _WorkerPool(int(getattr(settings, "DASHBOARD_WORKERS", 8)))
_servers = _ServerConnections(keep=int(getattr(settings, "DASHBOARD_IDLE_CONNECTIONS", 2)))
_local = threading.local()


def shutdown_workers() -> None:
    """Close the worker threads and their connections (tests call this before dropping DBs)."""
    _pool.shutdown()
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


class _Runner:
    """Executes statements for one group on this worker thread's connection."""

    def __init__(self, group: _Group, timeout: float):
        self.group = group
        self.timeout = timeout
        if group.vendor == "sqlite":
            self.conn = _sqlite_connection(group.sqlite_files)
            ops = connections[group.alias].ops
            self.dialect = _Dialect("sqlite", ops)
        else:
            self.django = _servers.borrow(group.alias)
            try:
                self.django.ensure_connection()
            except DatabaseError:
                _servers.give_back(group.alias, self.django, broken=True)
                raise
            self._configure_timeout()
            self.dialect = _Dialect(
                group.vendor,
                self.django.ops,
                mariadb=getattr(self.django, "mysql_is_mariadb", False),
            )

    def _configure_timeout(self) -> None:
        raw = self.django.connection
        if getattr(self.django, "_dashboard_timeout_for", None) is raw:
            return
        with self.django.cursor() as cursor:
            if self.group.vendor == "postgresql":
                cursor.execute("SET statement_timeout = %s", [int(self.timeout * 1000)])
            elif self.group.vendor == "mysql":
                if getattr(self.django, "mysql_is_mariadb", False):
                    cursor.execute("SET SESSION max_statement_time = %s", [self.timeout])
                else:
                    cursor.execute(
                        "SET SESSION max_execution_time = %s", [int(self.timeout * 1000)]
                    )
        self.django._dashboard_timeout_for = raw

    def fetch(self, sql: str, params: list[Any]) -> list[tuple]:
        if self.group.vendor == "sqlite":
            deadline = time.monotonic() + self.timeout
            self.conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            try:
                return self.conn.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                self.conn.set_progress_handler(None, 0)
        with self.django.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def release(self, *, broken: bool = False) -> None:
        """Return the connection; after an error it is dropped and the next read reconnects."""
        if self.group.vendor == "sqlite":
            if broken:
                _drop_sqlite_connection(self.group.sqlite_files)
        else:
            _servers.give_back(self.group.alias, self.django, broken=broken)


# --- The engine --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    """What to read from every group: a count and/or the top ``limit`` rows after a cursor."""

    query: TicketQuery
    limit: int  # rows per group (offset + page size + 1)
    offset: int
    cursor_key: tuple | None
    want_rows: bool
    want_count: bool
    merge: bool  # results of several groups are merged in Python
    narrow: bool = False  # rows carry only (p, d, id, sort value): to find a deep position


@dataclass
class _Outcome:
    counts: list[tuple[int, bool]]
    rows: list[tuple]
    merged: bool  # rows are the top ``limit`` of this group, to be merged and offset in Python
    weighted: bool  # rows end in a MariaDB collation weight of the sort value


def _run_group(group: _Group, read: _Read, arm_numbers: dict[str, int]) -> _Outcome:
    """In a worker: (count rows, page rows) for one group, as one statement each."""
    return _on_group(group, lambda runner: _run_statements(runner, group, read, arm_numbers))


def _on_group(group: _Group, work: Callable[[_Runner], Any]) -> Any:
    """In a worker: ``work`` on a runner for ``group``; driver errors become DatabaseError."""
    timeout = department_timeout()
    try:
        runner = _Runner(group, timeout)
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


def _run_statements(runner: _Runner, group: _Group, read: _Read, arm_numbers) -> _Outcome:
    dialect = runner.dialect
    counts: list[tuple[int, bool]] = []
    count_sql, count_params = "", []
    exact = read.query.filters.countable
    if read.want_count:
        parts = []
        for department, prefix in zip(group.departments, group.prefixes, strict=True):
            built = _count_sql(read.query, department, dialect, prefix)
            if built is None:
                continue
            parts.append(f"SELECT * FROM ({built[0]}) c{len(parts)}")
            count_params += built[1]
        count_sql = " UNION ALL ".join(parts)
    # On a database server, the maintained counts ride along with the page as one more column:
    # one round trip per group instead of two. (Capped counts stay apart: they can be costly
    # and their cap applies per department.)
    fold = bool(count_sql) and exact and read.want_rows and dialect.vendor != "sqlite"
    if count_sql and not fold:
        found = runner.fetch(count_sql, count_params)
        counts = [(int(row[0]), exact) for row in found]
    rows: list[tuple] = []
    if read.want_rows:
        key = SORT_KEYS[read.query.sort]
        with_weight = (
            read.merge and dialect.vendor == "mysql" and key.kind == "text" and dialect.mariadb
        )
        parts, params = [], []
        for department, prefix in zip(group.departments, group.prefixes, strict=True):
            for partition in _partitions(read.query, department):
                arm = _Arm(department, partition, arm_numbers[department.slug])
                built = _arm_sql(
                    arm,
                    read.query,
                    dialect,
                    prefix,
                    read.limit,
                    read.cursor_key,
                    with_weight,
                    narrow=read.narrow,
                )
                if built is None:
                    continue
                parts.append(f"SELECT * FROM ({built[0]}) a{len(parts)}")
                params += built[1]
        if parts:
            direction = "DESC" if read.query.descending else "ASC"
            order = []
            if key.kind in {"status", "department", "nullable_int"}:
                order.append(f"p {direction}")
            if key.column:
                order.append(f"{dialect.sort_expr(key.column, key.kind)} {direction}")
            order += [f"d {direction}", f"id {direction}"]
            sql = " UNION ALL ".join(parts)
            total = ""
            if fold:
                total = f", (SELECT SUM(c) FROM ({count_sql}) t) AS total"
                params = count_params + params
            if len(parts) > 1 or (read.offset and not read.merge) or fold:
                # Wrapped: PostgreSQL orders a bare UNION only by plain column names.
                sql = f"SELECT u.*{total} FROM ({sql}) u ORDER BY {', '.join(order)} LIMIT %s"
                if read.merge:
                    params.append(read.limit)
                else:
                    sql += " OFFSET %s"
                    params += [read.limit - read.offset, read.offset]
            rows = runner.fetch(sql, params)
            if fold and rows:
                counts = [(int(rows[0][-1]), True)]
                rows = [row[:-1] for row in rows]
        if fold and not rows:
            if read.cursor_key is None and (read.merge or not read.offset):
                # Read from the very first row and nothing matched: the maintained count,
                # which answers exactly these filters in the same snapshot, is zero too.
                counts = [(0, True)]
            else:
                # Nothing after this position: the count still has to come from somewhere.
                found = runner.fetch(count_sql, count_params)
                counts = [(int(row[0]), exact) for row in found]
    weighted = read.merge and dialect.vendor == "mysql" and dialect.mariadb
    weighted = weighted and SORT_KEYS[read.query.sort].kind == "text"
    return _Outcome(counts, rows, read.merge, weighted)


def _key_index(query: TicketQuery) -> int | None:
    column = SORT_KEYS[query.sort].column
    return None if column is None else 2 + SELECT_COLUMNS.index(column)


def run(
    query: TicketQuery,
    *,
    limit: int = 0,
    offset: int = 0,
    after: Cursor | None = None,
    count: bool = False,
    single_statement: bool | None = None,
) -> Result:
    """Count and/or read ``limit`` rows of ``query``, skipping ``offset`` rows or after ``after``.

    Rows come in query order; ``has_more`` says whether another row follows them.
    """
    if single_statement is None:
        single_statement = getattr(settings, "DASHBOARD_SINGLE_STATEMENT", True)
    if after is not None and (after.sort != query.sort or after.descending != query.descending):
        raise ValueError("cursor belongs to another order")
    result = Result()
    departments = list(query.departments)
    if not departments:
        result.count = Count(0, True) if count else None
        return result
    ranks = _department_ranks()
    arm_numbers = {d.slug: ranks[d.slug] for d in departments}
    groups = plan_groups(departments, single_statement=single_statement)
    want_rows = limit > 0
    read = _Read(
        query=query,
        limit=offset + limit + 1 if want_rows else 0,
        offset=offset,
        cursor_key=_cursor_rank(after) if after is not None else None,
        want_rows=want_rows,
        want_count=count,
        merge=len(groups) > 1,
    )
    if want_rows and after is None and offset > DEEP_OFFSET:
        # A deep page: find the row just before it from narrow (index-only) rows, then read
        # the page after it by keyset, so full rows are fetched for one page only.
        located = _locate(query, offset - 1, groups, arm_numbers, result, count=count)
        if located is not None:
            page = run(query, limit=limit, after=located, single_statement=single_statement)
            result.rows, result.has_more = page.rows, page.has_more
            for department in page.unavailable:
                if department not in result.unavailable:
                    result.unavailable.append(department)
        return result
    outcomes = _run_groups(groups, read, arm_numbers, result)
    _add_counts(result, outcomes, count)
    if want_rows:
        merged = any(outcome.merged for outcome in outcomes)
        stream = _merge(query, [o for o in outcomes if o.rows]) if merged else None
        if stream is None:
            page = outcomes[0].rows if outcomes else []
        else:
            page = list(itertools.islice(stream, offset, offset + limit + 1))
        result.has_more = len(page) > limit
        by_rank = {ranks[d.slug]: d for d in departments}
        result.rows = [_to_row(raw, by_rank) for raw in page[:limit]]
    return result


def _add_counts(result: Result, outcomes: list[_Outcome], count: bool) -> None:
    if count:
        total, exact = 0, True
        for outcome in outcomes:
            for value, is_exact in outcome.counts:
                total += value
                exact = exact and (is_exact or value <= COUNT_CAP)
        result.count = Count(total, exact)


def _locate(
    query: TicketQuery,
    position: int,
    groups: list[_Group],
    arm_numbers: dict[str, int],
    result: Result,
    *,
    count: bool,
) -> Cursor | None:
    """The cursor of the row at ``position`` (0-based) in query order.

    Reading ``position`` rows from every department and merging them would step over
    departments x position rows. Instead, rounds of probes narrow the position down: each
    stream (one department's arm) is asked only for its row at an offset proportional to its
    share, the earliest of those rows (the pivot) is placed exactly by counting the few rows of
    the other streams between the pivot and their own probe, and the search continues after the
    pivot. The shares add up to the remaining distance, so a round steps over about that many
    rows; when departments interleave evenly a round or two leaves a few rows, and a stream that
    ran ahead gets a smaller share in the next round. The last few hundred rows are merged exactly.
    """
    if count:
        counted = _run_groups(groups, _count_read(query, groups), arm_numbers, result)
        _add_counts(result, counted, count)
        if result.unavailable:
            groups = _without(groups, result.unavailable)
    if len(_streams(query, groups, arm_numbers)) > 1:
        found = _locate_in_disjoint_streams(query, position, groups, arm_numbers, result)
        if found is not _OVERLAP:
            return found
        if result.unavailable:
            groups = _without(groups, result.unavailable)
    cursor_key: tuple | None = None
    need = position
    weights = dict.fromkeys(_streams(query, groups, arm_numbers), 1)
    # Per stream, a row already found after the cursor and how many of its rows lie between:
    # the next probe steps from whichever of the cursor and that row is nearer.
    known: dict[tuple, tuple[tuple, int]] = {}
    while len(weights) > 1 and need > EXACT_TAIL:
        shares = _shares(need + 1, weights)
        plans = {
            stream: _probe_plan(share - 1, cursor_key, known.get(stream), query, arm_numbers)
            for stream, share in shares.items()
        }
        heads, probes = _probe_round(query, groups, arm_numbers, result, cursor_key, plans)
        result.examined += len(plans) + sum(plan[2] for plan in plans.values())
        if result.unavailable:
            groups = _without(groups, result.unavailable)
        if not probes:
            return None  # every stream has fewer rows than its share: the position is past the end
        order_key = _row_key(query, narrow=True, weighted=_weighted(query, groups))
        first = (max if query.descending else min)(probes.values(), key=order_key)
        pivot = _narrow_cursor(first, query, arm_numbers)
        pivot_key = _cursor_rank(pivot)

        pivot_order = order_key(first)
        precedes = operator.gt if query.descending else operator.lt
        # Rows of each stream before the pivot: none if its first row comes after the pivot;
        # otherwise counted on the side the pivot is nearer to. A stream's probe is at or after
        # the pivot, so rows before the pivot are share - 1 minus those between the two.
        before: dict[tuple, int] = {}
        bounds: dict[tuple, tuple[tuple | None, tuple | None]] = {}
        from_probe: set[tuple] = set()  # streams counted between the pivot and their probe
        for stream, share in shares.items():
            head, probe = heads.get(stream), probes.get(stream)
            if probe is first:
                before[stream] = share - 1
            elif head is None or not precedes(order_key(head), pivot_order):
                before[stream] = 0
            elif probe is not None and _nearer_to_probe(query, head, first, probe, order_key):
                probe_key = _cursor_rank(_narrow_cursor(probe, query, arm_numbers))
                bounds[stream] = (pivot_key, probe_key)
                from_probe.add(stream)
            else:
                bounds[stream] = (cursor_key, pivot_key)
        counted = _count_round(query, groups, arm_numbers, result, bounds, shares)
        if result.unavailable:
            groups = _without(groups, result.unavailable)
        for stream in bounds:
            found = counted.get(stream, 0)
            before[stream] = shares[stream] - 1 - found if stream in from_probe else found
        result.examined += sum(counted.values())
        ahead = sum(before.values())
        if ahead == need:
            return pivot
        if ahead > need:
            break  # rows were written between the statements: finish exactly from here
        cursor_key, need = pivot_key, need - ahead - 1
        known = {
            stream: (row, shares[stream] - 1 - before[stream])
            for stream, row in probes.items()
            if row is not first
        }
        # A stream's share of the rows it just contributed predicts its share of the rest.
        live = _streams(query, groups, arm_numbers)
        weights = {stream: before[stream] + 1 for stream in shares if stream in live}
    return _locate_exactly(query, need, groups, arm_numbers, result, cursor_key)


_OVERLAP = object()


def _locate_in_disjoint_streams(
    query: TicketQuery,
    position: int,
    groups: list[_Group],
    arm_numbers: dict[str, int],
    result: Result,
) -> Cursor | object | None:
    """The position when streams do not interleave at all, else ``_OVERLAP``.

    Sorting by status or department makes every (status, department) stream a block of its
    own, and references start with the department code, so each department's references form
    one block too. Then each stream's first and last rows show the order of the blocks, the
    maintained counts (or counts capped at the position) give their sizes, and one probe in the
    block holding the position finds it, from whichever end of the block is nearer.
    """
    ends = _ends_round(query, groups, arm_numbers, result)
    result.examined += 2 * len(ends)
    if not ends:
        return None
    order_key = _row_key(query, narrow=True, weighted=_weighted(query, groups))
    blocks = sorted(ends, key=lambda s: order_key(ends[s][0]), reverse=query.descending)
    for earlier, later in itertools.pairwise(blocks):
        last, first = order_key(ends[earlier][1]), order_key(ends[later][0])
        if (last > first) if not query.descending else (last < first):
            return _OVERLAP
    sizes = _exact_stream_sizes(query, groups, arm_numbers, result)
    remaining = position
    for stream in blocks:
        if sizes is not None:
            size = sizes.get(stream, 0)
        else:
            counted = _count_round(
                query,
                [_group_of(groups, stream, arm_numbers)],
                arm_numbers,
                result,
                {stream: (None, None)},
                {stream: remaining + 1},
            )
            size = counted.get(stream, 0)
            result.examined += size
        if remaining >= size:
            remaining -= size
            continue
        # In this block: step from its nearer end (the last row read in reverse order), which
        # is known only when the size is exact rather than capped.
        from_end = size - 1 - remaining
        plan: tuple[str, Any, int] = ("forward", None, remaining)
        if sizes is not None and from_end < remaining:
            plan = ("back", None, from_end)
        result.examined += plan[2] + 1
        row = _probe_one(query, groups, arm_numbers, result, stream, plan)
        return None if row is None else _narrow_cursor(row, query, arm_numbers)
    return None


def _ends_round(
    query: TicketQuery, groups: list[_Group], arm_numbers: dict[str, int], result: Result
) -> dict[tuple, tuple[tuple, tuple]]:
    """Each non-empty stream's first and last row in query order."""
    weighted = _weighted(query, groups)

    def work(group: _Group, runner: _Runner) -> list[tuple]:
        parts, params = [], []
        for arm, prefix in _arms_of(group, query, arm_numbers):
            for which, order in ((0, query), (1, query.reversed())):
                built = _arm_sql(arm, order, runner.dialect, prefix, 1, None, weighted, True)
                if built is not None:
                    alias = f"a{len(parts)}"
                    parts.append(f"SELECT {which} AS which, {alias}.* FROM ({built[0]}) {alias}")
                    params += built[1]
        return runner.fetch(" UNION ALL ".join(parts), params) if parts else []

    firsts: dict[tuple, tuple] = {}
    lasts: dict[tuple, tuple] = {}
    for row in _each_group(groups, work, result):
        (lasts if row[0] else firsts)[(row[1], row[2])] = tuple(row[1:])
    return {stream: (firsts[stream], lasts[stream]) for stream in firsts if stream in lasts}


def _exact_stream_sizes(
    query: TicketQuery, groups: list[_Group], arm_numbers: dict[str, int], result: Result
) -> dict[tuple, int] | None:
    """Every stream's size from the maintained counts, or None where they cannot say."""
    kind = SORT_KEYS[query.sort].kind
    if not query.filters.countable or kind == "nullable_int":
        return None
    f = query.filters

    def work(group: _Group, runner: _Runner) -> list[tuple]:
        dialect = runner.dialect
        parts, params = [], []
        where, values = _count_table_where(f)
        for department, prefix in zip(group.departments, group.prefixes, strict=True):
            parts.append(
                f"SELECT {arm_numbers[department.slug]} AS d, status, "
                f"SUM({dialect.quote('count')}) AS c "
                f"FROM {prefix}{dialect.quote(COUNT_TABLE)}{where} GROUP BY status"
            )
            params += values
        return runner.fetch(" UNION ALL ".join(parts), params) if parts else []

    by_rank = {rank: slug for slug, rank in arm_numbers.items()}
    departments = {d.slug: d for g in groups for d in g.departments}
    sizes: dict[tuple, int] = {}
    for d, status, c in _each_group(groups, work, result):
        department = departments[by_rank[d]]
        if kind == "status":
            stream = (STATUS_ORDER.index(status), d)
        else:
            stream = (_partitions(query, department)[0].rank, d)
        sizes[stream] = sizes.get(stream, 0) + int(c or 0)
    return sizes


def _probe_one(
    query: TicketQuery,
    groups: list[_Group],
    arm_numbers: dict[str, int],
    result: Result,
    stream: tuple,
    plan: tuple[str, Any, int],
) -> tuple | None:
    """One stream's row by a probe plan (see ``_probe_plan``), from its group alone."""
    group = _group_of(groups, stream, arm_numbers)
    _heads, probes = _probe_round(query, [group], arm_numbers, result, None, {stream: plan})
    return probes.get(stream)


def _group_of(groups: list[_Group], stream: tuple, arm_numbers: dict[str, int]) -> _Group:
    """The group that reads ``stream`` (a (partition rank, department rank) pair)."""
    return next(g for g in groups if any(arm_numbers[d.slug] == stream[1] for d in g.departments))


def _streams(query: TicketQuery, groups: list[_Group], arm_numbers: dict[str, int]) -> set:
    """Every (partition rank, department rank) the groups read: one sorted stream each."""
    return {
        (partition.rank, arm_numbers[department.slug])
        for group in groups
        for department in group.departments
        for partition in _partitions(query, department)
    }


def _count_read(query: TicketQuery, groups: list[_Group]) -> _Read:
    return _Read(query, 0, 0, None, False, True, len(groups) > 1)


def _without(groups: list[_Group], gone: list[Department]) -> list[_Group]:
    """The groups again with the departments that failed left out."""
    kept = [d for g in groups for d in g.departments if d not in gone]
    single = all(len(g.departments) == 1 for g in groups) and len(groups) > 1
    return plan_groups(kept, single_statement=not single) if kept else []


def _weighted(query: TicketQuery, groups: list[_Group]) -> bool:
    """Whether rows carry MariaDB sort weights (text sorts, where collation != Python order)."""
    if SORT_KEYS[query.sort].kind != "text" or not groups:
        return False
    conn = connections[groups[0].alias]
    return conn.vendor == "mysql" and bool(getattr(conn, "mysql_is_mariadb", False))


def _shares(total: int, weights: dict[tuple, int]) -> dict[tuple, int]:
    """Split ``total`` rows over streams by weight: each at least 1, together exactly ``total``
    (or one per stream when there are more streams than rows)."""
    whole = sum(weights.values())
    shares = {s: max(1, total * w // whole) for s, w in weights.items()}
    short = total - sum(shares.values())
    if short > 0:
        heaviest = max(weights, key=weights.__getitem__)
        shares[heaviest] += short
    return shares


def _arms_of(group: _Group, query: TicketQuery, arm_numbers: dict[str, int]):
    for department, prefix in zip(group.departments, group.prefixes, strict=True):
        for partition in _partitions(query, department):
            yield _Arm(department, partition, arm_numbers[department.slug]), prefix


def _each_group(
    groups: list[_Group], work: Callable[[_Group, _Runner], list[tuple]], result: Result
) -> list[tuple]:
    """``work`` on every group concurrently; rows of the groups that answered.

    A failed group of several departments is retried one department at a time, as reads are.
    """
    deadline = time.monotonic() + department_timeout() + 0.5
    pending = list(groups)
    rows: list[tuple] = []
    for attempt in range(2):
        futures = [
            (g, _pool.submit(lambda g=g: _on_group(g, lambda runner, g=g: work(g, runner))))
            for g in pending
        ]
        pending = []
        for group, future in futures:
            try:
                rows += future.result(timeout=max(0.0, deadline - time.monotonic()))
                continue
            except FutureTimeout:
                reason: Any = "timed out"
            except DatabaseError as exc:
                reason = exc
            if attempt == 0 and len(group.departments) > 1:
                pending += group.split()
            else:
                _unavailable(result, group.departments, reason)
        if not pending:
            break
    return rows


def _probe_plan(
    offset: int,
    cursor_key: tuple | None,
    known: tuple[tuple, int] | None,
    query: TicketQuery,
    arm_numbers: dict[str, int],
) -> tuple[str, Any, int]:
    """How to read a stream's row at ``offset`` after the cursor: (how, from, rows skipped).

    ``known`` is a row of the stream already found after the cursor with the number of its rows
    in between; stepping forward or back from it is cheaper when the offset is near it.
    """
    if known is not None:
        row, rank = known
        if offset == rank:
            return ("have", row, 0)
        key = _cursor_rank(_narrow_cursor(row, query, arm_numbers))
        if offset > rank and offset - rank < offset:
            return ("forward", key, offset - rank - 1)
        if offset < rank and rank - offset < offset:
            return ("back", key, rank - offset - 1)
    return ("forward", cursor_key, offset)


def _probe_round(
    query: TicketQuery,
    groups: list[_Group],
    arm_numbers: dict[str, int],
    result: Result,
    cursor_key: tuple | None,
    plans: dict[tuple, tuple[str, Any, int]],
) -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    """Each stream's first row after the cursor and the row its plan points at."""
    weighted = _weighted(query, groups)

    def work(group: _Group, runner: _Runner) -> list[tuple]:
        parts, params = [], []
        for arm, prefix in _arms_of(group, query, arm_numbers):
            stream = (arm.partition.rank, arm.department_rank)
            if stream not in plans:
                continue
            how, start, offset = plans[stream]
            reads = [(0, query, cursor_key, 0)]
            if how != "have":
                reads.append((1, query.reversed() if how == "back" else query, start, offset))
            for which, order, after, skip in reads:
                built = _arm_sql(arm, order, runner.dialect, prefix, 1, after, weighted, True, skip)
                if built is not None:
                    alias = f"a{len(parts)}"
                    parts.append(f"SELECT {which} AS which, {alias}.* FROM ({built[0]}) {alias}")
                    params += built[1]
        return runner.fetch(" UNION ALL ".join(parts), params) if parts else []

    heads: dict[tuple, tuple] = {}
    probes: dict[tuple, tuple] = {
        stream: plan[1] for stream, plan in plans.items() if plan[0] == "have"
    }
    for row in _each_group(groups, work, result):
        (probes if row[0] else heads)[(row[1], row[2])] = tuple(row[1:])
    return heads, probes


def _nearer_to_probe(
    query: TicketQuery, head: tuple, pivot: tuple, probe: tuple, order_key: Callable
) -> bool:
    """Whether the pivot likely sits nearer a stream's probe than its first row, so counting
    the rows between pivot and probe is cheaper than counting those before the pivot.

    Interpolates on the sort value where it is a number or a moment; elsewhere (text) it
    assumes departments interleave, where the pivot lands near every probe.
    """
    kind = SORT_KEYS[query.sort].kind
    keys = [order_key(row) for row in (head, pivot, probe)]
    if kind not in {"datetime", "int", "nullable_int"} or len({k[0] for k in keys}) > 1:
        return True
    values = [k[1] for k in keys]
    if kind == "datetime":
        values = [v.timestamp() for v in values]
    span = values[2] - values[0]
    if not span:
        return True
    return (values[1] - values[0]) / span >= 0.5


def _count_round(
    query: TicketQuery,
    groups: list[_Group],
    arm_numbers: dict[str, int],
    result: Result,
    bounds: dict[tuple, tuple[tuple | None, tuple | None]],
    caps: dict[tuple, int],
) -> dict[tuple, int]:
    """Each stream's rows strictly between its two bounds (capped), keyed by stream."""

    def work(group: _Group, runner: _Runner) -> list[tuple]:
        parts, params = [], []
        for arm, prefix in _arms_of(group, query, arm_numbers):
            stream = (arm.partition.rank, arm.department_rank)
            if stream not in bounds:
                continue
            after, before = bounds[stream]
            built = _range_count_sql(
                arm, query, runner.dialect, prefix, after, before, caps[stream]
            )
            if built is not None:
                parts.append(f"SELECT * FROM ({built[0]}) c{len(parts)}")
                params += built[1]
        return runner.fetch(" UNION ALL ".join(parts), params) if parts else []

    return {(row[0], row[1]): int(row[2]) for row in _each_group(groups, work, result)}


def _locate_exactly(
    query: TicketQuery,
    position: int,
    groups: list[_Group],
    arm_numbers: dict[str, int],
    result: Result,
    cursor_key: tuple | None,
) -> Cursor | None:
    """The row at ``position`` after ``cursor_key``, from every stream's first narrow rows."""
    if not groups:
        return None
    read = _Read(
        query=query,
        limit=position + 1,
        offset=position,
        cursor_key=cursor_key,
        want_rows=True,
        want_count=False,
        merge=len(groups) > 1,
        narrow=True,
    )
    outcomes = _run_groups(groups, read, arm_numbers, result)
    # Each stream's statement steps over up to position + 1 rows (an upper bound, as elsewhere).
    result.examined += len(_streams(query, groups, arm_numbers)) * (position + 1)
    if any(outcome.merged for outcome in outcomes):
        stream = _merge(query, [o for o in outcomes if o.rows], narrow=True)
        found = list(itertools.islice(stream, position, position + 1))
    else:
        found = outcomes[0].rows[:1] if outcomes else []
    if not found:
        return None
    return _narrow_cursor(found[0], query, arm_numbers)


def _narrow_cursor(raw: tuple, query: TicketQuery, arm_numbers: dict[str, int]) -> Cursor:
    """The cursor of a narrow row (p, d, id[, value][, weight])."""
    key = SORT_KEYS[query.sort]
    slug = {rank: slug for slug, rank in arm_numbers.items()}[raw[1]]
    if key.kind == "status":
        value: Any = STATUS_ORDER[raw[0]]
    elif key.column is None:
        value = None
    else:
        value = raw[3]
        if key.kind == "datetime":
            value = _as_datetime(value)
        elif key.kind in {"int", "nullable_int"} and value is not None:
            value = int(value)
    return Cursor(query.sort, query.descending, slug, int(raw[2]), value)


def _row_key(query: TicketQuery, *, narrow: bool, weighted: bool) -> Callable[[tuple], tuple]:
    """The merge order of raw rows: (partition rank, sort value, department rank, id)."""
    kind = SORT_KEYS[query.sort].kind
    index = _key_index(query)
    if narrow and index is not None:
        index = 3  # narrow rows are (p, d, id, value)

    def key(row: tuple) -> tuple:
        p, d, row_id = row[0], row[1], row[2]
        if index is None:
            return (p, 0, d, row_id)
        if weighted:
            return (p, row[-1] if row[-1] is not None else b"", d, row_id)
        value = row[index]
        if kind == "nullable_int" and value is None:
            value = 0
        elif kind == "datetime":
            value = _as_datetime(value)
        return (p, value, d, row_id)

    return key


def _merge(query: TicketQuery, outcomes: list[_Outcome], narrow: bool = False) -> Iterator[tuple]:
    """k-way merge of per-group streams already sorted by (rank, value, department, id)."""
    # MariaDB collations are not Python's string order: merge on its own sort weights.
    weighted = bool(outcomes) and all(o.weighted for o in outcomes)
    key = _row_key(query, narrow=narrow, weighted=weighted)
    return heapq.merge(*(o.rows for o in outcomes), key=key, reverse=query.descending)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _to_row(raw: tuple, by_rank: dict[int, Department]) -> TicketRow:
    (
        _p,
        d,
        row_id,
        reference,
        name,
        email,
        subject,
        status,
        priority,
        assignee,
        created,
        updated,
    ) = raw[:12]
    return TicketRow(
        department=by_rank[d],
        id=int(row_id),
        reference=reference,
        customer_name=name,
        customer_email=email,
        subject=subject,
        status=status,
        priority=int(priority),
        assignee_id=None if assignee is None else int(assignee),
        created_at=_as_datetime(created),
        updated_at=_as_datetime(updated),
    )


def _run_groups(
    groups: list[_Group], read: _Read, arm_numbers: dict[str, int], result: Result
) -> list[_Outcome]:
    """Run every group concurrently; a failed group is retried one department at a time."""
    outcomes: list[_Outcome] = []
    retry: list[_Group] = []
    for group, outcome in _gather(groups, read, arm_numbers):
        if isinstance(outcome, _Outcome):
            outcomes.append(outcome)
        elif len(group.departments) > 1:
            # One slow or broken department must not hide the others sharing its statement.
            logger.info("group statement failed, retrying per department: %s", outcome)
            retry += group.split()
        else:
            _unavailable(result, group.departments, outcome)
    if retry:
        # The single statement failed: read its departments apart and merge them.
        for group, outcome in _gather(retry, replace(read, merge=True), arm_numbers):
            if isinstance(outcome, _Outcome):
                outcomes.append(outcome)
            else:
                _unavailable(result, group.departments, outcome)
    return outcomes


def _gather(
    groups: list[_Group], read: _Read, arm_numbers: dict[str, int]
) -> list[tuple[_Group, _Outcome | BaseException | str]]:
    deadline = time.monotonic() + department_timeout() + 0.5
    futures = [(g, _pool.submit(lambda g=g: _run_group(g, read, arm_numbers))) for g in groups]
    done: list[tuple[_Group, _Outcome | BaseException | str]] = []
    for group, future in futures:
        try:
            done.append((group, future.result(timeout=max(0.0, deadline - time.monotonic()))))
        except FutureTimeout:
            done.append((group, "timed out"))
        except DatabaseError as exc:
            done.append((group, exc))
    return done


def _unavailable(result: Result, departments: Iterable[Department], reason: Any) -> None:
    for department in departments:
        logger.warning(
            "department unavailable for the dashboard",
            extra={"department": department.slug, "error": str(reason)},
        )
        if department not in result.unavailable:
            result.unavailable.append(department)
