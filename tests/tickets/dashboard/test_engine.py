"""The dashboard query (tickets.dashboard) against a brute-force Python sort of every row."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from django.db import connections

from departments.fanout import dialects, execution, plan_groups, shutdown_workers
from departments.registry import all_departments
from tests.dashboard_data import (
    BASE,
    EMAILS,
    all_rows,
    reference_filter,
    reference_order,
)
from tickets.dashboard import SORT_KEYS, Cursor, TicketFilters, TicketQuery, limits, run
from tickets.models import Status

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("dashboard_tickets"),
]
MODES = [pytest.param(True, id="single-statement"), pytest.param(False, id="merge")]


def ids(rows) -> list[tuple[str, int]]:
    return [(r.department.slug, r.id) for r in rows]


def expected_ids(rows) -> list[tuple[str, int]]:
    return [(r["department"].slug, r["ticket"].pk) for r in rows]


def random_case(rng: random.Random, departments, tickets):
    filters = {}
    if rng.random() < 0.4:
        filters["statuses"] = tuple(s for s in Status.values if rng.random() < 0.5)
    if rng.random() < 0.3:
        filters["priorities"] = (rng.randint(1, 4),)
    roll = rng.random()
    if roll < 0.15:
        filters["unassigned"] = True
    elif roll < 0.3:
        filters["assignee_id"] = rng.choice([7, 9, 12])
    if rng.random() < 0.25:
        filters["created_from"] = BASE + timedelta(hours=rng.choice([0, 5, 30]))
    if rng.random() < 0.2:
        filters["created_before"] = BASE + timedelta(hours=rng.choice([5, 30, 31]))
    roll = rng.random()
    if roll < 0.1:
        filters["search"] = rng.choice(["jam", "ADA", "example.org", "zz-none"])
    elif roll < 0.15:
        filters["search"] = rng.choice(EMAILS)
    elif roll < 0.2:
        filters["search"] = rng.choice(tickets)[1].reference.lower()
    chosen = [d for d in departments if rng.random() < 0.7] or departments[:1]
    return chosen, TicketFilters(**filters), rng.choice(list(SORT_KEYS)), rng.random() < 0.5


@pytest.mark.parametrize("single_statement", MODES)
def test_random_queries_match_a_python_sort_in_every_way_of_paging(
    single_statement, dashboard_tickets
):
    rng = random.Random(20261122 + int(single_statement))
    departments = all_departments()
    everything = all_rows()
    assert len(everything) == len(dashboard_tickets) == 120
    cases = [random_case(rng, departments, dashboard_tickets) for _ in range(14)]
    # Every sort key both ways with no filters, then the random mixes.
    cases = [(departments, TicketFilters(), s, d) for s in SORT_KEYS for d in (False, True)] + cases
    for chosen, filters, sort, descending in cases:
        query = TicketQuery(tuple(chosen), filters, sort, descending)
        expected = expected_ids(
            reference_order(reference_filter(everything, filters, chosen), sort, descending)
        )
        label = (sort, descending, filters, [d.code for d in chosen])

        whole = run(query, limit=500, count=True, single_statement=single_statement)
        assert ids(whole.rows) == expected, label
        assert whole.count.value == len(expected) and whole.count.exact, label
        assert not whole.has_more and not whole.unavailable

        size = 7
        for offset in (0, size, 3 * size, len(expected) - 2):
            page = run(query, limit=size, offset=max(offset, 0), single_statement=single_statement)
            assert ids(page.rows) == expected[max(offset, 0) : max(offset, 0) + size], label

        # Keyset forwards from the start and backwards from the end cover the same rows.
        forward, cursor = [], None
        while True:
            page = run(query, limit=size, after=cursor, single_statement=single_statement)
            forward += ids(page.rows)
            if not page.has_more:
                break
            cursor = Cursor.decode(Cursor.for_row(page.rows[-1], query).encode(), query)
            assert cursor is not None
        assert forward == expected, label

        backward_query = query.reversed()
        backward, cursor = [], None
        while True:
            page = run(backward_query, limit=size, after=cursor, single_statement=single_statement)
            backward += ids(page.rows)
            if not page.has_more:
                break
            cursor = Cursor.for_row(page.rows[-1], backward_query)
        assert backward[::-1] == expected, label


def test_counts_of_status_priority_filters_come_from_the_maintained_table(
    django_assert_num_queries,
):
    departments = all_departments()
    everything = all_rows()
    filters = TicketFilters(statuses=("new", "open"), priorities=(3,))
    result = run(TicketQuery(tuple(departments), filters), count=True)
    expected = reference_filter(everything, filters, departments)
    assert result.count.exact and result.count.value == len(expected)
    assert filters.countable and not TicketFilters(search="x").countable


@pytest.mark.parametrize("single_statement", [True, False], ids=["single-statement", "merge"])
def test_a_page_and_its_count_are_one_statement_per_group_even_where_nothing_matches(
    monkeypatch, single_statement
):
    """Departments with no matching ticket answer their count without a second statement
    (server backends fold the count into the page statement)."""
    departments = all_departments()
    everything = all_rows()
    real, statements = execution.Runner.fetch, []

    def spy(runner, sql, params):
        statements.append(runner.group)
        return real(runner, sql, params)

    monkeypatch.setattr(execution.Runner, "fetch", spy)
    # The (status, priority) held by the fewest departments: the others match nothing.
    holders: dict[tuple[str, int], set[str]] = {}
    for row in everything:
        key = (row["ticket"].status, row["ticket"].priority)
        holders.setdefault(key, set()).add(row["department"].slug)
    (status, priority), held_by = min(holders.items(), key=lambda item: len(item[1]))
    assert len(held_by) < len(departments)
    filters = TicketFilters(statuses=(status,), priorities=(priority,))
    expected = reference_filter(everything, filters, departments)
    query = TicketQuery(tuple(departments), filters)
    result = run(query, limit=25, count=True, single_statement=single_statement)
    assert result.count.exact and result.count.value == len(expected)
    assert 0 < len(expected) < len(everything)
    assert ids(result.rows) == expected_ids(reference_order(expected, "created", True)[:25])
    groups = plan_groups(departments, single_statement=single_statement)
    if groups[0].vendor != "sqlite":
        assert len(statements) == len(groups)


def test_counts_beyond_the_cap_say_so(monkeypatch):
    monkeypatch.setattr(limits, "COUNT_CAP", 10)
    departments = all_departments()
    search = run(TicketQuery(tuple(departments), TicketFilters(search="example")), count=True)
    assert not search.count.exact
    assert search.count.value > 10  # a lower bound: some departments stopped counting at 11
    exact = run(TicketQuery(tuple(departments)), count=True)
    assert exact.count.exact and exact.count.value == 120


def test_reference_search_reads_only_its_department(dashboard_tickets):
    department, ticket = dashboard_tickets[30]
    for text in (
        ticket.reference,
        ticket.reference.lower().replace("-", " "),
        ticket.reference[-6:],
    ):
        result = run(TicketQuery(tuple(all_departments()), TicketFilters(search=text)), limit=5)
        assert ids(result.rows) == [(department.slug, ticket.pk)], text


def test_like_wildcards_in_search_are_literal():
    result = run(TicketQuery(tuple(all_departments()), TicketFilters(search="%")), count=True)
    assert result.count.value == 0


def test_cursors_from_another_order_or_garbage_are_refused(dashboard_tickets):
    query = TicketQuery(tuple(all_departments()), sort="subject")
    row = run(query, limit=1).rows[0]
    token = Cursor.for_row(row, query).encode()
    assert Cursor.decode(token, query) == Cursor.for_row(row, query)
    assert Cursor.decode(token, query.reversed()) is None
    assert Cursor.decode(token, TicketQuery(query.departments, sort="created")) is None
    for junk in ("", "x", "!!!!", "W10", "WyJzdWJqZWN0IiwwLCJub3BlIiwxLCJhIl0", "a" * 2000):
        assert Cursor.decode(junk, query) is None


def test_unknown_sort_or_status_is_rejected():
    with pytest.raises(ValueError):
        TicketQuery((), sort="message")
    with pytest.raises(ValueError):
        TicketQuery((), TicketFilters(statuses=("bogus",)))


def test_no_departments_reads_nothing():
    result = run(TicketQuery(()), limit=10, count=True)
    assert result.rows == [] and result.count.value == 0


def test_one_statement_per_server_where_the_backend_allows(settings):
    groups = plan_groups(all_departments())
    if settings.TEST_BACKEND == "postgres":
        # Separate databases: one group each, read concurrently and merged.
        assert [len(g.departments) for g in groups] == [1] * 5
    else:
        # SQLite files ATTACHed to one connection; MariaDB databases on one server.
        assert [len(g.departments) for g in groups] == [5]
    assert [len(g.departments) for g in plan_groups(all_departments(), single_statement=False)] == [
        1
    ] * 5


def test_sqlite_attach_limit_chunks_groups(monkeypatch, settings):
    if settings.TEST_BACKEND != "sqlite":
        pytest.skip("SQLite only")
    monkeypatch.setattr(dialects, "sqlite_attach_limit", lambda: 2)
    groups = plan_groups(all_departments())
    assert [len(g.departments) for g in groups] == [2, 2, 1]
    query = TicketQuery(tuple(all_departments()), sort="customer")
    expected = expected_ids(reference_order(all_rows(), "customer", True))
    assert ids(run(query, limit=500).rows) == expected


@pytest.mark.parametrize("single_statement", MODES)
def test_deep_offsets_locate_the_page_narrowly_then_read_by_keyset(single_statement, monkeypatch):
    monkeypatch.setattr(limits, "DEEP_OFFSET", 3)
    departments = all_departments()
    everything = all_rows()
    for sort in SORT_KEYS:
        for descending, filters in ((False, TicketFilters()), (True, TicketFilters(search="a"))):
            query = TicketQuery(tuple(departments), filters, sort, descending)
            expected = expected_ids(
                reference_order(
                    reference_filter(everything, filters, departments), sort, descending
                )
            )
            for offset in (4, 17, len(expected) - 5, len(expected) + 3):
                page = run(
                    query, limit=6, offset=offset, count=True, single_statement=single_statement
                )
                assert ids(page.rows) == expected[offset : offset + 6], (sort, descending, offset)
                assert page.has_more == (offset + 6 < len(expected))
                assert page.count.value == len(expected)


@pytest.mark.parametrize("single_statement", MODES)
def test_probe_rounds_place_every_deep_position_exactly(single_statement, monkeypatch):
    """With no exact tail every deep position is found by probe rounds alone; the data's many
    ties (within and across departments) make pivots and counted ranges meet on equal values."""
    monkeypatch.setattr(limits, "DEEP_OFFSET", 3)
    monkeypatch.setattr(limits, "EXACT_TAIL", 0)
    departments = all_departments()
    everything = all_rows()
    for sort in SORT_KEYS:
        for descending, filters in (
            (False, TicketFilters()),
            (True, TicketFilters(statuses=("new", "closed", "open"), priorities=(1, 2, 4))),
        ):
            query = TicketQuery(tuple(departments), filters, sort, descending)
            expected = expected_ids(
                reference_order(
                    reference_filter(everything, filters, departments), sort, descending
                )
            )
            for offset in [*range(4, len(expected) + 2, 9), len(expected) - 1]:
                page = run(query, limit=3, offset=offset, single_statement=single_statement)
                assert ids(page.rows) == expected[offset : offset + 3], (sort, descending, offset)
                assert page.has_more == (offset + 3 < len(expected))


def _open_server_connections(alias: str) -> int:
    """Connections the database server has open to this department's database, right now."""
    from django.db import connections

    conn = connections[alias]
    name = conn.settings_dict["NAME"]
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name])
        else:
            cursor.execute(
                "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = %s", [name]
            )
        return cursor.fetchone()[0]


