"""Merging the groups' sorted rows in Python, and turning raw rows into cursors and rows."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from departments.registry import Department
from tickets.dashboard.cursor import Cursor
from tickets.dashboard.query import SELECT_COLUMNS, SORT_KEYS, STATUS_ORDER, TicketQuery, TicketRow
from tickets.dashboard.reads import Outcome


def narrow_cursor(raw: tuple, query: TicketQuery, arm_numbers: dict[str, int]) -> Cursor:
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
            value = as_datetime(value)
        elif key.kind in {"int", "nullable_int"} and value is not None:
            value = int(value)
    return Cursor(query.sort, query.descending, slug, int(raw[2]), value)


def row_key(query: TicketQuery, *, narrow: bool, weighted: bool) -> Callable[[tuple], tuple]:
    """The merge order of raw rows: (partition rank, sort value, department rank, id)."""
    kind = SORT_KEYS[query.sort].kind
    index = key_index(query)
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
            value = as_datetime(value)
        return (p, value, d, row_id)

    return key


def merge(query: TicketQuery, outcomes: list[Outcome], narrow: bool = False) -> Iterator[tuple]:
    """k-way merge of per-group streams already sorted by (rank, value, department, id)."""
    # MariaDB collations are not Python's string order: merge on its own sort weights.
    weighted = bool(outcomes) and all(o.weighted for o in outcomes)
    key = row_key(query, narrow=narrow, weighted=weighted)
    return heapq.merge(*(o.rows for o in outcomes), key=key, reverse=query.descending)


def as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def to_row(raw: tuple, by_rank: dict[int, Department]) -> TicketRow:
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
        created_at=as_datetime(created),
        updated_at=as_datetime(updated),
    )


def key_index(query: TicketQuery) -> int | None:
    column = SORT_KEYS[query.sort].column
    return None if column is None else 2 + SELECT_COLUMNS.index(column)
