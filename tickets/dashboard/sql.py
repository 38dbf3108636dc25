"""SQL for one department's arms: filters, keyset seeks, page reads and counts.

An arm is one department's slice of rows with a constant leading sort rank (one per status
when sorting by status), so that every arm is a plain range of a sort index. Every value that
comes from a user is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from departments.fanout import Dialect, Group
from departments.registry import Department
from tickets.dashboard import limits
from tickets.dashboard.cursor import department_label_ranks
from tickets.dashboard.query import (
    COUNT_TABLE,
    DEFAULT_SORT,
    SELECT_COLUMNS,
    SORT_KEYS,
    STATUS_ORDER,
    TICKET_TABLE,
    TicketFilters,
    TicketQuery,
)
from tickets.dashboard.search import search_shape, text_search_sql


@dataclass(frozen=True)
class Partition:
    """A slice of one department's rows with a constant leading sort rank."""

    rank: int
    where: str = ""
    params: tuple = ()
    column: str | None = None  # the per-row sort column inside the partition, if any


def partitions(query: TicketQuery, department: Department) -> list[Partition]:
    key = SORT_KEYS[query.sort]
    if key.kind == "status":
        wanted = query.filters.statuses or STATUS_ORDER
        return [
            Partition(rank, "status = %s", (status,))
            for rank, status in enumerate(STATUS_ORDER)
            if status in wanted
        ]
    if key.kind == "department":
        return [Partition(department_label_ranks()[department.slug])]
    if key.kind == "nullable_int":
        # Two arms, so each is a plain index range and NULLs need no backend-specific ordering.
        parts = []
        if not query.filters.assignee_id:
            parts.append(Partition(0, f"{key.column} IS NULL"))
        if not query.filters.unassigned:
            parts.append(Partition(1, f"{key.column} IS NOT NULL", column=key.column))
        return parts
    return [Partition(0, column=key.column)]


def filter_sql(
    query: TicketQuery,
    department: Department,
    dialect: Dialect,
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
            condition, values = text_search_sql(
                search, department, dialect, table_prefix, counting=counting
            )
            conditions.append(condition)
            params += values
    return conditions, params


@dataclass(frozen=True)
class Arm:
    department: Department
    partition: Partition
    department_rank: int


def keyset_sql(
    arm: Arm, cursor_key: tuple, descending: bool, dialect: Dialect, kind: str
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


def arm_sql(
    arm: Arm,
    query: TicketQuery,
    dialect: Dialect,
    table_prefix: str,
    limit: int,
    cursor_key: tuple | None,
    with_weight: bool,
    narrow: bool = False,
    offset: int = 0,
) -> tuple[str, list[Any]] | None:
    base = filter_sql(query, arm.department, dialect, table_prefix)
    if base is None:
        return None
    conditions, params = list(base[0]), list(base[1])
    key = SORT_KEYS[query.sort]
    if arm.partition.where:
        conditions.append(arm.partition.where)
        params += arm.partition.params
    if cursor_key is not None:
        seek = keyset_sql(arm, cursor_key, query.descending, dialect, key.kind)
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
        column = arm.partition.column
        weight = f", {dialect.weight_expr(column)} AS w" if column else ""
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


def range_count_sql(
    arm: Arm,
    query: TicketQuery,
    dialect: Dialect,
    table_prefix: str,
    after_key: tuple | None,
    before_key: tuple | None,
    cap: int,
) -> tuple[str, list[Any]] | None:
    """Count (capped) the arm's rows strictly between two keys in query order; None: zero.

    Both bounds are keyset conditions on the sort index, so the count is an index range scan
    over exactly the rows it counts.
    """
    base = filter_sql(query, arm.department, dialect, table_prefix)
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
        seek = keyset_sql(arm, bound, descending, dialect, kind)
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


def count_table_where(f: TicketFilters) -> tuple[str, list[Any]]:
    """The WHERE clause of a read of the maintained (status, priority) counts."""
    conditions, params = [], []
    if f.statuses:
        conditions.append(f"status IN ({', '.join(['%s'] * len(f.statuses))})")
        params += f.statuses
    if f.priorities:
        conditions.append(f"priority IN ({', '.join(['%s'] * len(f.priorities))})")
        params += f.priorities
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), params


def count_sql(
    query: TicketQuery, department: Department, dialect: Dialect, table_prefix: str
) -> tuple[str, list[Any], bool] | None:
    """One department's count: (sql, params, exact). Exact counts read TicketCount."""
    f = query.filters
    if f.countable:
        where, params = count_table_where(f)
        sql = (
            f"SELECT COALESCE(SUM({dialect.quote('count')}), 0) AS c "
            f"FROM {table_prefix}{dialect.quote(COUNT_TABLE)}{where}"
        )
        return sql, params, True
    base = filter_sql(
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
    return sql, [*params, limits.COUNT_CAP + 1], False


def arms_of(group: Group, query: TicketQuery, arm_numbers: dict[str, int]):
    for department, prefix in zip(group.departments, group.prefixes, strict=True):
        for partition in partitions(query, department):
            yield Arm(department, partition, arm_numbers[department.slug]), prefix


def streams(query: TicketQuery, groups: list[Group], arm_numbers: dict[str, int]) -> set:
    """Every (partition rank, department rank) the groups read: one sorted stream each."""
    return {
        (partition.rank, arm_numbers[department.slug])
        for group in groups
        for department in group.departments
        for partition in partitions(query, department)
    }
