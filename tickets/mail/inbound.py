"""Email in: one received email becomes a customer's reply on their ticket or a new ticket.

Shared by ``manage.py ingest_email`` (a mail server pipes each message to it) and the email
providers' inbound webhooks (``tickets.mail.webhooks``). Whatever arrives gets an ``Outcome``;
only a department database that is down makes the caller try again later.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from enum import StrEnum

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, transaction

from accounts.ratelimit import RateLimit
from departments.errors import DepartmentUnavailable
from departments.registry import Department, UnknownDepartment, all_departments, get_department
from tickets.attachments.batch import AttachmentsUnavailable, attachments_stored
from tickets.attachments.uploads import Upload, check_email_files
from tickets.conversation import TicketClosed, customer_reply, customer_told_closed, dedupe_key
from tickets.mail.addresses import (
    reference_from_message_id,
    reference_from_reply_address,
)
from tickets.mail.body import EMPTY_BODY, Body, clean_text, extract_body, shorten
from tickets.mail.headers import (
    addresses_in,
    from_pairs,
    header_text,
    loop_reason,
    one_line,
)
from tickets.models import Channel, Ticket
from tickets.models import Message as ThreadMessage
from tickets.selectors import message_with_key, ticket_find_by_reference, ticket_for_submission
from tickets.services import ticket_create

logger = logging.getLogger(__name__)

NO_SUBJECT = "(no subject)"
# Model limits (tickets.models); longer values are cut rather than refused.
_SUBJECT_MAX = Ticket._meta.get_field("subject").max_length
_NAME_MAX = Ticket._meta.get_field("customer_name").max_length
_EMAIL_MAX = Ticket._meta.get_field("customer_email").max_length
_MESSAGE_MAX = Ticket._meta.get_field("message").max_length
_BODY_MAX = ThreadMessage._meta.get_field("body").max_length

# Headers naming where the mail was delivered: the reply tag and the department address are
# looked for in all of them (Bcc'd and forwarded mail shows only in the last two).
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
_PARSER = BytesParser(policy=policy.compat32)


class Kind(StrEnum):
    ADDED = "added"  # a reply on an existing ticket
    # A reply added, but past the sender's email reply limit: the assignee was not told.
    LIMITED = "limited"
    CREATED = "created"  # a new ticket
    DUPLICATE = "duplicate"  # this mail was taken in before; nothing written
    IGNORED = "ignored"  # automatic mail (auto-reply, bounce, list): accepted, never answered
    REJECTED = "rejected"  # cannot be taken in; the sender should be told (bounce)
    DEFERRED = "deferred"  # a department database is down; deliver again later


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    reference: str = ""
    department: Department | None = None
    reason: str = ""

    def __str__(self) -> str:
        note = f" ({self.reason})" if self.reason else ""
        match self.kind:
            case Kind.ADDED:
                return f"Added to {self.reference}{note}"
            case Kind.LIMITED:
                return f"Added to {self.reference} without notifying anyone{note}"
            case Kind.CREATED:
                return f"New ticket {self.reference} in {self.department}{note}"
            case Kind.DUPLICATE:
                return f"Already received as {self.reference}{note}"
            case Kind.IGNORED:
                return f"Ignored: {self.reason}"
            case Kind.REJECTED:
                return f"Rejected: {self.reason}"
            case _:
                return f"Deferred: {self.reason}"


@dataclass(frozen=True)
class _Mail:
    """What the routing needs from one parsed email."""

    message_id: str  # the Message-ID, or a hash of the raw bytes when it has none
    sender_name: str
    sender: str  # the From address
    subject: str
    recipients: tuple[str, ...]
    referenced_ids: tuple[str, ...]  # In-Reply-To first, then References newest first


def _read(message: Message, raw: bytes, envelope_recipients: Iterable[str]) -> _Mail | str:
    """The parts of ``message`` that routing needs, or why it cannot be taken in."""
    from_header = header_text(message, "From")
    senders = from_pairs(message)
    if len(senders) > 1:
        # Whose mail would it be? Refused rather than guessed (RFC 5322 then wants a Sender).
        return f"more than one From address (From: {one_line(from_header, 80)})"
    name, sender = senders[0] if senders else ("", "")
    try:
        if len(sender) > _EMAIL_MAX:
            raise ValidationError("too long")
        validate_email(sender)
    except ValidationError:
        shown = one_line(from_header, 80) or "none"
        return f"no usable From address (From: {shown})"
    message_id = header_text(message, "Message-ID").strip()[:998]
    if not message_id:
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    referenced = header_text(message, "In-Reply-To").split()
    referenced += reversed(header_text(message, "References").split())
    return _Mail(
        message_id=message_id,
        sender_name=clean_text(name).strip()[:_NAME_MAX] or sender.rpartition("@")[0][:_NAME_MAX],
        sender=sender,
        subject=header_text(message, "Subject").strip()[:_SUBJECT_MAX] or NO_SUBJECT,
        recipients=tuple(
            [*addresses_in(message, RECIPIENT_HEADERS), *(r for r in envelope_recipients if r)]
        ),
        referenced_ids=tuple(referenced),
    )


class StaffUnknown(Exception):
    """The system database (staff accounts) could not be read."""


def _is_staff(address: str) -> bool:
    """An active staff account has this email address (any letter case). Raises
    ``StaffUnknown`` when the system database is down."""
    try:
        users = get_user_model()._default_manager
        return users.filter(email__iexact=address.strip(), is_active=True).exists()
    except DatabaseError as exc:
        raise StaffUnknown from exc


def _referenced_ticket(mail: _Mail) -> tuple[Department, Ticket] | None:
    """The ticket this mail answers: named by a tagged reply address (tag checked), else by an
    In-Reply-To/References id of ours. Raises ``DepartmentUnavailable``."""
    references = [reference_from_reply_address(a) for a in mail.recipients]
    references += [reference_from_message_id(i) for i in mail.referenced_ids]
    seen: set[str] = set()
    for reference in references:
        if reference is None or reference in seen:
            continue
        seen.add(reference)
        found = ticket_find_by_reference(reference, what="take in an email")
        if found is not None:
            return found
    return None


def department_for_recipients(recipients: Iterable[str]) -> Department:
    """The department whose own address the mail was sent to (``<NAME>_DEPARTMENT_EMAIL``, any
    letter case, plus-address detail ignored), else ``HELPDESK_INBOUND_DEFAULT_DEPARTMENT``,
    else the first department."""
    departments = all_departments()
    if not departments:
        raise UnknownDepartment("no department is configured")
    by_address = {d.email.strip().casefold(): d for d in departments if d.email.strip()}
    for recipient in recipients:
        address = recipient.strip().casefold()
        local, _, host = address.rpartition("@")
        for candidate in (address, f"{local.split('+', 1)[0]}@{host}"):
            if candidate in by_address:
                return by_address[candidate]
    try:
        return get_department(settings.HELPDESK_INBOUND_DEFAULT_DEPARTMENT)
    except UnknownDepartment:
        return departments[0]


def _files(body: Body) -> tuple[list[Upload], list[str]]:
    """The mail's files within the attachment limits, and a line for each one dropped."""
    return check_email_files(body.files)


