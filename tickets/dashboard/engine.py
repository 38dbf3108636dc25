"""The dashboard query: one sorted, filtered, paginated view over many department databases.

A query names departments, filters, a whitelisted sort key and a direction; the order always
ends in the unique tiebreaker (department, id). Shallow pages read the top rows of every group
(``reads``) and k-way merge them (``merge``); deep pages first find the row before the page
(``locator``) and then read by keyset.
"""

from __future__ import annotations

import itertools

from django.conf import settings

from departments.fanout import plan_groups
from tickets.dashboard import limits
from tickets.dashboard.cursor import Cursor, cursor_rank, department_ranks
from tickets.dashboard.locator import locate
from tickets.dashboard.merge import merge, to_row
from tickets.dashboard.query import Count, Result, TicketQuery
from tickets.dashboard.reads import Read, add_counts, run_groups


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
    ranks = department_ranks()
    arm_numbers = {d.slug: ranks[d.slug] for d in departments}
    groups = plan_groups(departments, single_statement=single_statement)
    want_rows = limit > 0
    read = Read(
        query=query,
        limit=offset + limit + 1 if want_rows else 0,
        offset=offset,
        cursor_key=cursor_rank(after) if after is not None else None,
        want_rows=want_rows,
        want_count=count,
        merge=len(groups) > 1,
    )
    if want_rows and after is None and offset > limits.DEEP_OFFSET:
        # A deep page: find the row just before it from narrow (index-only) rows, then read
        # the page after it by keyset, so full rows are fetched for one page only.
        located = locate(query, offset - 1, groups, arm_numbers, result, count=count)
        if located is not None:
            page = run(query, limit=limit, after=located, single_statement=single_statement)
            result.rows, result.has_more = page.rows, page.has_more
            for department in page.unavailable:
                if department not in result.unavailable:
                    result.unavailable.append(department)
        return result
    outcomes = run_groups(groups, read, arm_numbers, result)
    add_counts(result, outcomes, count)
    if want_rows:
        merged = any(outcome.merged for outcome in outcomes)
        stream = merge(query, [o for o in outcomes if o.rows]) if merged else None
        if stream is None:
            page = outcomes[0].rows if outcomes else []
        else:
            page = list(itertools.islice(stream, offset, offset + limit + 1))
        result.has_more = len(page) > limit
        by_rank = {ranks[d.slug]: d for d in departments}
        result.rows = [to_row(raw, by_rank) for raw in page[:limit]]
    return result
