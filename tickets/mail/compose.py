"""Building one outbox row into an email: subject, plain-text and HTML bodies from
``templates/email/<kind>.txt|.html``, and the headers that thread it and route answers back.

A template sees the row's context (the facts fixed when the row was written), the link and the
department's name, nothing read from the ticket now: an internal note can never reach a
customer, because no note is ever in a customer row's context.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from departments.registry import Department
from tickets.mail.addresses import absolute_url, customer_link_url, reply_address, thread_root_id
from tickets.mail.outbox import CUSTOMER_KINDS
from tickets.models import OutboxEmail

Kind = OutboxEmail.Kind

SUBJECTS = {
    Kind.RECEIVED: "We received your request: {subject}",
    Kind.REPLY: "Re: {subject}",
    Kind.RESOLVED: "Resolved: {subject}",
    Kind.LINK: "Your link to: {subject}",
    Kind.CLOSED: "Your message became a new ticket: {subject}",
    Kind.NEW_TICKET: "New ticket: {subject}",
    Kind.ASSIGNED: "Assigned to you: {subject}",
    Kind.CUSTOMER_REPLIED: "Customer replied: {subject}",
}
# A person wrote only the reply; everything else is a notification, marked so that customers'
# auto-responders do not answer it (RFC 3834 section 5).
PERSONAL_KINDS = frozenset({Kind.REPLY})
_WHITESPACE = re.compile(r"\s+")

RecipientResolver = Callable[[OutboxEmail], list[str]]


class NoRecipients(Exception):
    """A staff notification nobody is to receive (nobody opted in, or the person left)."""


def sender_address(department: Department) -> str:
    if department.email:
        return formataddr((department.label, department.email))
    return settings.DEFAULT_FROM_EMAIL


def loop_marker() -> str:
    """The X-Loop value of our emails: the help desk's reply address."""
    return parseaddr(settings.HELPDESK_REPLY_ADDRESS)[1]


def subject_line(row: OutboxEmail) -> str:
    context = row.context
    text = SUBJECTS[row.kind].format(subject=context.get("subject", ""))
    # A header must be one line; a subject typed with odd whitespace must not fail the email.
    return _WHITESPACE.sub(" ", f"[{context.get('reference', '')}] {text}").strip()


def build_message(
    row: OutboxEmail,
    department: Department,
    *,
    staff_recipients: RecipientResolver,
    connection=None,
) -> EmailMultiAlternatives:
    """The email for ``row``; raises :class:`NoRecipients` for staff mail that goes to nobody."""
    reference = row.context.get("reference", "")
    is_customer = row.kind in CUSTOMER_KINDS
    if is_customer:
        recipients = [row.recipient]
        # Signed now, not when the row was written: the link's lifetime starts at sending.
        link = customer_link_url(reference, row.recipient)
    else:
        recipients = staff_recipients(row)
        if not recipients:
            raise NoRecipients(row.message_id)
        link = absolute_url(reverse("ticket_detail", args=[department.slug, row.ticket_id]))
    context = {**row.context, "link": link, "department_name": department.label}
    headers = {
        "Message-ID": row.message_id,
        "References": thread_root_id(reference),
        "In-Reply-To": thread_root_id(reference),
    }
    if row.kind not in PERSONAL_KINDS:
        headers["Auto-Submitted"] = "auto-generated"
    # On every email, personal ones too: mail that comes back carrying it (an auto-responder
    # that keeps the headers, a forward rule) is ignored by tickets.mail.inbound, not answered.
    headers["X-Loop"] = loop_marker()
    message = EmailMultiAlternatives(
        subject=subject_line(row),
        body=render_to_string(f"email/{row.kind}.txt", context),
        from_email=sender_address(department),
        to=recipients,
        reply_to=[reply_address(reference)] if is_customer else None,
        headers=headers,
        connection=connection,
    )
    message.attach_alternative(render_to_string(f"email/{row.kind}.html", context), "text/html")
    return message


def staff_alert_of(row: OutboxEmail) -> OutboxEmail | None:
    """The new-ticket alert a customer's confirmation carries (``alert_staff``), as the staff
    row it stands for: same ticket and facts, its own Message-ID derived from the row's, so a
    resend after a crash carries the same one."""
    if row.kind != Kind.RECEIVED or not row.context.get("alert_staff"):
        return None
    local, _, host = row.message_id.strip("<>").partition("@")
    return OutboxEmail(
        pk=row.pk,
        ticket_id=row.ticket_id,
        kind=Kind.NEW_TICKET,
        context=row.context,
        message_id=f"<{local}.staff@{host}>",
    )


def build_messages(
    row: OutboxEmail, department: Department, *, staff_recipients: RecipientResolver
) -> list[EmailMultiAlternatives]:
    """Every email ``row`` stands for: its own, and the staff alert a new ticket's confirmation
    carries when someone opted in. Raises :class:`NoRecipients` for staff mail to nobody."""
    messages = [build_message(row, department, staff_recipients=staff_recipients)]
    alert = staff_alert_of(row)
    if alert is not None:
        # Nobody opted in: the customer's email goes alone.
        with contextlib.suppress(NoRecipients):
            messages.append(build_message(alert, department, staff_recipients=staff_recipients))
    return messages
