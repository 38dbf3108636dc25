"""One read of every group of departments: a count and/or the top rows after a position.

Each group is one statement (counts ride along with the page on database servers); groups run
concurrently through ``departments.fanout``, and a department that fails is reported in the
result's ``unavailable`` while the others' rows are still returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from departments.fanout import Group, Runner, UnionAll, dialect_for, each_group, plan_groups
from departments.registry import Department
from tickets.dashboard import limits
from tickets.dashboard.query import SORT_KEYS, Count, Result, TicketQuery
from tickets.dashboard.sql import Arm, count_sql, partitions
from tickets.dashboard.sql import arm_sql as build_arm_sql

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Read:
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
class Outcome:
    counts: list[tuple[int, bool]]
    rows: list[tuple]
    merged: bool  # rows are the top ``limit`` of this group, to be merged and offset in Python
    weighted: bool  # rows end in a MariaDB collation weight of the sort value


def read_group(runner: Runner, group: Group, read: Read, arm_numbers) -> Outcome:
    """In a worker: (count rows, page rows) for one group, as one statement each."""
    dialect = runner.dialect
    counts: list[tuple[int, bool]] = []
    exact = read.query.filters.countable
    count_union = UnionAll()
    if read.want_count:
        for department, prefix in zip(group.departments, group.prefixes, strict=True):
            built = count_sql(read.query, department, dialect, prefix)
            if built is not None:
                count_union.add(built[0], built[1])
    count_params = count_union.params
    # On a database server, the maintained counts ride along with the page as one more column:
    # one round trip per group instead of two. (Capped counts stay apart: they can be costly
    # and their cap applies per department.)
    fold = bool(count_union) and exact and read.want_rows and dialect.folds_counts
    if count_union and not fold:
        found = runner.fetch(count_union.sql, count_params)
        counts = [(int(row[0]), exact) for row in found]
    key = SORT_KEYS[read.query.sort]
    with_weight = read.merge and dialect.sort_weights and key.kind == "text"
    rows: list[tuple] = []
    if read.want_rows:
        union = UnionAll()
        for department, prefix in zip(group.departments, group.prefixes, strict=True):
            for partition in partitions(read.query, department):
                arm = Arm(department, partition, arm_numbers[department.slug])
                built = build_arm_sql(
                    arm,
                    read.query,
                    dialect,
                    prefix,
                    read.limit,
                    read.cursor_key,
                    with_weight,
                    narrow=read.narrow,
                )
                if built is not None:
                    union.add(built[0], built[1])
        if union:
            direction = "DESC" if read.query.descending else "ASC"
            order = []
            if key.kind in {"status", "department", "nullable_int"}:
                order.append(f"p {direction}")
            if key.column:
                order.append(f"{dialect.sort_expr(key.column, key.kind)} {direction}")
            order += [f"d {direction}", f"id {direction}"]
            sql, params = union.sql, union.params
            total = ""
            if fold:
                total = f", (SELECT SUM(c) FROM ({count_union.sql}) t) AS total"
                params = count_params + params
            if len(union) > 1 or (read.offset and not read.merge) or fold:
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
                found = runner.fetch(count_union.sql, count_params)
                counts = [(int(row[0]), exact) for row in found]
    return Outcome(counts, rows, read.merge, with_weight)


def run_groups(
    groups: list[Group], read: Read, arm_numbers: dict[str, int], result: Result
) -> list[Outcome]:
    """Read every group concurrently; a failed group is retried one department at a time,
    and those are then merged like groups of their own."""
    alone = replace(read, merge=True)
    outcomes, failed = each_group(
        groups,
        lambda group, runner: read_group(runner, group, read, arm_numbers),
        alone=lambda group, runner: read_group(runner, group, alone, arm_numbers),
    )
    for group, reason in failed:
        mark_unavailable(result, group.departments, reason)
    return outcomes


def each_group_rows(
    groups: list[Group], work: Callable[[Group, Runner], list[tuple]], result: Result
) -> list[tuple]:
    """``work`` on every group concurrently; the rows of the groups that answered."""
    answers, failed = each_group(groups, work)
    for group, reason in failed:
        mark_unavailable(result, group.departments, reason)
    return [row for rows in answers for row in rows]


def mark_unavailable(result: Result, departments: Iterable[Department], reason: Any) -> None:
    for department in departments:
        logger.warning(
            "department unavailable for the dashboard",
            extra={"department": department.slug, "error": str(reason)},
        )
        if department not in result.unavailable:
            result.unavailable.append(department)


def count_read(query: TicketQuery, groups: list[Group]) -> Read:
    return Read(query, 0, 0, None, False, True, len(groups) > 1)


def without(groups: list[Group], gone: list[Department]) -> list[Group]:
    """The groups again with the departments that failed left out."""
    kept = [d for g in groups for d in g.departments if d not in gone]
    single = all(len(g.departments) == 1 for g in groups) and len(groups) > 1
    return plan_groups(kept, single_statement=not single) if kept else []


def carries_weights(query: TicketQuery, groups: list[Group]) -> bool:
    """Whether rows carry MariaDB sort weights (text sorts, where collation != Python order)."""
    if SORT_KEYS[query.sort].kind != "text" or not groups:
        return False
    return dialect_for(groups[0].alias).sort_weights


def add_counts(result: Result, outcomes: list[Outcome], count: bool) -> None:
    if count:
        total, exact = 0, True
        for outcome in outcomes:
            for value, is_exact in outcome.counts:
                total += value
                exact = exact and (is_exact or value <= limits.COUNT_CAP)
        result.count = Count(total, exact)
