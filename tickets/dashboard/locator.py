"""The deep-page locator: the row at position N of the merged order, without reading N rows
from every department.

Rounds of probes narrow the position down (see ``locate``); sorts whose departments form
blocks (status, department, reference) are placed from each block's ends and size instead.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from typing import Any

from departments.fanout import Group, Runner, UnionAll
from tickets.dashboard import limits
from tickets.dashboard.cursor import Cursor, cursor_rank
from tickets.dashboard.merge import merge, narrow_cursor, row_key
from tickets.dashboard.query import COUNT_TABLE, SORT_KEYS, STATUS_ORDER, Result, TicketQuery
from tickets.dashboard.reads import (
    Read,
    add_counts,
    carries_weights,
    count_read,
    each_group_rows,
    run_groups,
    without,
)
from tickets.dashboard.sql import (
    arm_sql,
    arms_of,
    count_table_where,
    partitions,
    range_count_sql,
    streams,
)


def locate(
    query: TicketQuery,
    position: int,
    groups: list[Group],
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
        counted = run_groups(groups, count_read(query, groups), arm_numbers, result)
        add_counts(result, counted, count)
        if result.unavailable:
            groups = without(groups, result.unavailable)
    if len(streams(query, groups, arm_numbers)) > 1:
        found = _locate_in_disjoint_streams(query, position, groups, arm_numbers, result)
        if found is not _OVERLAP:
            return found
        if result.unavailable:
            groups = without(groups, result.unavailable)
    cursor_key: tuple | None = None
    need = position
    weights = dict.fromkeys(streams(query, groups, arm_numbers), 1)
    # Per stream, a row already found after the cursor and how many of its rows lie between:
    # the next probe steps from whichever of the cursor and that row is nearer.
    known: dict[tuple, tuple[tuple, int]] = {}
    while len(weights) > 1 and need > limits.EXACT_TAIL:
        shares = _shares(need + 1, weights)
        plans = {
            stream: _probe_plan(share - 1, cursor_key, known.get(stream), query, arm_numbers)
            for stream, share in shares.items()
        }
        heads, probes = _probe_round(query, groups, arm_numbers, result, cursor_key, plans)
        result.examined += len(plans) + sum(plan[2] for plan in plans.values())
        if result.unavailable:
            groups = without(groups, result.unavailable)
        if not probes:
            return None  # every stream has fewer rows than its share: the position is past the end
        order_key = row_key(query, narrow=True, weighted=carries_weights(query, groups))
        first = (max if query.descending else min)(probes.values(), key=order_key)
        pivot = narrow_cursor(first, query, arm_numbers)
        pivot_key = cursor_rank(pivot)

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
                probe_key = cursor_rank(narrow_cursor(probe, query, arm_numbers))
                bounds[stream] = (pivot_key, probe_key)
                from_probe.add(stream)
            else:
                bounds[stream] = (cursor_key, pivot_key)
        counted = _count_round(query, groups, arm_numbers, result, bounds, shares)
        if result.unavailable:
            groups = without(groups, result.unavailable)
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
        live = streams(query, groups, arm_numbers)
        weights = {stream: before[stream] + 1 for stream in shares if stream in live}
    return _locate_exactly(query, need, groups, arm_numbers, result, cursor_key)


_OVERLAP = object()


def _locate_in_disjoint_streams(
    query: TicketQuery,
    position: int,
    groups: list[Group],
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
    order_key = row_key(query, narrow=True, weighted=carries_weights(query, groups))
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
        return None if row is None else narrow_cursor(row, query, arm_numbers)
    return None


def _ends_round(
    query: TicketQuery, groups: list[Group], arm_numbers: dict[str, int], result: Result
) -> dict[tuple, tuple[tuple, tuple]]:
    """Each non-empty stream's first and last row in query order."""
    weighted = carries_weights(query, groups)

    def work(group: Group, runner: Runner) -> list[tuple]:
        union = UnionAll()
        for arm, prefix in arms_of(group, query, arm_numbers):
            for which, order in ((0, query), (1, query.reversed())):
                built = arm_sql(arm, order, runner.dialect, prefix, 1, None, weighted, True)
                if built is not None:
                    union.add(built[0], built[1], tag=which)
        return runner.fetch(union.sql, union.params) if union else []

    firsts: dict[tuple, tuple] = {}
    lasts: dict[tuple, tuple] = {}
    for row in each_group_rows(groups, work, result):
        (lasts if row[0] else firsts)[(row[1], row[2])] = tuple(row[1:])
    return {stream: (firsts[stream], lasts[stream]) for stream in firsts if stream in lasts}


