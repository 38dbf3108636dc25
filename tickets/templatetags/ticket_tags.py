"""How tickets read on a page: history lines for staff and for customers."""

from __future__ import annotations

from django import template

from tickets.attachments.detection import INLINE_TYPES
from tickets.models import Status, TicketEvent

register = template.Library()
Kind = TicketEvent.Kind


def _status_label(value: str) -> str:
    try:
        return Status(value).label
    except ValueError:  # a status retired since the event was written
        return value


@register.filter
def event_summary(event: TicketEvent) -> str:
    """One line of the staff audit history, e.g. "Status changed from New to Resolved"."""
    old, new = event.old_value, event.new_value
    if event.kind == Kind.CREATED:
        return "Ticket submitted"
    if event.kind == Kind.STATUS_CHANGED:
        return f"Status changed from {_status_label(old)} to {_status_label(new)}"
    if event.kind == Kind.PRIORITY_CHANGED:
        return f"Priority changed from {old} to {new}"
    if event.kind == Kind.ASSIGNED:
        if old and new:
            return f"Reassigned from {old} to {new}"
        return f"Assigned to {new}" if new else f"Unassigned (was {old})"
    if event.kind == Kind.NOTE_ADDED:
        return "Internal note added"
    if event.kind == Kind.REPLIED:
        return "Replied to the customer"
    if event.kind == Kind.CUSTOMER_REPLIED:
        return "Customer replied by email" if event.new_value == "email" else "Customer replied"
    return event.get_kind_display()


@register.filter
def customer_event_summary(event: TicketEvent) -> str:
    """One line of the history a customer sees: arrival and status changes only."""
    if event.kind == Kind.CREATED:
        return "We received your ticket"
    return f"Status changed to {_status_label(event.new_value)}"


STATUS_MEANING = {
    Status.NEW: "Your ticket is waiting for someone in the team to pick it up.",
    Status.OPEN: "Someone in the team is working on your ticket.",
    Status.PENDING: "We are waiting for something (often a reply from you) before we go on.",
    Status.RESOLVED: "We think this is sorted. If it is not, reply below and the ticket opens "
    "again.",
    Status.CLOSED: "This ticket is closed. To ask something more, open a new ticket.",
}


@register.filter
def status_meaning(status: str) -> str:
    return STATUS_MEANING.get(status, "")


@register.filter
def has_thumbnail(attachment) -> bool:
    """Raster images, the only files ever shown in a page (never SVG or anything scriptable)."""
    return attachment.content_type in INLINE_TYPES


@register.filter
def file_input(field) -> str:
    """The file input, described by its hint, its error and the "choose again" note (which
    Django's own aria-describedby leaves out: it knows only the first two)."""
    auto_id = field.auto_id
    ids = [f"{auto_id}_helptext"] if field.help_text else []
    if field.errors:
        ids.append(f"{auto_id}_error")
    if getattr(field.form, "chosen_files", None):
        ids.append(f"{auto_id}_again")
    return field.as_widget(attrs={"aria-describedby": " ".join(ids)} if ids else None)
