"""Writing to the outbox: called inside the transaction of the change that causes the email.

Only facts go in the row (reference, subject, the reply's text, ...); templates turn them into
an email when ``deliver_outbox`` sends it, and staff recipients are read then too, so a row
written here never depends on the mail server or the system database being up.
"""

from __future__ import annotations

from typing import Any

from tickets.mail.addresses import new_message_id
from tickets.models import OutboxEmail, Ticket

Kind = OutboxEmail.Kind

CUSTOMER_KINDS = frozenset({Kind.RECEIVED, Kind.REPLY, Kind.RESOLVED, Kind.LINK, Kind.CLOSED})
STAFF_KINDS = frozenset({Kind.NEW_TICKET, Kind.ASSIGNED, Kind.CUSTOMER_REPLIED})


def ticket_facts(ticket: Ticket) -> dict[str, Any]:
    """What every email about a ticket may mention, as it is now."""
    return {
        "reference": ticket.reference,
        "subject": ticket.subject,
        "customer_name": ticket.customer_name,
        "status": ticket.status,
        "status_label": ticket.get_status_display(),
    }


def enqueue_for_customer(
    alias: str, kind: str, ticket: Ticket, *, recipient: str = "", **facts: Any
) -> OutboxEmail:
    assert kind in CUSTOMER_KINDS, kind
    return OutboxEmail.objects.using(alias).create(
        ticket=ticket,
        kind=kind,
        recipient=recipient or ticket.customer_email,
        context={**ticket_facts(ticket), **facts},
        message_id=new_message_id(ticket.reference),
    )


def enqueue_for_staff(
    alias: str, kind: str, ticket: Ticket, *, staff_user_id: int | None = None, **facts: Any
) -> OutboxEmail:
    """``staff_user_id``: the one person it is for (assigned, customer replied); None for a new
    ticket, which goes to every active member of the department who opted in."""
    assert kind in STAFF_KINDS, kind
    return OutboxEmail.objects.using(alias).create(
        ticket=ticket,
        kind=kind,
        staff_user_id=staff_user_id,
        context={**ticket_facts(ticket), **facts},
        message_id=new_message_id(ticket.reference),
    )