def _exact_stream_sizes(
    query: TicketQuery, groups: list[Group], arm_numbers: dict[str, int], result: Result
) -> dict[tuple, int] | None:
    """Every stream's size from the maintained counts, or None where they cannot say."""
    kind = SORT_KEYS[query.sort].kind
    if not query.filters.countable or kind == "nullable_int":
        return None
    f = query.filters

    def work(group: Group, runner: Runner) -> list[tuple]:
        dialect = runner.dialect
        union = UnionAll()
        where, values = count_table_where(f)
        for department, prefix in zip(group.departments, group.prefixes, strict=True):
            union.add(
                f"SELECT {arm_numbers[department.slug]} AS d, status, "
                f"SUM({dialect.quote('count')}) AS c "
                f"FROM {prefix}{dialect.quote(COUNT_TABLE)}{where} GROUP BY status",
                list(values),
            )
        return runner.fetch(union.sql, union.params) if union else []

    by_rank = {rank: slug for slug, rank in arm_numbers.items()}
    departments = {d.slug: d for g in groups for d in g.departments}
    sizes: dict[tuple, int] = {}
    for d, status, c in each_group_rows(groups, work, result):
        department = departments[by_rank[d]]
        if kind == "status":
            stream = (STATUS_ORDER.index(status), d)
        else:
            stream = (partitions(query, department)[0].rank, d)
        sizes[stream] = sizes.get(stream, 0) + int(c or 0)
    return sizes


def _probe_one(
    query: TicketQuery,
    groups: list[Group],
    arm_numbers: dict[str, int],
    result: Result,
    stream: tuple,
    plan: tuple[str, Any, int],
) -> tuple | None:
    """One stream's row by a probe plan (see ``_probe_plan``), from its group alone."""
    group = _group_of(groups, stream, arm_numbers)
    _heads, probes = _probe_round(query, [group], arm_numbers, result, None, {stream: plan})
    return probes.get(stream)


def _group_of(groups: list[Group], stream: tuple, arm_numbers: dict[str, int]) -> Group:
    """The group that reads ``stream`` (a (partition rank, department rank) pair)."""
    return next(g for g in groups if any(arm_numbers[d.slug] == stream[1] for d in g.departments))


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
        key = cursor_rank(narrow_cursor(row, query, arm_numbers))
        if offset > rank and offset - rank < offset:
            return ("forward", key, offset - rank - 1)
        if offset < rank and rank - offset < offset:
            return ("back", key, rank - offset - 1)
    return ("forward", cursor_key, offset)


def _probe_round(
    query: TicketQuery,
    groups: list[Group],
    arm_numbers: dict[str, int],
    result: Result,
    cursor_key: tuple | None,
    plans: dict[tuple, tuple[str, Any, int]],
) -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    """Each stream's first row after the cursor and the row its plan points at."""
    weighted = carries_weights(query, groups)

    def work(group: Group, runner: Runner) -> list[tuple]:
        union = UnionAll()
        for arm, prefix in arms_of(group, query, arm_numbers):
            stream = (arm.partition.rank, arm.department_rank)
            if stream not in plans:
                continue
            how, start, offset = plans[stream]
            reads = [(0, query, cursor_key, 0)]
            if how != "have":
                reads.append((1, query.reversed() if how == "back" else query, start, offset))
            for which, order, after, skip in reads:
                built = arm_sql(arm, order, runner.dialect, prefix, 1, after, weighted, True, skip)
                if built is not None:
                    union.add(built[0], built[1], tag=which)
        return runner.fetch(union.sql, union.params) if union else []

    heads: dict[tuple, tuple] = {}
    probes: dict[tuple, tuple] = {
        stream: plan[1] for stream, plan in plans.items() if plan[0] == "have"
    }
    for row in each_group_rows(groups, work, result):
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
    groups: list[Group],
    arm_numbers: dict[str, int],
    result: Result,
    bounds: dict[tuple, tuple[tuple | None, tuple | None]],
    caps: dict[tuple, int],
) -> dict[tuple, int]:
    """Each stream's rows strictly between its two bounds (capped), keyed by stream."""

    def work(group: Group, runner: Runner) -> list[tuple]:
        union = UnionAll()
        for arm, prefix in arms_of(group, query, arm_numbers):
            stream = (arm.partition.rank, arm.department_rank)
            if stream not in bounds:
                continue
            after, before = bounds[stream]
            built = range_count_sql(arm, query, runner.dialect, prefix, after, before, caps[stream])
            if built is not None:
                union.add(built[0], built[1])
        return runner.fetch(union.sql, union.params) if union else []

    return {(row[0], row[1]): int(row[2]) for row in each_group_rows(groups, work, result)}


def _locate_exactly(
    query: TicketQuery,
    position: int,
    groups: list[Group],
    arm_numbers: dict[str, int],
    result: Result,
    cursor_key: tuple | None,
) -> Cursor | None:
    """The row at ``position`` after ``cursor_key``, from every stream's first narrow rows."""
    if not groups:
        return None
    read = Read(
        query=query,
        limit=position + 1,
        offset=position,
        cursor_key=cursor_key,
        want_rows=True,
        want_count=False,
        merge=len(groups) > 1,
        narrow=True,
    )
    outcomes = run_groups(groups, read, arm_numbers, result)
    # Each stream's statement steps over up to position + 1 rows (an upper bound, as elsewhere).
    result.examined += len(streams(query, groups, arm_numbers)) * (position + 1)
    if any(outcome.merged for outcome in outcomes):
        stream = merge(query, [o for o in outcomes if o.rows], narrow=True)
        found = list(itertools.islice(stream, position, position + 1))
    else:
        found = outcomes[0].rows[:1] if outcomes else []
    if not found:
        return None
    return narrow_cursor(found[0], query, arm_numbers)
