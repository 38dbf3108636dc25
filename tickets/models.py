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


class Channel(models.TextChoices):
    WEB = "web", "Web"
    EMAIL = "email", "Email"


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
    # The first public reply by staff (the SLA's first-response clock stops here).
    first_response_at = models.DateTimeField(null=True, blank=True)
    # How the first message arrived. Null for tickets from before it was recorded (the web
    # form); nullable so adding it is ADD COLUMN, not a rebuild of the tickets table.
    channel = models.CharField(  # noqa: DJ001 (see above)
        max_length=10, choices=Channel.choices, null=True, blank=True
    )
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


class Visibility(models.TextChoices):
    PUBLIC = "public", "Reply to customer"
    INTERNAL = "internal", "Internal note"


class Message(models.Model):
    """One entry of a ticket's thread after the customer's first message (``Ticket.message``).

    Staff write public replies (emailed to the customer) and internal notes (staff only); the
    customer's replies arrive from their ticket page or by email. Internal notes are the rows
    of the former ``AdminNote`` model, renamed in place by migration 0006.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    # A system-database user id for staff; null when the customer wrote it.
    author_id = models.PositiveIntegerField(null=True, blank=True)
    author_name = models.CharField(max_length=150)
    from_customer = models.BooleanField(default=False)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.INTERNAL
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    body = models.TextField(max_length=10_000)
    created_at = models.DateTimeField(default=timezone.now)
    # What makes one arrival one message: a hash of an email's Message-ID, or of a web reply's
    # one-time token and text. The same mail piped twice, or a double click, adds it once.
    dedupe_key = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ("created_at", "id")
        indexes = [models.Index(fields=["ticket", "created_at"], name="message_ticket_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_visibility_display()} by {self.author_name} on {self.ticket_id}"

    @property
    def is_internal(self) -> bool:
        return self.visibility == Visibility.INTERNAL


class TicketEvent(models.Model):
    """The audit trail: one row per thing that happened to a ticket."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS_CHANGED = "status_changed", "Status changed"
        PRIORITY_CHANGED = "priority_changed", "Priority changed"
        ASSIGNED = "assigned", "Assigned"
        NOTE_ADDED = "note_added", "Note added"
        REPLIED = "replied", "Replied to customer"
        CUSTOMER_REPLIED = "customer_replied", "Customer replied"

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


class OutboxEmail(models.Model):
    """An email waiting to be sent, written in the same transaction as the change that causes it.

    ``deliver_outbox`` sends due rows and marks them sent; a crash between the two sends again
    with the same ``message_id``, so receivers can de-duplicate (at-least-once delivery). Nothing
    is sent inside a web request.
    """

    class Kind(models.TextChoices):
        # To the customer
        RECEIVED = "received", "Ticket received"
        REPLY = "reply", "Reply from staff"
        RESOLVED = "resolved", "Ticket resolved"
        LINK = "link", "Fresh ticket link"
        CLOSED = "closed", "Reply to a closed ticket"
        # To staff (their notification settings are checked when it is sent)
        NEW_TICKET = "new_ticket", "New ticket in my department"
        ASSIGNED = "assigned", "Ticket assigned to me"
        CUSTOMER_REPLIED = "customer_replied", "Customer replied on my ticket"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="outbox", null=True, blank=True
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The customer's address for customer mail; empty for staff mail, whose recipients (one
    # user, or the department's staff who opted in) are read when it is sent.
    recipient = models.EmailField(max_length=254, blank=True)
    staff_user_id = models.PositiveIntegerField(null=True, blank=True)
    # What the email says, fixed when it was caused (templates render it when sending).
    context = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=255, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A sender's lease on the row: others skip it until it runs out (a crashed sender's rows
    # come back), and only the holder of ``claim`` may mark it sent.
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [
            models.Index(fields=["state", "next_attempt_at", "id"], name="outbox_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.state}) {self.message_id}"


class Attachment(models.Model):
    """A file on a ticket: the metadata here, the bytes in the department's storage
    (``tickets.attachments.storage``) under ``storage_key``.

    ``message`` is null for files sent with the ticket's first message (``Ticket.message``).
    Written in the same transaction as the message; ``clean_attachments`` finds objects without
    a row and rows without an object.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachments", null=True, blank=True
    )
    # As sent, minus characters no database stores, cut to the column; shown to staff only.
    original_name = models.CharField(max_length=255)
    # What downloads are called: no path, no control characters, a sensible length.
    name = models.CharField(max_length=160)
    # Detected from the bytes, never taken from the browser or the file name.
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=255, unique=True)
    # A system-database user id for staff; null when the customer (or their email) sent it.
    uploader_id = models.PositiveIntegerField(null=True, blank=True)
    uploader_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="attachment_ticket_created_idx")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.size:,} bytes) on {self.ticket_id}"
