"""Emails as mail servers deliver them, for the inbound tests."""

from __future__ import annotations

import itertools
from email.message import EmailMessage

from tickets.mail.addresses import reply_address, thread_root_id

_ids = itertools.count()


def build(
    body: str = "Hello, my invoice is wrong.",
    *,
    sender: str = "Ann Customer <ann@example.com>",
    to: str = "support@localhost",
    subject: str = "Invoice question",
    html: str | None = None,
    attachments: int = 0,
    message_id: str | None = "",
    **headers: str,
) -> bytes:
    """One email as bytes. ``headers``: extra ones, ``X_Autoreply="yes"`` for X-Autoreply;
    ``message_id=None`` leaves the Message-ID out."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id or f"<test-{next(_ids)}-{id(message)}@mail.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for index in range(attachments):
        message.add_attachment(
            b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename=f"f{index}.pdf"
        )
    return bytes(message)


def reply_to(ticket, body: str = "Thanks, here is more.", **kwargs) -> bytes:
    """The customer answering one of our emails about ``ticket``: to its tagged address."""
    kwargs.setdefault("sender", f"{ticket.customer_name} <{ticket.customer_email}>")
    kwargs.setdefault("subject", f"Re: {ticket.subject}")
    return build(body, to=reply_address(ticket.reference), **kwargs)


def reply_by_thread(ticket, body: str = "Answering in the thread.", **kwargs) -> bytes:
    """An answer that names our thread root in In-Reply-To, sent to the plain address."""
    kwargs.setdefault("sender", ticket.customer_email)
    return build(body, In_Reply_To=thread_root_id(ticket.reference), **kwargs)
