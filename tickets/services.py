"""Writes to department data. Every function names its department and runs in one transaction
on that department's database, keeping the audit trail and the per-(status, priority) counts in
step with the ticket.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import Count
from django.utils import timezone

from departments.errors import uses_department
from departments.fanout.dialects import dialect_of
from departments.registry import Department
from tickets.attachments.batch import AttachmentBatch, delete_after_commit
from tickets.attachments.uploads import Upload
from tickets.mail.outbox import enqueue_for_customer, enqueue_for_staff, enqueue_new_ticket
from tickets.models import (
    DONE_STATUSES,
    Attachment,
    Channel,
    Message,
    OutboxEmail,
    Priority,
    Status,
    Ticket,
    TicketCount,
    TicketEvent,
    Visibility,
)
from tickets.references import new_reference

MSG_STALE = (
    "This ticket was changed by someone else after you opened it. Review the latest version; "
    "your note has been kept."
)
MSG_NOTHING_TO_SAVE = (
    "Nothing changed: choose a new status, priority or assignee, or write a reply or a note."
)
MSG_ASSIGNEE_NOT_MEMBER = "That person is not staff of this department."
MSG_INACTIVE_ASSIGNEE = "That person's account is disabled."
MSG_FILES_NEED_MESSAGE = "Files go with a reply or a note: write one, or remove the files."
_REFERENCE_ATTEMPTS = 8


class TicketConflict(ValidationError):
    """The ticket changed since the caller read it (optimistic locking)."""


@dataclass(frozen=True)
class Actor:
    """Who did something: a staff user, or nobody (the customer through the public form)."""

    id: int | None
    name: str

    @classmethod
    def from_user(cls, user) -> Actor:
        # Names are snapshots in 150-character columns; a long full name must not fail a save.
        return cls(id=user.pk, name=(user.get_full_name() or user.get_username())[:150])


CUSTOMER = Actor(id=None, name="Customer")


def _staff_name(user_id: int | None) -> str:
    """The name history shows for a stored user id (staff live in the system database)."""
    if user_id is None:
        return ""
    user = get_user_model().objects.filter(pk=user_id).first()
    return Actor.from_user(user).name if user else f"Former staff #{user_id}"


def _count_update_sql(connection) -> str:
    q = connection.ops.quote_name
    count = q(TicketCount._meta.get_field("count").column)
    return (
        f"UPDATE {q(TicketCount._meta.db_table)} SET {count} = {count} + %s "
        f"WHERE {q(TicketCount._meta.get_field('status').column)} = %s "
        f"AND {q(TicketCount._meta.get_field('priority').column)} = %s"
    )


def _count_upsert_sql(connection) -> str:
    fields = [TicketCount._meta.get_field(name).column for name in ("status", "priority")]
    return dialect_of(connection).add_or_insert_sql(
        TicketCount._meta.db_table, tuple(fields), TicketCount._meta.get_field("count").column
    )


def bump_counts(alias: str, changes: Iterable[tuple[str, int, int]]) -> None:
    """Apply (status, priority, delta) changes to the count rows.

    Rows are touched in key order so two transactions moving tickets in opposite directions
    cannot deadlock on each other's count rows.
    """
    connection = connections[alias]
    for status, priority, delta in sorted(changes):
        if delta == 0:
            continue
        # Every ticket write runs this: plain SQL spares the ORM compiling the same UPDATE each
        # time. Names come from the model.
        with connection.cursor() as cursor:
            cursor.execute(_count_update_sql(connection), [delta, status, priority])
            updated = cursor.rowcount
        if not updated:
            # Migrations create every row; this covers a table emptied by hand (or restored
            # without it). One upsert: concurrent first writers deadlocked on InnoDB when each
            # tried an INSERT, failed on the duplicate and then UPDATEd.
            with connection.cursor() as cursor:
                cursor.execute(_count_upsert_sql(connection), [status, priority, delta])


def sent_ticket(
    *,
    customer_name: str,
    customer_email: str,
    subject: str,
    message: str,
    customer_phone: str = "",
    priority: int = Priority.NORMAL,
) -> Ticket:
    """An unsaved ticket holding what a submission sent, as it is stored (trimmed)."""
    return Ticket(
        customer_name=customer_name.strip(),
        customer_email=customer_email.strip(),
        customer_phone=customer_phone.strip(),
        subject=subject.strip(),
        message=message.strip(),
        priority=priority,
    )


def submission_key(*, token: str, ticket: Ticket, attachments: Iterable[Upload] = ()) -> str:
    """The idempotency key of one form submission: its one-time token and what it says.

    The same POST again (a double click, a browser or proxy retry) gives the same key. The same
    form sent again with something changed (back, fix the email address, send) is a new ticket,
    and a replayed token alone never reveals a ticket it was not sent with. Attached files
    count by name and content (SHA-256): the same files again are the same submission; other
    files, a new ticket.
    """
    sent = [
        token,
        ticket.customer_name,
        ticket.customer_email,
        ticket.customer_phone,
        ticket.subject,
        ticket.message,
        ticket.priority,
    ]
    files = sorted(upload.identity for upload in attachments)
    if files:  # without files, the key a ticket got before attachments existed
        sent.append(files)
    return hashlib.sha256(json.dumps(sent).encode()).hexdigest()


@uses_department("save your ticket")
def ticket_create(
    *,
    department: Department,
    customer_name: str,
    customer_email: str,
    subject: str,
    message: str,
    customer_phone: str = "",
    priority: int = Priority.NORMAL,
    actor: Actor = CUSTOMER,
    submission_token: str = "",
    channel: str = Channel.WEB,
    attachments: AttachmentBatch | None = None,
    confirm: bool = True,
) -> Ticket:
    """Create a ticket, its ``created`` event and its count in one transaction, with the rows
    of ``attachments`` (stored by ``attachments_stored``) for its first message.

    With a ``submission_token`` (the public form's one-time token) this is idempotent: if this
    department already has the ticket that token and these values (and files) made, that
    ticket is returned and nothing is written, also when both requests arrive at once. The
    returned ticket's ``replayed`` attribute says which: True for that earlier ticket (the
    caller must not write what a new ticket causes, e.g. a notice, a second time), False for
    one made now.

    ``confirm=False``: no confirmation email to the customer, only the staff alert (see
    ``enqueue_new_ticket``).
    """
    alias = department.alias
    now = timezone.now()
    ticket = sent_ticket(
        customer_name=customer_name,
        customer_email=customer_email,
        customer_phone=customer_phone,
        subject=subject,
        message=message,
        priority=priority,
    )
    ticket.created_at = ticket.updated_at = now
    ticket.channel = channel
    ticket.reference = new_reference(department)
    files = attachments.uploads if attachments else []
    if submission_token:
        ticket.submission_key = submission_key(
            token=submission_token, ticket=ticket, attachments=files
        )
    # Django's unique checks ignore the instance's database (they query the default manager),
    # so uniqueness is left to the database constraint and the retry below.
    ticket.full_clean(validate_unique=False, validate_constraints=False)
    for attempt in range(_REFERENCE_ATTEMPTS):
        try:
            # The insert comes first, so a reference clash has nothing else to undo: the whole
            # transaction is tried again, rather than paying a savepoint on every ticket.
            with transaction.atomic(using=alias):
                ticket.save(using=alias, force_insert=True)
                TicketEvent.objects.using(alias).create(
                    ticket=ticket,
                    kind=TicketEvent.Kind.CREATED,
                    actor_id=actor.id,
                    actor_name=actor.name,
                    new_value=Status.NEW,
                    created_at=now,
                )
                bump_counts(alias, [(ticket.status, ticket.priority, +1)])
                if attachments:
                    attachments.record(
                        ticket=ticket,
                        message=None,
                        uploader_id=actor.id,
                        uploader_name=actor.name if actor.id else ticket.customer_name,
                        created_at=now,
                    )
                # The customer's confirmation and the opted-in agents' alert, sent later by
                # deliver_outbox: written with the ticket, or not at all. Files are never
                # emailed; the count lets the email point to the ticket page.
                enqueue_new_ticket(alias, ticket, attachments=len(files), confirm=confirm)
            ticket.replayed = False
            return ticket
        except IntegrityError:
            # The unique key, not a look-up first, decides between two requests racing with
            # the same submission: the loser's insert waits for the winner's commit, fails, and
            # reads the winner's ticket (committed, so visible to this new statement).
            if ticket.submission_key is not None:
                same = Ticket.objects.using(alias).filter(submission_key=ticket.submission_key)
                existing = same.first()
                if existing is not None:
                    existing.replayed = True  # made by the other request; nothing written here
                    return existing
            # A reference clash is about one in 600,000 at a million tickets: draw again.
            # Any other integrity error is a real problem and propagates.
            clash = Ticket.objects.using(alias).filter(reference=ticket.reference).exists()
            if not clash or attempt == _REFERENCE_ATTEMPTS - 1:
                raise
            ticket.pk = None  # nothing of the failed attempt was kept
            ticket._state.adding, ticket._state.db = True, None
            ticket.reference = new_reference(department)
    raise AssertionError("unreachable: the last attempt returns or raises")


@uses_department("save your changes")
def ticket_update(
    *,
    department: Department,
    ticket_id: int,
    expected_version: int,
    actor: Actor,
    status: str | None = None,
    priority: int | None = None,
    assignee=None,
    unassign: bool = False,
    note: str = "",
    reply: str = "",
    attachments: AttachmentBatch | None = None,
) -> Ticket:
    """Change status, priority and/or assignee and add an internal note and/or a public reply,
    all or nothing, with the emails it causes written to the outbox in the same transaction.
    ``attachments`` go with the reply (or, without one, the note).

    ``expected_version`` is the version the caller saw; if the ticket has moved on since,
    :class:`TicketConflict` is raised and nothing is written. ``assignee`` is a staff user who
    must belong to the department; ``unassign=True`` clears the assignee.
    """
    alias = department.alias
    note, reply = note.strip(), reply.strip()
    if attachments and not (note or reply):
        raise ValidationError({"attachments": MSG_FILES_NEED_MESSAGE}, code="files_alone")
    with transaction.atomic(using=alias):
        ticket = Ticket.objects.using(alias).select_for_update().get(pk=ticket_id)
        if ticket.version != expected_version:
            raise TicketConflict(MSG_STALE, code="stale")
        now = timezone.now()
        events: list[TicketEvent] = []
        old_key = (ticket.status, ticket.priority)
        old_assignee = ticket.assignee_id

        def event(kind: str, old: str, new: str) -> None:
            events.append(
                TicketEvent(
                    ticket=ticket,
                    kind=kind,
                    actor_id=actor.id,
                    actor_name=actor.name,
                    old_value=old,
                    new_value=new,
                    created_at=now,
                )
            )

        if status is not None and status != ticket.status:
            if status not in Status.values:
                raise ValidationError({"status": f"Unknown status {status!r}."})
            event(TicketEvent.Kind.STATUS_CHANGED, ticket.status, status)
            ticket.status = status
            if status in DONE_STATUSES:
                ticket.resolved_at = ticket.resolved_at or now
            else:
                ticket.resolved_at = None
        if priority is not None and priority != ticket.priority:
            if priority not in Priority.values:
                raise ValidationError({"priority": f"Unknown priority {priority!r}."})
            event(
                TicketEvent.Kind.PRIORITY_CHANGED,
                Priority(ticket.priority).label,
                Priority(priority).label,
            )
            ticket.priority = priority
        if unassign and ticket.assignee_id is not None:
            event(TicketEvent.Kind.ASSIGNED, _staff_name(ticket.assignee_id), "")
            ticket.assignee_id = None
        elif assignee is not None and assignee.pk != ticket.assignee_id:
            if not assignee.is_active:
                raise ValidationError({"assignee": MSG_INACTIVE_ASSIGNEE})
            if not assignee.can_access(department):
                raise ValidationError({"assignee": MSG_ASSIGNEE_NOT_MEMBER})
            event(
                TicketEvent.Kind.ASSIGNED,
                _staff_name(ticket.assignee_id),
                Actor.from_user(assignee).name,
            )
            ticket.assignee_id = assignee.pk
        if not events and not note and not reply:
            raise ValidationError(MSG_NOTHING_TO_SAVE, code="nothing")

        ticket.version += 1
        ticket.updated_at = now
        if reply and ticket.first_response_at is None:
            ticket.first_response_at = now
        ticket.full_clean(validate_unique=False, validate_constraints=False)
        ticket.save(using=alias)
        written: Message | None = None
        for body, visibility, kind in (
            (note, Visibility.INTERNAL, TicketEvent.Kind.NOTE_ADDED),
            (reply, Visibility.PUBLIC, TicketEvent.Kind.REPLIED),
        ):
            if body:
                written = Message.objects.using(alias).create(
                    ticket=ticket,
                    author_id=actor.id,
                    author_name=actor.name,
                    visibility=visibility,
                    body=body,
                    created_at=now,
                )
                event(kind, "", "")
        if attachments:
            attachments.record(
                ticket=ticket,
                message=written,
                uploader_id=actor.id,
                uploader_name=actor.name,
                created_at=now,
            )
        TicketEvent.objects.using(alias).bulk_create(events)
        new_key = (ticket.status, ticket.priority)
        if new_key != old_key:
            bump_counts(alias, [(*old_key, -1), (*new_key, +1)])
        files = len(attachments) if attachments and reply else 0
        _enqueue_update_emails(alias, ticket, actor, reply, old_key[0], old_assignee, files)
    return ticket


def _enqueue_update_emails(
    alias: str,
    ticket: Ticket,
    actor: Actor,
    reply: str,
    old_status: str,
    old_assignee,
    files: int = 0,
) -> None:
    """The emails one staff change causes. A reply that also resolves the ticket is one email
    saying both; a note never causes a customer email. A reply's files are not attached: the
    email can say how many wait on the ticket page."""
    Kind = OutboxEmail.Kind
    status_changed = ticket.status != old_status
    if reply:
        enqueue_for_customer(
            alias,
            Kind.REPLY,
            ticket,
            message=reply,
            author_name=actor.name,
            status_changed=status_changed,
            **({"attachments": files} if files else {}),
        )
    elif status_changed and ticket.status == Status.RESOLVED:
        enqueue_for_customer(alias, Kind.RESOLVED, ticket)
    if ticket.assignee_id not in (None, old_assignee, actor.id):
        enqueue_for_staff(
            alias, Kind.ASSIGNED, ticket, staff_user_id=ticket.assignee_id, by=actor.name
        )


def ticket_change_status(
    *,
    department: Department,
    ticket_id: int,
    expected_version: int,
    status: str,
    actor: Actor,
    note: str = "",
) -> Ticket:
    """Move a ticket to ``status`` with an optional note, in one transaction."""
    return ticket_update(
        department=department,
        ticket_id=ticket_id,
        expected_version=expected_version,
        actor=actor,
        status=status,
        note=note,
    )


def ticket_delete(*, department: Department, ticket_id: int) -> None:
    """Delete a ticket with its messages, events, unsent emails and files, keeping the counts
    exact. The files' bytes are deleted once the rows' deletion commits."""
    alias = department.alias
    with transaction.atomic(using=alias):
        ticket = Ticket.objects.using(alias).select_for_update().get(pk=ticket_id)
        key = (ticket.status, ticket.priority)
        keys = list(
            Attachment.objects.using(alias)
            .filter(ticket_id=ticket.pk)
            .values_list("storage_key", flat=True)
        )
        ticket.delete(using=alias)
        bump_counts(alias, [(*key, -1)])
        delete_after_commit(department, keys)


def ticket_counts_rebuild(*, department: Department) -> dict[tuple[str, int], int]:
    """Recount every (status, priority) from the tickets table; returns the new counts."""
    alias = department.alias
    with transaction.atomic(using=alias):
        # Lock out concurrent writers' count updates while we rebuild.
        list(TicketCount.objects.using(alias).select_for_update())
        actual = {
            (row["status"], row["priority"]): row["n"]
            for row in Ticket.objects.using(alias)
            .order_by()
            .values("status", "priority")
            .annotate(n=Count("id"))
        }
        TicketCount.objects.using(alias).all().delete()
        TicketCount.objects.using(alias).bulk_create(
            TicketCount(status=status, priority=priority, count=actual.get((status, priority), 0))
            for status in Status.values
            for priority in Priority.values
        )
    return actual