def test_concurrent_reads_keep_department_connections_bounded(settings):
    """Many dashboards at once borrow connections and give them back: afterwards a process keeps
    at most ``keep`` idle engine connections per department, not one per worker thread, and
    reads reuse connections instead of opening one each."""
    import threading

    if settings.TEST_BACKEND == "sqlite":
        pytest.skip("SQLite reads hold no database-server connection")
    departments = all_departments()
    created = []
    real_create = connections.create_connection

    def counting_create(alias):
        created.append(alias)
        return real_create(alias)

    query = TicketQuery(tuple(departments))
    shutdown_workers()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(connections, "create_connection", counting_create)
            threads = [
                threading.Thread(target=lambda: [run(query, limit=25) for _ in range(10)])
                for _ in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        keep = execution.server_connections().keep
        idle = execution.server_connections().idle
        assert all(len(conns) <= keep for conns in idle.values())
        for department in departments:
            # The test's own connection plus the engine's idle ones. A closed connection's
            # server process ends a moment after the client hangs up (seen on a loaded
            # machine), so the count is given a second to settle.
            deadline = time.monotonic() + 1.0
            while (
                _open_server_connections(department.alias) > 1 + keep
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            assert _open_server_connections(department.alias) <= 1 + keep, department
        assert created and max(created.count(a) for a in set(created)) < 80  # reused
    finally:
        shutdown_workers()
