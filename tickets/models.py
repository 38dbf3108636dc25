"""Department-scoped models: every department database holds these tables and nothing else.

Rows never reference the system database with a foreign key (it is another database); staff are
stored as plain user ids with a name snapshot where history must survive the user.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


# Resolved and closed tickets carry `resolved_at`; reopening clears it.
DONE_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED})


class Priority(models.IntegerChoices):
    # Stored as integers so that sorting by priority sorts by urgency, not alphabetically.
    LOW = 1, "Low"
    NORMAL = 2, "Normal"
    HIGH = 3, "High"
    URGENT = 4, "Urgent"


class Ticket(models.Model):
    reference = models.CharField(max_length=16, unique=True)
    customer_name = models.CharField(max_length=120)
    customer_email = models.EmailField(max_length=254)
    customer_phone = models.CharField(max_length=32, blank=True)
    subject = models.CharField(max_length=200)
    message = models.TextField(max_length=10_000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    # A system-database user id; no foreign key can cross databases.
    assignee_id = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every change; an update that names an older version is refused.
    version = models.PositiveIntegerField(default=1)
    # The public form's one-time token hashed with what was sent (tickets.services), so the
    # same POST twice finds the first ticket instead of making a second. Null otherwise.
    submission_key = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False
    )

    class Meta:
        ordering = ("-created_at", "-id")
        # Every dashboard sort key ends in id so that keyset pagination has a unique order.
        indexes = [
            models.Index(fields=["created_at", "id"], name="ticket_created_idx"),
            models.Index(fields=["updated_at", "id"], name="ticket_updated_idx"),
            models.Index(fields=["status", "created_at", "id"], name="ticket_status_created_idx"),
            models.Index(fields=["status", "updated_at", "id"], name="ticket_status_updated_idx"),
            models.Index(
                fields=["priority", "created_at", "id"], name="ticket_priority_created_idx"
            ),
            models.Index(
                fields=["status", "priority", "created_at", "id"],
                name="ticket_stat_prio_created_idx",
            ),
            models.Index(
                fields=["assignee_id", "created_at", "id"], name="ticket_assignee_created_idx"
            ),
            models.Index(fields=["customer_email", "id"], name="ticket_email_idx"),
            models.Index(fields=["customer_name", "id"], name="ticket_customer_idx"),
            models.Index(fields=["subject", "id"], name="ticket_subject_idx"),
            # The dashboard reads status, priority and assignee sorts as (value, id) ranges.
            models.Index(fields=["status", "id"], name="ticket_status_id_idx"),
            models.Index(fields=["priority", "id"], name="ticket_priority_id_idx"),
            models.Index(fields=["assignee_id", "id"], name="ticket_assignee_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.subject}"

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES


class AdminNote(models.Model):
    """An internal note by staff; never shown to the customer."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="notes")
    author_id = models.PositiveIntegerField(null=True, blank=True)
    author_name = models.CharField(max_length=150)
    body = models.TextField(max_length=10_000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["ticket", "created_at"], name="note_ticket_created_idx")]

    def __str__(self) -> str:
        return f"Note by {self.author_name} on {self.ticket_id}"


class TicketEvent(models.Model):
    """The audit trail: one row per thing that happened to a ticket."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS_CHANGED = "status_changed", "Status changed"
        PRIORITY_CHANGED = "priority_changed", "Priority changed"
        ASSIGNED = "assigned", "Assigned"
        NOTE_ADDED = "note_added", "Note added"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Null actor: the customer (or the system) did it.
    actor_id = models.PositiveIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    old_value = models.CharField(max_length=150, blank=True)
    new_value = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")
        indexes = [models.Index(fields=["ticket", "created_at"], name="event_ticket_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.ticket_id}"


class TicketCount(models.Model):
    """Exact number of tickets per (status, priority) in this department.

    Kept in step with every ticket write, in the same transaction, so the dashboard can count a
    million tickets by reading at most twenty rows. ``recount_tickets`` rebuilds it from scratch.
    """

    status = models.CharField(max_length=10, choices=Status.choices)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["status", "priority"], name="ticketcount_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.status}/{self.priority}: {self.count}"
