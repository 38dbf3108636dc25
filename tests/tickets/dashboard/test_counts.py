"""Counts the dashboard shows stay exact through creates, status changes and deletes.

Transactional: the engine reads on its own connections, which see only committed writes.
"""

from __future__ import annotations

import pytest

from departments.registry import all_departments
from tests.factories import TicketFactory
from tickets.dashboard import TicketFilters, TicketQuery, run
from tickets.models import Priority, Status
from tickets.services import CUSTOMER, ticket_change_status, ticket_delete

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def dashboard_count(filters: TicketFilters | None = None, departments=None) -> tuple[int, bool]:
    query = TicketQuery(tuple(departments or all_departments()), filters or TicketFilters())
    result = run(query, count=True, limit=100)
    assert not result.unavailable
    # The count always agrees with the rows it describes.
    assert len(result.rows) == result.count.value
    return result.count.value, result.count.exact


def test_counts_follow_every_write(tech, billing):
    tickets = [TicketFactory(department=tech, priority=Priority.HIGH) for _ in range(3)]
    tickets.append(TicketFactory(department=billing, priority=Priority.LOW))
    assert dashboard_count() == (4, True)
    assert dashboard_count(TicketFilters(statuses=(Status.NEW,))) == (4, True)
    assert dashboard_count(TicketFilters(priorities=(Priority.HIGH,))) == (3, True)

    ticket_change_status(
        department=tech,
        ticket_id=tickets[0].pk,
        expected_version=tickets[0].version,
        status=Status.CLOSED,
        actor=CUSTOMER,
    )
    assert dashboard_count(TicketFilters(statuses=(Status.NEW,))) == (3, True)
    assert dashboard_count(TicketFilters(statuses=(Status.CLOSED,))) == (1, True)
    assert dashboard_count(TicketFilters(statuses=(Status.CLOSED,)), [billing]) == (0, True)

    ticket_delete(department=tech, ticket_id=tickets[1].pk)
    assert dashboard_count() == (3, True)
    assert dashboard_count(TicketFilters(priorities=(Priority.HIGH,))) == (2, True)
    # Filters beyond (status, priority) count rows (capped) and agree.
    assert dashboard_count(TicketFilters(search=tickets[2].customer_email)) == (1, True)
    assert dashboard_count(TicketFilters(unassigned=True)) == (3, True)


def test_recount_command_repairs_drifted_counts(tech, capsys):
    from django.core.management import call_command

    from tickets.models import TicketCount

    TicketFactory(department=tech)
    TicketCount.objects.using(tech.alias).update(count=99)
    drifted = run(TicketQuery((tech,)), count=True).count
    assert drifted.value == 99 * TicketCount.objects.using(tech.alias).count()
    call_command("recount_tickets", department=[tech.slug])
    assert dashboard_count(TicketFilters(), [tech]) == (1, True)
    assert "Technical Issues: 1 ticket" in capsys.readouterr().out


def test_recount_command_names_unknown_departments():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown department 'nope'"):
        call_command("recount_tickets", department=["nope"])
