"""Reading attachments: for a thread on a page, and one file for a download."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Q

from departments.errors import uses_department
from departments.registry import Department
from tickets.models import Attachment, Message, Ticket, Visibility

# What a customer may open: their first message's files and those of public messages. An
# internal note's files never, whatever link is used.
CUSTOMER_VISIBLE = Q(message__isnull=True) | Q(message__visibility=Visibility.PUBLIC)


def attach_files(
    department: Department, ticket: Ticket, messages: Sequence[Message], *, customer: bool
) -> list[Attachment]:
    """Set ``message.files`` on each of ``messages``; returns the first message's files."""
    rows = Attachment.objects.using(department.alias).filter(ticket_id=ticket.pk)
    if customer:
        rows = rows.filter(CUSTOMER_VISIBLE)
    by_message: dict[int | None, list[Attachment]] = defaultdict(list)
    for row in rows:
        by_message[row.message_id].append(row)
    for message in messages:
        message.files = by_message.get(message.pk, [])
    return by_message.get(None, [])


@uses_department("open this file")
def attachment_for_staff(department: Department, *, ticket_id: int, attachment_id: int):
    """The attachment if it belongs to that ticket; raises ``Attachment.DoesNotExist``."""
    return Attachment.objects.using(department.alias).get(pk=attachment_id, ticket_id=ticket_id)


@uses_department("open this file")
def attachment_for_customer(department: Department, *, ticket: Ticket, attachment_id: int):
    """The attachment if the customer of ``ticket`` may open it; raises
    ``Attachment.DoesNotExist`` otherwise (a note's file looks like no file at all)."""
    return (
        Attachment.objects.using(department.alias)
        .filter(CUSTOMER_VISIBLE)
        .get(pk=attachment_id, ticket_id=ticket.pk)
    )


@uses_department("remove this ticket's files")
def ticket_attachment_keys(department: Department, ticket_id: int) -> list[str]:
    return list(
        Attachment.objects.using(department.alias)
        .filter(ticket_id=ticket_id)
        .values_list("storage_key", flat=True)
    )