def _text(body: Body, dropped: list[str], limit: int) -> str:
    text = body.text
    if dropped:
        # The mail is kept whatever its files; what was not kept is said in the message.
        text = f"{text}\n\n" + "\n".join(dropped)
    return shorten(text.strip() or EMPTY_BODY, limit)


def _new_ticket(
    mail: _Mail, message: Message, department: Department, *, follows: Ticket | None, reason: str
) -> Outcome:
    body = extract_body(message)
    uploads, dropped = _files(body)
    text = _text(body, dropped, _MESSAGE_MAX)
    if follows is not None:
        text = shorten(f"Follow-up to {follows.reference}\n\n{text}", _MESSAGE_MAX)
    sent = {
        "customer_name": mail.sender_name,
        "customer_email": mail.sender,
        "subject": mail.subject,
        "message": text,
    }
    # The Message-ID makes the token: the same mail delivered twice finds the first ticket.
    token = f"email:{mail.message_id}"
    earlier = ticket_for_submission(department, submission_token=token, attachments=uploads, **sent)
    if earlier is not None:
        return Outcome(Kind.DUPLICATE, earlier.reference, department)
    # Each new ticket from email answers its sender; an auto-responder that acknowledges every
    # mail (fresh subject, no loop headers) would get an answer to each acknowledgement. Past
    # the per-address limit the ticket is still made and staff alerted, just not confirmed.
    confirmations = RateLimit.named("email-confirmation")
    confirmation = confirmations.acquire(mail.sender.casefold())
    try:
        # The closed ticket's notice is written with the new ticket or not at all; the files'
        # bytes, stored first, are removed again if that transaction fails.
        with (
            attachments_stored(department, uploads) as batch,
            transaction.atomic(using=department.alias),
        ):
            ticket = ticket_create(
                department=department,
                submission_token=token,
                channel=Channel.EMAIL,
                attachments=batch,
                confirm=confirmation is not None,
                **sent,
            )
            # The same mail delivered twice at once: the other delivery made this ticket (and
            # told the customer about the closed one); nothing more is written for this one.
            # The notice is a confirmation too: past the sender's limit it is not sent either,
            # or an auto-responder answering it would loop through closed-ticket follow-ups.
            if follows is not None and not ticket.replayed and confirmation is not None:
                customer_told_closed(
                    department=department, ticket=follows, new_reference=ticket.reference
                )
    except BaseException:
        if confirmation is not None:
            confirmation.release()
        raise
    if ticket.replayed:
        if confirmation is not None:
            confirmation.release()
        return Outcome(Kind.DUPLICATE, ticket.reference, department)
    if confirmation is None:
        unconfirmed = (
            f"not confirmed to the sender: over {confirmations.limit} new tickets "
            f"from this address in {confirmations.window // 60} minutes"
        )
        reason = f"{reason}; {unconfirmed}" if reason else unconfirmed
    return Outcome(Kind.CREATED, ticket.reference, department, reason)


