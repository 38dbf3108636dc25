"""Seeding (the empty-table fast path) and later writes keep the text search index in sync."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from departments.registry import all_departments
from tests.dashboard_data import all_rows, reference_filter, reference_order
from tickets.dashboard import TicketFilters, TicketQuery, run
from tickets.models import Ticket, TicketEvent
from tickets.services import ticket_counts_rebuild

# Transactional: the engine reads on worker connections, which see only committed rows.
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def ids(rows):
    return [(r.department.slug, r.id) for r in rows]


def test_seeding_keeps_the_search_index_in_sync():
    department = all_departments()[2]
    try:
        Ticket.objects.using(department.alias).all().delete()  # the empty-table fast path
        call_command("seed_departments", tickets=60, seed=3, department=[department.slug])
        Ticket.objects.using(department.alias).filter(
            pk__in=list(Ticket.objects.using(department.alias).values_list("pk", flat=True)[:5])
        ).update(subject="Quokka sighting")
        rows = [r for r in all_rows() if r["department"] == department]
        for term in ("quokka", "example", "ticket"):
            matched = reference_filter(rows, TicketFilters(search=term), [department])
            query = TicketQuery((department,), TicketFilters(search=term), "reference", False)
            got = ids(run(query, limit=500).rows)
            assert got == [
                (department.slug, r["ticket"].pk)
                for r in reference_order(matched, "reference", False)
            ], term
        assert (
            len(ids(run(TicketQuery((department,), TicketFilters(search="quokka")), limit=50).rows))
            == 5
        )
    finally:
        TicketEvent.objects.using(department.alias).all().delete()
        Ticket.objects.using(department.alias).all().delete()
        ticket_counts_rebuild(department=department)
