"""A jump to a deep page steps over about as many rows as it skips, not departments x that.

``Result.examined`` adds up what the probe rounds ask the databases to step over (probe
offsets, counted ranges, rows merged at the end), so these tests check the amount of work the
engine does, whatever the machine's speed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from departments.registry import all_departments
from tests.dashboard_data import all_rows, clear_tickets, reference_filter, reference_order
from tickets.dashboard import TicketFilters, TicketQuery, limits, run
from tickets.models import Priority, Status, Ticket
from tickets.services import ticket_counts_rebuild

pytestmark = pytest.mark.django_db(databases="__all__")
START = datetime(2024, 1, 1, tzinfo=UTC)
BIG = 240  # tickets in each of the two big departments


@pytest.fixture(scope="module")
def skewed(django_db_setup, django_db_blocker):
    """Two big departments whose tickets never interleave (one all 2024, one all 2025) and
    three small ones spread across both years: the shape where an even split is worst."""
    rng = random.Random(11)
    departments = all_departments()
    plan = {
        departments[0]: [START + timedelta(hours=i) for i in range(BIG)],
        departments[1]: [START + timedelta(days=400, hours=i) for i in range(BIG)],
    }
    for department in departments[2:]:
        plan[department] = [START + timedelta(days=rng.randint(0, 420)) for _ in range(12)]
    with django_db_blocker.unblock():
        clear_tickets()
        for department, moments in plan.items():
            Ticket.objects.using(department.alias).bulk_create(
                Ticket(
                    reference=f"{department.code}-{n:06d}",
                    customer_name=f"Customer {rng.randint(1, 50)}",
                    customer_email=f"c{n}@example.com",
                    subject=rng.choice(["Printer jam", "Refund", "Login fails"]),
                    message="m",
                    status=rng.choice(Status.values),
                    priority=rng.choice(Priority.values),
                    created_at=moment,
                    updated_at=moment,
                )
                for n, moment in enumerate(moments)
            )
            ticket_counts_rebuild(department=department)
    yield departments
    with django_db_blocker.unblock():
        clear_tickets()


def ids(rows) -> list[tuple[str, int]]:
    return [(r.department.slug, r.id) for r in rows]


@pytest.fixture
def rounds(monkeypatch):
    monkeypatch.setattr(limits, "DEEP_OFFSET", 10)
    monkeypatch.setattr(limits, "EXACT_TAIL", 8)


@pytest.mark.usefixtures("rounds")
@pytest.mark.parametrize(
    "sort", ["created", "subject", "reference", "priority", "assignee", "status", "department"]
)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize(
    "filters",
    [
        TicketFilters(),  # block sizes from the maintained counts
        TicketFilters(statuses=("new", "open", "closed"), priorities=(1, 3, 4)),
        # Not answered by the maintained counts: block sizes are counted.
        TicketFilters(created_from=START + timedelta(hours=3)),
    ],
    ids=["all", "counted", "date"],
)
def test_deep_pages_are_exact_on_skewed_departments(skewed, sort, descending, filters):
    query = TicketQuery(tuple(skewed), filters, sort, descending)
    expected = [
        (r["department"].slug, r["ticket"].pk)
        for r in reference_order(reference_filter(all_rows(), filters, skewed), sort, descending)
    ]
    for offset in (11, 100, 239, 240, 241, 300, len(expected) - 20, len(expected) - 2):
        page = run(query, limit=4, offset=offset)
        assert ids(page.rows) == expected[offset : offset + 4], (offset, page.examined)
    assert not run(query, limit=4, offset=len(expected) + 5).rows


@pytest.mark.usefixtures("rounds")
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_a_deep_jump_steps_over_about_the_rows_it_skips(skewed, descending):
    """Reading ``offset`` rows from each of five departments and merging them (what a single
    statement with per-arm LIMIT does) steps over up to five times the offset. The rounds stay
    within about twice the offset even when one department holds every row before it, and close
    to the offset itself where departments interleave."""
    total = sum(Ticket.objects.using(d.alias).count() for d in skewed)
    for offset in (60, 200, 230):
        page = run(
            TicketQuery(tuple(skewed), sort="created", descending=descending),
            limit=5,
            offset=offset,
        )
        assert page.rows
        assert page.examined <= 2 * offset + 5 * limits.EXACT_TAIL, (offset, page.examined)
    # Blocks of their own (status x department): one probe inside the block holding the row.
    for sort in ("status", "department", "reference"):
        query = TicketQuery(tuple(skewed), sort=sort, descending=descending)
        page = run(query, limit=5, offset=300)
        assert page.rows
        assert page.examined <= 300, (sort, page.examined)
    # The small departments interleave evenly with each other.
    small = tuple(skewed[2:])
    count = sum(Ticket.objects.using(d.alias).count() for d in small)
    assert total > count
    offset = count - 12
    page = run(TicketQuery(small, sort="created", descending=descending), limit=5, offset=offset)
    assert len(page.rows) == 5
    assert page.examined <= 1.5 * offset + 3 * limits.EXACT_TAIL, (offset, page.examined)
