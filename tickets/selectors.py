"""Reads of department data that are more than one ORM call."""

from __future__ import annotations

from departments.registry import Department
from tickets.models import Ticket
from tickets.references import InvalidReference, department_for_reference


def ticket_find_by_reference(reference: str) -> tuple[Department, Ticket] | None:
    """The ticket a reference names, read from the one database its code points at."""
    try:
        department, normalized = department_for_reference(reference)
    except InvalidReference:
        return None
    ticket = Ticket.objects.using(department.alias).filter(reference=normalized).first()
    return (department, ticket) if ticket else None


def ticket_counts(department: Department) -> dict[tuple[str, int], int]:
    """The maintained (status, priority) counts of one department."""
    from tickets.models import TicketCount

    return {
        (row.status, row.priority): row.count for row in TicketCount.objects.using(department.alias)
    }