def _reply(department: Department, ticket: Ticket, mail: _Mail, message: Message) -> Kind:
    """Add the mail to the ticket: ADDED, LIMITED (added without telling the assignee) or
    DUPLICATE (taken in before: nothing written)."""
    key = dedupe_key(mail.message_id)
    if message_with_key(department, key) is not None:
        return Kind.DUPLICATE
    body = extract_body(message)
    uploads, dropped = _files(body)
    # The reply limit of the ticket page, per sender address (a From is easy to forge for
    # anyone who knows a reference and its customer's address). Past it the mail is still
    # added, never lost, but the assignee gets no email for it. A redelivery takes no slot.
    limit = RateLimit.named("customer-reply")
    reservation = limit.acquire(mail.sender.casefold())
    try:
        with attachments_stored(department, uploads) as batch:
            customer_reply(
                department=department,
                ticket_id=ticket.pk,
                body=_text(body, dropped, _BODY_MAX),
                channel=Channel.EMAIL,
                key=key,
                attachments=batch,
                notify=reservation is not None,
            )
    except BaseException:
        if reservation is not None:
            reservation.release()  # not added (closed, database down): nothing to count
        raise
    return Kind.ADDED if reservation is not None else Kind.LIMITED


def ingest_message(
    message: Message,
    raw: bytes,
    *,
    envelope_recipients: Iterable[str] = (),
    envelope_sender: str | None = None,
) -> Outcome:
    """Take in one parsed email (``raw``: its bytes, the identity of a mail without a
    Message-ID). ``envelope_sender=""`` is the null sender of a bounce; ``None``: not known."""
    loop = loop_reason(message, envelope_sender)
    if loop:
        return Outcome(Kind.IGNORED, reason=loop)
    mail = _read(message, raw, envelope_recipients)
    if isinstance(mail, str):
        return Outcome(Kind.REJECTED, reason=mail)
    reason = ""
    try:
        found = _referenced_ticket(mail)
        if found is not None:
            department, ticket = found
            if ticket.customer_email.strip().casefold() != mail.sender.casefold():
                if _is_staff(mail.sender):
                    # An agent answering a notification from their mail program: as a new
                    # ticket it would never reach the customer. Bounced back to them instead.
                    # The bounce goes to the envelope sender, who may not be that agent (a
                    # forged From): it names no staff page, only what to do.
                    return Outcome(
                        Kind.REJECTED,
                        ticket.reference,
                        department,
                        "replies to help desk notifications do not reach the customer; "
                        f"answer on the ticket page of {ticket.reference}",
                    )
                # A valid tag proves the address came from one of our emails, not who sent this.
                reason = f"sender is not the customer of {ticket.reference}"
            else:
                try:
                    kind = _reply(department, ticket, mail, message)
                except TicketClosed:
                    return _new_ticket(
                        mail,
                        message,
                        department,
                        follows=ticket,
                        reason=f"{ticket.reference} is closed",
                    )
                if kind == Kind.LIMITED:
                    return Outcome(
                        kind, ticket.reference, department, "over the reply limit for this address"
                    )
                return Outcome(kind, ticket.reference, department)
        department = department_for_recipients(mail.recipients)
        return _new_ticket(mail, message, department, follows=None, reason=reason)
    except DepartmentUnavailable as exc:
        return Outcome(
            Kind.DEFERRED,
            department=exc.department,
            reason=f"the {exc.department} database is unavailable; deliver again later",
        )
    except AttachmentsUnavailable as exc:
        return Outcome(
            Kind.DEFERRED,
            department=exc.department,
            reason=f"the {exc.department} file storage is unavailable; deliver again later",
        )
    except UnknownDepartment:
        return Outcome(Kind.DEFERRED, reason="no department is configured")
    except StaffUnknown:
        return Outcome(
            Kind.DEFERRED, reason="the system database is unavailable; deliver again later"
        )
    except ValidationError as exc:
        return Outcome(Kind.REJECTED, reason=one_line("; ".join(exc.messages)))


