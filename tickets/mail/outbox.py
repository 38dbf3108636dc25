"""Writing to the outbox: called inside the transaction of the change that causes the email.

Only facts go in the row (reference, subject, the reply's text, ...); templates turn them into
an email when ``deliver_outbox`` sends it, and staff recipients are read then too, so a row
written here never depends on the mail server or the system database being up.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.utils import timezone

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


def _customer_row(kind: str, ticket: Ticket, *, recipient: str = "", **facts: Any) -> OutboxEmail:
    assert kind in CUSTOMER_KINDS, kind
    return OutboxEmail(
        ticket=ticket,
        kind=kind,
        recipient=recipient or ticket.customer_email,
        context={**ticket_facts(ticket), **facts},
        message_id=new_message_id(ticket.reference),
    )


def _staff_row(
    kind: str, ticket: Ticket, *, staff_user_id: int | None = None, **facts: Any
) -> OutboxEmail:
    assert kind in STAFF_KINDS, kind
    return OutboxEmail(
        ticket=ticket,
        kind=kind,
        staff_user_id=staff_user_id,
        context={**ticket_facts(ticket), **facts},
        message_id=new_message_id(ticket.reference),
    )


def enqueue_for_customer(
    alias: str, kind: str, ticket: Ticket, *, recipient: str = "", **facts: Any
) -> OutboxEmail:
    row = _customer_row(kind, ticket, recipient=recipient, **facts)
    row.save(using=alias, force_insert=True)
    return row


def enqueue_for_staff(
    alias: str, kind: str, ticket: Ticket, *, staff_user_id: int | None = None, **facts: Any
) -> OutboxEmail:
    """``staff_user_id``: the one person it is for (assigned, customer replied); None for a new
    ticket, which goes to every active member of the department who opted in."""
    row = _staff_row(kind, ticket, staff_user_id=staff_user_id, **facts)
    row.save(using=alias, force_insert=True)
    return row


# Columns of the INSERT of a new ticket's row, in order (see enqueue_new_ticket).
_COLUMNS = (
    "ticket_id", "kind", "recipient", "staff_user_id", "context", "message_id", "state",
    "attempts", "next_attempt_at", "claimed_until", "claim", "last_error", "created_at", "sent_at",
)  # fmt: skip
# Values the database driver cannot take as they are (JSON, aware datetimes): the field says how.
_PREPARED = frozenset({"context", "next_attempt_at", "created_at"})


def enqueue_new_ticket(
    alias: str, ticket: Ticket, *, attachments: int = 0, confirm: bool = True
) -> None:
    """The customer's confirmation of a new ticket, which also carries the opted-in staff's
    alert (``alert_staff``: ``deliver_outbox`` sends both from this one row, see
    ``tickets.mail.compose.build_messages``). ``confirm=False`` (a sender over the email
    confirmation limit, see ``tickets.mail.inbound``): only the staff alert, as a NEW_TICKET
    row of its own, so an auto-responder writing to us is not answered again and again.

    Every submission pays for this row, so it is one row and one plain INSERT: through the ORM
    it cost a submission about 35% (SQLite, bench/outbox.py), compiling the statement and
    preparing 14 values; most of those values need no preparing. A second row for the staff
    alert cost another 10%.
    """
    connection = connections[alias]
    meta = OutboxEmail._meta
    now = timezone.now()
    facts = {
        **ticket_facts(ticket),
        "message": ticket.message,
        **({"attachments": attachments} if attachments else {}),
    }
    if confirm:
        row = {
            "kind": Kind.RECEIVED.value,
            "recipient": ticket.customer_email,
            "context": {**facts, "alert_staff": True},
        }
    else:
        row = {"kind": Kind.NEW_TICKET.value, "recipient": "", "context": facts}
    rows = [{**row, "staff_user_id": None}]
    pending = OutboxEmail.State.PENDING.value
    params: list[Any] = []
    for row in rows:
        values = {
            **row,
            "ticket_id": ticket.pk,
            "message_id": new_message_id(ticket.reference),
            "state": pending,
            "attempts": 0,
            "next_attempt_at": now,
            "claimed_until": None,
            "claim": "",
            "last_error": "",
            "created_at": now,
            "sent_at": None,
        }
        for name in _PREPARED:
            values[name] = meta.get_field(name).get_db_prep_save(values[name], connection)
        params.extend(values[name] for name in _COLUMNS)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _COLUMNS)
    values = ", ".join(["(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {values}", params)
