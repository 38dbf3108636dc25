"""Keyset cursors: a position between two rows, as an opaque token in the page's links.

A token is decoded only into values the query can use; anything else is no cursor at all.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.backends.base.operations import BaseDatabaseOperations

from departments.registry import all_departments
from tickets.dashboard.query import SORT_KEYS, STATUS_ORDER, SortKey, TicketQuery, TicketRow
from tickets.models import Ticket


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
        if not isinstance(slug, str) or slug not in department_ranks():
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


def department_ranks() -> dict[str, int]:
    """Every configured department's tiebreak rank: by slug (unique and stable)."""
    return {d.slug: i for i, d in enumerate(sorted(all_departments(), key=lambda d: d.slug))}


def department_label_ranks() -> dict[str, int]:
    ordered = sorted(all_departments(), key=lambda d: (d.label.casefold(), d.label, d.slug))
    return {d.slug: i for i, d in enumerate(ordered)}


def cursor_rank(cursor: Cursor) -> tuple[int, Any, int, int]:
    """(partition rank, value, department rank, id) of a cursor, as rows are merged."""
    kind = SORT_KEYS[cursor.sort].kind
    department_rank = department_ranks()[cursor.department]
    if kind == "status":
        return (STATUS_ORDER.index(cursor.value), None, department_rank, cursor.id)
    if kind == "department":
        return (department_label_ranks()[cursor.department], None, department_rank, cursor.id)
    if kind == "nullable_int":
        return (0 if cursor.value is None else 1, cursor.value, department_rank, cursor.id)
    return (0, cursor.value, department_rank, cursor.id)
