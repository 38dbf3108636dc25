"""The customer's side of the thread: their replies (from their ticket page or by email) and
fresh links to their ticket. Staff replies and notes are ``tickets.services.ticket_update``.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from departments.errors import uses_department
from departments.registry import Department
from tickets.attachments.batch import AttachmentBatch
from tickets.mail.outbox import enqueue_for_customer, enqueue_for_staff
from tickets.models import Channel, Message, OutboxEmail, Status, Ticket, TicketEvent, Visibility
from tickets.services import bump_counts

# A customer's reply brings a ticket that waits for them, or that was resolved, back to staff.
REOPENED_BY_REPLY = frozenset({Status.PENDING, Status.RESOLVED})


class TicketClosed(Exception):
    """Closed tickets take no more replies: the customer opens a new ticket instead."""

    def __init__(self, ticket: Ticket):
        super().__init__(ticket.reference)
        self.ticket = ticket


def dedupe_key(*parts: str) -> str:
    """One arrival's key (a Message-ID, or a web reply's token and text)."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


@uses_department("add your reply")
def customer_reply(
    *,
    department: Department,
    ticket_id: int,
    body: str,
    channel: str = Channel.WEB,
    key: str | None = None,
    attachments: AttachmentBatch | None = None,
    notify: bool = True,
) -> Message:
    """Add the customer's reply to the thread, in one transaction with what it causes: a
    Pending or Resolved ticket is Open again, and the assignee is told (outbox) unless
    ``notify=False`` (a sender over the email reply limit: the mail is kept, the flood of
    "customer replied" emails is not).

    ``key`` (see ``dedupe_key``) makes it idempotent: the same arrival again returns the
    message it made and writes nothing (its files, stored again, are removed again by
    ``attachments_stored``). Raises ``TicketClosed`` for a closed ticket.
    """
    alias = department.alias
    body = body.strip()
    if key:
        earlier = Message.objects.using(alias).filter(dedupe_key=key).first()
        if earlier is not None:
            return earlier
    try:
        with transaction.atomic(using=alias):
            ticket = Ticket.objects.using(alias).select_for_update().get(pk=ticket_id)
            if ticket.status == Status.CLOSED:
                raise TicketClosed(ticket)
            now = timezone.now()
            message = Message.objects.using(alias).create(
                ticket=ticket,
                author_id=None,
                author_name=ticket.customer_name[:150],
                from_customer=True,
                visibility=Visibility.PUBLIC,
                channel=channel,
                body=body,
                created_at=now,
                dedupe_key=key,
            )
            if attachments:
                attachments.record(
                    ticket=ticket,
                    message=message,
                    uploader_id=None,
                    uploader_name=message.author_name,
                    created_at=now,
                )
            events = [
                TicketEvent(
                    ticket=ticket,
                    kind=TicketEvent.Kind.CUSTOMER_REPLIED,
                    actor_name="",
                    new_value=channel,
                    created_at=now,
                )
            ]
            old_status = ticket.status
            if old_status in REOPENED_BY_REPLY:
                ticket.status = Status.OPEN
                ticket.resolved_at = None
                events.append(
                    TicketEvent(
                        ticket=ticket,
                        kind=TicketEvent.Kind.STATUS_CHANGED,
                        actor_name="",
                        old_value=old_status,
                        new_value=Status.OPEN,
                        created_at=now,
                    )
                )
                bump_counts(
                    alias,
                    [(old_status, ticket.priority, -1), (Status.OPEN, ticket.priority, +1)],
                )
            ticket.version += 1
            ticket.updated_at = now
            ticket.save(
                using=alias, update_fields=["status", "resolved_at", "version", "updated_at"]
            )
            TicketEvent.objects.using(alias).bulk_create(events)
            if notify and ticket.assignee_id is not None:
                enqueue_for_staff(
                    alias,
                    OutboxEmail.Kind.CUSTOMER_REPLIED,
                    ticket,
                    staff_user_id=ticket.assignee_id,
                    message=body,
                    **({"attachments": len(attachments)} if attachments else {}),
                )
            return message
    except IntegrityError:
        # Two deliveries of one arrival at once: the unique key let one through.
        if key:
            earlier = Message.objects.using(alias).filter(dedupe_key=key).first()
            if earlier is not None:
                return earlier
        raise


@uses_department("send a new link")
def customer_link_send(*, department: Department, ticket: Ticket) -> OutboxEmail:
    """Queue an email with a fresh link to the ticket, to the ticket's own address only."""
    return enqueue_for_customer(department.alias, OutboxEmail.Kind.LINK, ticket)


@uses_department("answer your email")
def customer_told_closed(*, department: Department, ticket: Ticket, new_reference: str) -> None:
    """Tell the customer their mail to a closed ticket became a new ticket."""
    enqueue_for_customer(
        department.alias, OutboxEmail.Kind.CLOSED, ticket, new_reference=new_reference
    )
