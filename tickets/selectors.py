"""Reads of department data that are more than one ORM call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from departments.errors import department_errors, uses_department
from departments.registry import Department
from tickets.attachments.selectors import attach_files
from tickets.attachments.uploads import Upload
from tickets.models import Attachment, Message, Ticket, TicketCount, TicketEvent, Visibility
from tickets.references import InvalidReference, department_for_reference
from tickets.services import sent_ticket, submission_key

logger = logging.getLogger(__name__)


def ticket_find_by_reference(
    reference: str, *, what: str = "open this ticket"
) -> tuple[Department, Ticket] | None:
    """The ticket a reference names, read from the one database its code points at."""
    try:
        department, normalized = department_for_reference(reference)
    except InvalidReference:
        return None
    with department_errors(department, what):
        ticket = Ticket.objects.using(department.alias).filter(reference=normalized).first()
    return (department, ticket) if ticket else None


@uses_department("save your ticket")
def ticket_for_submission(
    department: Department,
    *,
    submission_token: str,
    attachments: Sequence[Upload] = (),
    **sent,
) -> Ticket | None:
    """The ticket this exact form submission (``sent``: ``sent_ticket``'s fields, and the
    files) already made in ``department``, if any."""
    key = submission_key(
        token=submission_token, ticket=sent_ticket(**sent), attachments=attachments
    )
    return Ticket.objects.using(department.alias).filter(submission_key=key).first()


def ticket_counts(department: Department) -> dict[tuple[str, int], int]:
    """The maintained (status, priority) counts of one department."""
    return {
        (row.status, row.priority): row.count for row in TicketCount.objects.using(department.alias)
    }


def ticket_find_for_customer(*, reference: str, email: str) -> tuple[Department, Ticket] | None:
    """The ticket if ``reference`` exists and was submitted from ``email`` (any letter case).

    A wrong email and an unknown reference both give ``None``: callers cannot tell them apart,
    so the status page reveals nothing about other people's tickets.
    """
    found = ticket_find_by_reference(reference, what="check this ticket")
    if found is None:
        return None
    if found[1].customer_email.strip().casefold() != email.strip().casefold():
        return None
    return found


# What a customer's history shows: when the ticket arrived and how its status moved. Notes,
# assignments and priorities are internal.
CUSTOMER_EVENT_KINDS = (TicketEvent.Kind.CREATED, TicketEvent.Kind.STATUS_CHANGED)


@uses_department("show this ticket")
def ticket_customer_history(department: Department, ticket: Ticket) -> list[TicketEvent]:
    return list(
        TicketEvent.objects.using(department.alias).filter(
            ticket_id=ticket.pk, kind__in=CUSTOMER_EVENT_KINDS
        )
    )


@dataclass(frozen=True)
class TicketDetail:
    """Everything the staff ticket page shows, read from the ticket's department database."""

    ticket: Ticket
    messages: list[Message]  # the thread after the first message, oldest first, notes included
    events: list[TicketEvent]  # oldest first
    # The first message's files; every message carries its own as ``message.files``.
    files: list[Attachment] = field(default_factory=list)


@uses_department("open this ticket")
def ticket_detail(department: Department, ticket_id: int) -> TicketDetail:
    """Raises ``Ticket.DoesNotExist`` when the department has no such ticket."""
    alias = department.alias
    ticket = Ticket.objects.using(alias).get(pk=ticket_id)
    messages = list(Message.objects.using(alias).filter(ticket_id=ticket.pk))
    return TicketDetail(
        ticket=ticket,
        messages=messages,
        events=list(TicketEvent.objects.using(alias).filter(ticket_id=ticket.pk)),
        files=attach_files(department, ticket, messages, customer=False),
    )


@uses_department("show this ticket")
def ticket_public_thread(department: Department, ticket: Ticket) -> list[Message]:
    """What the customer sees of the thread: public replies and their own, never a note.
    Each message carries its files (``message.files``)."""
    messages = list(
        Message.objects.using(department.alias).filter(
            ticket_id=ticket.pk, visibility=Visibility.PUBLIC
        )
    )
    attach_files(department, ticket, messages, customer=True)
    return messages


@uses_department("show this ticket")
def ticket_customer_files(department: Department, ticket: Ticket) -> list[Attachment]:
    """The files the customer sent with their first message."""
    return attach_files(department, ticket, [], customer=True)


@uses_department("add your reply")
def message_with_key(department: Department, key: str) -> Message | None:
    """The message one arrival (see ``tickets.conversation.dedupe_key``) already made."""
    return Message.objects.using(department.alias).filter(dedupe_key=key).first()
