"""Free-text search through each backend's search index equals a brute-force Python filter."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections

from departments.fanout import dialect_for
from departments.registry import all_departments
from tests.dashboard_data import (
    all_rows,
    clear_tickets,
    make_tickets,
    reference_filter,
    reference_order,
)
from tickets.dashboard import Cursor, TicketFilters, TicketQuery, limits, run, search
from tickets.models import Ticket
from tickets.services import ticket_counts_rebuild

pytestmark = pytest.mark.django_db(databases="__all__")

# Subjects/names that exercise LIKE wildcards, unicode and quotes, on top of the shared data.
EXTRA = [
    ("50% off_now", "Renée O'Brien", "renee@example.com"),
    ("Café crème order", "Jürgen Straße", "jurgen@example.de"),
    ('Say "hello" twice', "Ana Li", "ana.li@example.com"),
    ("100 percent sure", "Otto Mann", "otto@example.org"),
]
TERMS = [
    "jam",
    "JAM",
    "printer jam",
    "PRINTER",
    "ja",
    "a",
    "%",
    "50%",
    "_",
    "off_now",
    "Café",
    "crème",
    "Straße",
    "O'Bri",
    '"hello"',
    "hello",
    "example",
    "king",
    "mile R",
    "zz-none",
    "xample.c",
]


@pytest.fixture(scope="module")
def search_rows(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        clear_tickets()
        made = make_tickets(seed=11)
        for n, department in enumerate(all_departments()[:2]):
            for i, (subject, name, email) in enumerate(EXTRA):
                Ticket.objects.using(department.alias).create(
                    reference=f"{department.code}-QQ{'ABCD'[n]}{'ABCD'[i]}WW",
                    subject=subject,
                    customer_name=name,
                    customer_email=email,
                    message="m",
                    created_at=made[0][1].created_at,
                    updated_at=made[0][1].updated_at,
                )
            ticket_counts_rebuild(department=department)
        rows = all_rows()
    yield rows
    with django_db_blocker.unblock():
        clear_tickets()


def ids(rows):
    return [(r.department.slug, r.id) for r in rows]


def walk(query, size):
    out, cursor = [], None
    while True:
        page = run(query, limit=size, after=cursor)
        out += ids(page.rows)
        if not page.has_more:
            return out
        cursor = Cursor.for_row(page.rows[-1], query)


@pytest.mark.parametrize("term", TERMS)
def test_text_search_equals_a_python_filter_with_sorts_and_keyset_pages(search_rows, term):
    departments = all_departments()
    filters = TicketFilters(search=term)
    matched = reference_filter(search_rows, filters, departments)
    for sort, descending in (("created", True), ("subject", False), ("status", False)):
        query = TicketQuery(tuple(departments), filters, sort, descending)
        expected = [
            (r["department"].slug, r["ticket"].pk)
            for r in reference_order(matched, sort, descending)
        ]
        whole = run(query, limit=500, count=True)
        assert ids(whole.rows) == expected, (term, sort)
        assert whole.count.value == len(expected) and whole.count.exact
        assert walk(query, 4) == expected, (term, sort)
    if term in {"jam", "example", "hello", "Café"}:
        assert matched, term  # the comparison is not vacuous


def _explain(department, term: str) -> str:
    """The plan of the engine's own text condition on one department's connection."""
    vendor = connections[department.alias].vendor
    dialect = dialect_for(department.alias)
    condition, params = search.text_search_sql(term, department, dialect, "")
    sql = f"SELECT id FROM tickets_ticket WHERE {condition}"
    with connections[department.alias].cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return " | ".join(str(r[-1]) for r in cursor.fetchall())
        if vendor == "postgresql":
            # A handful of rows: without this the planner rightly prefers a sequential scan.
            cursor.execute("SET enable_seqscan = off")
            try:
                cursor.execute(f"EXPLAIN {sql}", params)
                return " | ".join(r[0] for r in cursor.fetchall())
            finally:
                cursor.execute("RESET enable_seqscan")
        cursor.execute(f"EXPLAIN {sql}", params)
        columns = [c[0] for c in cursor.description]
        return " | ".join(str(dict(zip(columns, r, strict=True))) for r in cursor.fetchall())


def test_the_search_index_serves_terms_it_can_and_short_terms_scan(search_rows):
    department = all_departments()[0]
    backend = settings.TEST_BACKEND
    plan = _explain(department, "printer")
    short = _explain(department, "ja")
    if backend == "sqlite":
        assert search.text_search_index(department) == "fts5"
        assert "VIRTUAL TABLE INDEX" in plan, plan
        assert "VIRTUAL TABLE" not in short, short
    elif backend == "postgres":
        assert search.text_search_index(department) == "trigram"
        assert "ticket_subject_trgm_idx" in plan, plan
    else:
        assert search.text_search_index(department) == 3
        assert "fulltext" in plan and "ticket_search_ft" in plan, plan
        assert "fulltext" not in short, short
        assert "fulltext" not in _explain(department, "ple.co"), "punctuation scans"


@pytest.mark.skipif(settings.TEST_BACKEND != "sqlite", reason="SQLite FTS5 plan choice")
def test_sqlite_terms_with_many_matches_walk_the_sort_index_with_the_same_rows(
    search_rows, monkeypatch
):
    # With a threshold of 2, every term of the small data set counts as "many matches".
    monkeypatch.setattr(limits, "FTS_MANY_MATCHES", 2)
    search._fts_probe.cache_clear()
    try:
        department = all_departments()[0]
        dialect = dialect_for(department.alias)
        # An ASCII term with many matches walks the sort index with LIKE (stops after a page);
        # a non-ASCII one, where LIKE would not fold case, keeps the index but not as driver.
        condition, _ = search.text_search_sql("example", department, dialect, "")
        assert condition.startswith("(reference LIKE"), condition
        monkeypatch.setattr(limits, "FTS_MANY_MATCHES", 1)
        search._fts_probe.cache_clear()
        condition, _ = search.text_search_sql("Café", department, dialect, "")
        assert condition.startswith("+id IN"), condition
        monkeypatch.setattr(limits, "FTS_MANY_MATCHES", 2)
        search._fts_probe.cache_clear()
        condition, _ = search.text_search_sql("zz-none", department, dialect, "")
        assert condition.startswith("id IN"), condition
        # A count must see every match: it reads them from the index unless there are so many
        # that a scan reaches the cap first.
        monkeypatch.setattr(limits, "FTS_MANY_MATCHES_FOR_COUNT", 10_000)
        condition, _ = search.text_search_sql("example", department, dialect, "", counting=True)
        assert condition.startswith("id IN"), condition
        for term in ("example", "jam", "Café", "king"):
            filters = TicketFilters(search=term)
            matched = reference_filter(search_rows, filters, all_departments())
            query = TicketQuery(tuple(all_departments()), filters, "subject", True)
            expected = [
                (r["department"].slug, r["ticket"].pk)
                for r in reference_order(matched, "subject", True)
            ]
            assert walk(query, 5) == expected, term
            assert run(query, count=True).count.value == len(expected), term
    finally:
        search._fts_probe.cache_clear()
