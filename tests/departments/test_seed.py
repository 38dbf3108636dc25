"""seed_departments: many believable tickets quickly, with exact counts and events."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from tests.factories import SuperadminFactory
from tickets.dashboard import TicketQuery, run
from tickets.models import Ticket, TicketEvent
from tickets.selectors import ticket_counts

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def index_names(department) -> set[str]:
    from django.db import connections

    connection = connections[department.alias]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Ticket._meta.db_table)
    return {name for name, info in constraints.items() if info["index"]}


def test_seed_adds_tickets_events_and_exact_counts(departments, capsys):
    admin = SuperadminFactory()
    indexes_before = {d.slug: index_names(d) for d in departments}
    call_command("seed_departments", tickets=503, seed=7, batch_size=40)
    # Indexes dropped for the bulk load into empty tables are all back.
    assert {d.slug: index_names(d) for d in departments} == indexes_before
    assert "ticket_created_idx" in indexes_before[departments[0].slug]
    out = capsys.readouterr().out
    assert "503 tickets in" in out
    total = 0
    for department in departments:
        tickets = Ticket.objects.using(department.alias)
        n = tickets.count()
        assert n in (100, 101)
        total += n
        assert all(
            r.startswith(f"{department.code}-") for r in tickets.values_list("reference", flat=True)
        )
        assert TicketEvent.objects.using(department.alias).filter(kind="created").count() == n
        true = {
            (r["status"], r["priority"]): r["n"]
            for r in tickets.order_by().values("status", "priority").annotate(n=Count("id"))
        }
        assert {k: v for k, v in ticket_counts(department).items() if v} == true
        assert set(tickets.exclude(assignee_id=None).values_list("assignee_id", flat=True)) <= {
            admin.pk
        }
        # Created times grow with ids, as for real tickets.
        created = list(tickets.order_by("id").values_list("created_at", flat=True))
        assert created == sorted(created)
    assert total == 503
    result = run(TicketQuery(tuple(departments)), count=True, limit=1)
    assert result.count.value == 503 and result.count.exact


def test_seed_is_repeatable_and_adds_to_existing(tech):
    call_command("seed_departments", tickets=20, seed=3, department=[tech.slug])
    first = list(Ticket.objects.using(tech.alias).order_by("id").values_list("subject", "status"))
    call_command("seed_departments", tickets=20, seed=3, department=[tech.slug])
    both = list(Ticket.objects.using(tech.alias).order_by("id").values_list("subject", "status"))
    assert both[:20] == first and both[20:] == first
    assert Ticket.objects.using(tech.alias).values("reference").distinct().count() == 40


def test_seeding_departments_at_once_writes_the_same_tickets(departments):
    """--jobs 2 seeds two departments at a time on their own connections; each department's
    generator is seeded up front, so the data does not depend on which thread ran first."""

    def snapshot():
        return {
            d.slug: list(
                Ticket.objects.using(d.alias)
                .order_by("id")
                .values_list("reference", "subject", "status", "priority", "customer_email")
            )
            for d in departments
        }

    call_command("seed_departments", tickets=41, seed=9, jobs=1)
    alone = snapshot()
    for department in departments:
        TicketEvent.objects.using(department.alias).all().delete()
        Ticket.objects.using(department.alias).all().delete()
    call_command("seed_departments", tickets=41, seed=9, jobs=3)
    assert snapshot() == alone
    assert sum(len(rows) for rows in alone.values()) == 41


def test_seed_rejects_bad_options():
    with pytest.raises(CommandError, match="Unknown department"):
        call_command("seed_departments", tickets=5, department=["nowhere"])
    with pytest.raises(CommandError, match="0 or more"):
        call_command("seed_departments", tickets=-1)
    with pytest.raises(CommandError, match="--jobs"):
        call_command("seed_departments", tickets=1, jobs=0)