def parse_email(raw: bytes) -> Message | None:
    """``raw`` parsed leniently (compat32: header values are read as sent), or None when it is
    not an email at all."""
    try:
        message = _PARSER.parsebytes(raw)
    except Exception:  # the parser is lenient; anything it still raises means "not an email"
        return None
    return message if message.keys() else None


def ingest_email(
    raw: bytes,
    *,
    envelope_recipients: Iterable[str] = (),
    envelope_sender: str | None = None,
) -> Outcome:
    """Take in one email as received (RFC 822 bytes). Callers report the outcome (``log``)."""
    limit = settings.HELPDESK_INBOUND_MAX_BYTES
    if len(raw) > limit:
        return Outcome(Kind.REJECTED, reason=f"larger than {limit:,} bytes")
    if (message := parse_email(raw)) is None:
        return Outcome(Kind.REJECTED, reason="not a readable email")
    return ingest_message(
        message,
        raw,
        envelope_recipients=envelope_recipients,
        envelope_sender=envelope_sender,
    )


def log(outcome: Outcome) -> None:
    """One log record of what became of an email, with its outcome as structured fields."""
    level = {Kind.REJECTED: logging.WARNING, Kind.DEFERRED: logging.ERROR}.get(
        outcome.kind, logging.INFO
    )
    logger.log(
        level,
        "inbound email: %s",
        outcome,
        extra={
            "outcome": outcome.kind.value,
            "reference": outcome.reference,
            "department": outcome.department.slug if outcome.department else "",
            "reason": outcome.reason,
        },
    )
