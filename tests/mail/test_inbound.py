"""Email in: every outcome of one received email, through the service and ``ingest_email``."""

from __future__ import annotations

import io
from dataclasses import dataclass
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.factories import TicketFactory
from tests.mail.inbound_mail import build, reply_by_thread, reply_to
from tickets.conversation import dedupe_key
from tickets.mail.addresses import reply_address
from tickets.mail.inbound import NO_SUBJECT, Kind, ingest_email
from tickets.models import Attachment, Channel, Message, OutboxEmail, Status, Ticket
from tickets.services import ticket_change_status, ticket_delete

pytestmark = pytest.mark.django_db(databases="__all__")


@dataclass
class Ran:
    code: int
    out: str
    err: str


def pipe(raw: bytes, *args: str, monkeypatch) -> Ran:
    """``manage.py ingest_email`` with ``raw`` on standard input, as a mail server runs it."""
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    out, err = StringIO(), StringIO()
    try:
        call_command("ingest_email", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code, err = exc.returncode, StringIO(str(exc))
    return Ran(code, out.getvalue().strip(), err.getvalue().strip())


def tickets(department) -> list[Ticket]:
    return list(Ticket.objects.using(department.alias).order_by("id"))


def replies(department, ticket) -> list[Message]:
    return list(Message.objects.using(department.alias).filter(ticket_id=ticket.pk))


def with_department_email(department, address):
    """Give ``department`` its own inbound address (``<NAME>_DEPARTMENT_EMAIL``)."""
    metadata = {alias: dict(meta) for alias, meta in settings.DEPARTMENTS.items()}
    metadata.setdefault(department.alias, {})["email"] = address
    return override_settings(DEPARTMENTS=metadata)


@pytest.fixture
def general(departments):
    return next(d for d in departments if d.slug == settings.HELPDESK_INBOUND_DEFAULT_DEPARTMENT)


# --- new tickets ------------------------------------------------------------------------


def test_new_mail_becomes_a_ticket_in_the_default_department(general, monkeypatch):
    ran = pipe(build("My invoice is wrong.", attachments=2), monkeypatch=monkeypatch)

    [ticket] = tickets(general)
    assert ran.code == 0
    assert ran.out == f"New ticket {ticket.reference} in {general.label}"
    assert ticket.channel == Channel.EMAIL
    assert ticket.customer_name == "Ann Customer"
    assert ticket.customer_email == "ann@example.com"
    assert ticket.subject == "Invoice question"
    # Its files are kept (tests/attachments has the limits and the types refused).
    assert ticket.message == "My invoice is wrong."
    files = Attachment.objects.using(general.alias).filter(ticket_id=ticket.pk)
    assert [(f.name, f.content_type, f.message_id) for f in files] == [
        ("f0.pdf", "application/pdf", None),
        ("f1.pdf", "application/pdf", None),
    ]
    # The customer is told it arrived (deliver_outbox sends it later).
    kinds = OutboxEmail.objects.using(general.alias).values_list("kind", flat=True)
    assert OutboxEmail.Kind.RECEIVED in kinds


def test_the_same_mail_piped_twice_makes_one_ticket(general, monkeypatch):
    raw = build("Once only.")
    first = pipe(raw, monkeypatch=monkeypatch)
    second = pipe(raw, monkeypatch=monkeypatch)

    [ticket] = tickets(general)
    assert first.out == f"New ticket {ticket.reference} in {general.label}"
    assert second.code == 0
    assert second.out == f"Already received as {ticket.reference}"
    assert OutboxEmail.objects.using(general.alias).filter(kind="received").count() == 1


def test_a_mail_without_message_id_is_recognised_by_its_bytes(general):
    raw = build("No id.", message_id=None)
    assert ingest_email(raw).kind == Kind.CREATED
    assert ingest_email(raw).kind == Kind.DUPLICATE
    assert len(tickets(general)) == 1


def test_the_department_address_chooses_the_department(billing, general):
    with with_department_email(billing, "Billing@Example.com"):
        to_billing = ingest_email(build(to="Billing Team <billing@example.COM>"))
        cc_billing = ingest_email(build(to="someone@else.example", Cc="billing@example.com"))
        plus_billing = ingest_email(build(to="billing+urgent@example.com"))
        delivered = ingest_email(build(to="list@example.com", Delivered_To="billing@example.com"))
        envelope = ingest_email(
            build(to="list@example.com"), envelope_recipients=["billing@example.com"]
        )
        other = ingest_email(build(to="sales@example.com"))

    for outcome in (to_billing, cc_billing, plus_billing, delivered, envelope):
        assert (outcome.kind, outcome.department.slug) == (Kind.CREATED, billing.slug)
    assert other.department.slug == general.slug


@override_settings(HELPDESK_INBOUND_DEFAULT_DEPARTMENT="no-such-department")
def test_an_unknown_default_department_falls_back_to_the_first(departments):
    assert ingest_email(build()).department == departments[0]


def test_name_subject_and_body_are_fitted_to_the_ticket(general):
    raw = build("x" * 12_000, sender="ann.smith@example.com", subject="s" * 300)
    outcome = ingest_email(raw)

    ticket = Ticket.objects.using(general.alias).get(reference=outcome.reference)
    assert ticket.customer_name == "ann.smith"  # no display name: the address's local part
    assert ticket.subject == "s" * 200
    assert len(ticket.message) <= 10_000
    assert ticket.message.startswith("x" * 9_000)
    assert ticket.message.endswith("[message shortened]")


def test_an_empty_subject_and_an_encoded_name_are_read(general):
    raw = build("Hallo", sender="=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>", subject="")
    ticket = Ticket.objects.using(general.alias).get(reference=ingest_email(raw).reference)
    assert (ticket.customer_name, ticket.subject) == ("Jürgen Müller", NO_SUBJECT)


def test_html_only_mail_is_stored_as_text(general):
    raw = (
        b"From: ann@example.com\r\nTo: support@localhost\r\nSubject: html\r\n"
        b"Message-ID: <html-only@mail.example>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello <b>team</b>,</p><p>it is <i>broken</i> &amp; slow.</p>"
        b"<script>alert('x')</script>"
    )
    ticket = Ticket.objects.using(general.alias).get(reference=ingest_email(raw).reference)
    assert ticket.message == "Hello team,\n\nit is broken & slow."


# --- replies ------------------------------------------------------------------------------


def test_a_reply_to_the_tagged_address_is_added_to_its_ticket(billing, monkeypatch):
    ticket = TicketFactory(department=billing, customer_email="Ann@Example.com")
    raw = reply_to(
        ticket,
        "Here is the order number: 1234.\n\nOn Tue, 2 Jan 2024, Help desk wrote:\n> Hi Ann",
        sender="ANN@example.com",
        message_id="<reply-1@mail.example>",
    )

    ran = pipe(raw, monkeypatch=monkeypatch)

    assert (ran.code, ran.out) == (0, f"Added to {ticket.reference}")
    [message] = replies(billing, ticket)
    assert message.body == "Here is the order number: 1234."
    assert (message.from_customer, message.channel) == (True, Channel.EMAIL)
    assert message.dedupe_key == dedupe_key("<reply-1@mail.example>")
    assert pipe(raw, monkeypatch=monkeypatch).code == 0  # delivered twice: added once
    assert len(replies(billing, ticket)) == 1
    assert len(tickets(billing)) == 1


def test_a_reply_found_by_in_reply_to_is_added_and_reopens_the_ticket(billing):
    ticket = TicketFactory(department=billing)
    ticket_change_status(
        department=billing,
        ticket_id=ticket.pk,
        expected_version=ticket.version,
        status=Status.RESOLVED,
        actor=ticket_actor(),
    )

    outcome = ingest_email(reply_by_thread(ticket, "Still broken."))

    assert (outcome.kind, outcome.reference) == (Kind.ADDED, ticket.reference)
    assert Ticket.objects.using(billing.alias).get(pk=ticket.pk).status == Status.OPEN
    assert [m.body for m in replies(billing, ticket)] == ["Still broken."]


def ticket_actor():
    from tickets.services import Actor

    return Actor(id=None, name="Test")


def test_a_reply_to_a_closed_ticket_becomes_a_follow_up_ticket(billing, monkeypatch):
    ticket = TicketFactory(department=billing)
    ticket_change_status(
        department=billing,
        ticket_id=ticket.pk,
        expected_version=ticket.version,
        status=Status.CLOSED,
        actor=ticket_actor(),
    )
    raw = reply_to(ticket, "It broke again.")

    ran = pipe(raw, monkeypatch=monkeypatch)

    new = Ticket.objects.using(billing.alias).exclude(pk=ticket.pk).get()
    assert (
        ran.out == f"New ticket {new.reference} in {billing.label} ({ticket.reference} is closed)"
    )
    assert new.message == f"Follow-up to {ticket.reference}\n\nIt broke again."
    assert new.customer_email == ticket.customer_email
    assert replies(billing, ticket) == []
    notices = OutboxEmail.objects.using(billing.alias).filter(kind=OutboxEmail.Kind.CLOSED)
    assert [n.context["new_reference"] for n in notices] == [new.reference]
    # Delivered again: no second ticket and no second notice.
    assert pipe(raw, monkeypatch=monkeypatch).out == f"Already received as {new.reference}"
    assert notices.count() == 1


def test_a_forged_sender_never_reaches_the_ticket(billing, general, monkeypatch):
    ticket = TicketFactory(department=billing, customer_email="ann@example.com")
    raw = reply_to(ticket, "Send me her invoices.", sender="mallory@example.net")

    ran = pipe(raw, monkeypatch=monkeypatch)

    assert replies(billing, ticket) == []
    [new] = tickets(general)
    assert new.customer_email == "mallory@example.net"
    assert ticket.reference not in new.message
    assert ran.out == (
        f"New ticket {new.reference} in {general.label} "
        f"(sender is not the customer of {ticket.reference})"
    )


def test_a_forged_tag_or_a_foreign_message_id_finds_no_ticket(billing, general):
    ticket = TicketFactory(department=billing)
    local, host = reply_address(ticket.reference).split("@")
    forged_to = f"{local[:-1]}{'1' if local[-1] == '0' else '0'}@{host}"  # tag one digit off
    by_tag = ingest_email(build(sender=ticket.customer_email, to=forged_to))
    by_id = ingest_email(
        build(sender=ticket.customer_email, In_Reply_To=f"<{ticket.reference}@elsewhere.example>")
    )
    assert replies(billing, ticket) == []
    assert (by_tag.kind, by_tag.department) == (Kind.CREATED, general)
    assert (by_id.kind, by_id.department) == (Kind.CREATED, general)


def test_a_reply_to_a_deleted_ticket_becomes_a_new_ticket(billing, general):
    ticket = TicketFactory(department=billing)
    raw = reply_to(ticket)
    ticket_delete(department=billing, ticket_id=ticket.pk)

    outcome = ingest_email(raw)

    assert (outcome.kind, outcome.department) == (Kind.CREATED, general)


# --- automatic mail is accepted and never answered ----------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "automatic mail (Auto-Submitted: auto-replied)"),
        (
            {"Auto_Submitted": "auto-generated; owner=x"},
            "automatic mail (Auto-Submitted: auto-generated)",
        ),
        ({"Precedence": "bulk"}, "automatic mail (Precedence: bulk)"),
        ({"Precedence": "Auto_Reply"}, "automatic mail (Precedence: auto_reply)"),
        ({"X_Autoreply": "yes"}, "auto-reply (X-Autoreply)"),
        ({"X_Autorespond": "Out of office"}, "auto-reply (X-Autorespond)"),
        ({"Return_Path": "<>"}, "bounce (empty return path)"),
        ({"sender": "MAILER-DAEMON@mx.example.com"}, "bounce (from MAILER-DAEMON)"),
        ({"sender": "Mail System <postmaster@example.com>"}, "bounce (from postmaster)"),
        ({"sender": "Help desk <support@localhost>"}, "sent by this help desk"),
        ({"X_Loop": "support@localhost"}, "mail loop (X-Loop: our own address)"),
    ],
)
def test_automatic_mail_is_ignored(headers, reason, general, monkeypatch):
    ran = pipe(build(**headers), monkeypatch=monkeypatch)

    assert (ran.code, ran.out) == (0, f"Ignored: {reason}")
    assert tickets(general) == []
    assert not OutboxEmail.objects.using(general.alias).exists()


def test_auto_submitted_no_is_a_person(general):
    assert ingest_email(build(Auto_Submitted="no")).kind == Kind.CREATED


def test_a_delivery_status_report_and_the_null_envelope_sender_are_bounces(billing, monkeypatch):
    ticket = TicketFactory(department=billing)
    report = (
        b"From: Mail Delivery <bounces@mx.example.com>\r\nTo: "
        + reply_address(ticket.reference).encode()
        + b"\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--b--\r\n"
    )
    assert (
        pipe(report, monkeypatch=monkeypatch).out == "Ignored: automatic report (delivery-status)"
    )
    null_sender = pipe(reply_to(ticket), "--sender", "", monkeypatch=monkeypatch)
    assert null_sender.out == "Ignored: bounce (empty return path)"
    assert replies(billing, ticket) == []


# --- mail that cannot be taken in is refused back to the sender ----------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not a readable email"),
        (b"\x00\xff\xfe garbage without headers", "not a readable email"),
        (b"Subject: no sender\r\n\r\nbody", "no usable From address (From: none)"),
        (b"From: not an address\r\n\r\nbody", "no usable From address (From: not an address)"),
        (b"From: <a@b@c>\r\n\r\nbody", "no usable From address (From: <a@b@c>)"),
        (
            b"From: a@example.com, b@example.com\r\n\r\nbody",
            "more than one From address (From: a@example.com, b@example.com)",
        ),
    ],
)
def test_unusable_mail_exits_65_with_one_line(raw, reason, general, monkeypatch):
    ran = pipe(raw, monkeypatch=monkeypatch)

    assert ran.code == 65
    assert ran.err == f"Rejected: {reason}"
    assert tickets(general) == []


@override_settings(HELPDESK_INBOUND_MAX_BYTES=2_000)
def test_oversized_mail_exits_65_after_reading_one_byte_more_than_allowed(general, monkeypatch):
    stream = io.BytesIO(build("x" * 5_000))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(stream))
    with pytest.raises(CommandError) as refused:
        call_command("ingest_email", stdout=StringIO())
    assert refused.value.returncode == 65
    assert str(refused.value) == "Rejected: larger than 2,000 bytes"
    assert stream.tell() == 2_001
    assert tickets(general) == []


# --- a department database that is down: the mail server tries again ---------------------


def test_department_down_exits_75_and_the_retry_succeeds(general, database_down, monkeypatch):
    raw = build("Please help.")
    with database_down(general):
        ran = pipe(raw, monkeypatch=monkeypatch)
    assert ran.code == 75
    assert ran.err == (
        f"Deferred: the {general.label} database is unavailable; deliver again later"
    )

    again = pipe(raw, monkeypatch=monkeypatch)
    [ticket] = tickets(general)
    assert again.out == f"New ticket {ticket.reference} in {general.label}"


def test_the_replied_tickets_department_down_defers_the_reply(billing, database_down):
    ticket = TicketFactory(department=billing)
    with database_down(billing):
        outcome = ingest_email(reply_to(ticket))
    assert (outcome.kind, outcome.department) == (Kind.DEFERRED, billing)
    assert ingest_email(reply_to(ticket)).kind == Kind.ADDED


def test_past_the_confirmation_limit_a_ticket_is_made_with_only_the_staff_alert(general, settings):
    settings.HELPDESK_RATE_LIMITS = {
        **settings.HELPDESK_RATE_LIMITS,
        "email-confirmation": (1, 3600),
    }

    first, second = ingest_email(build("One")), ingest_email(build("Two"))

    assert (first.kind, second.kind) == (Kind.CREATED, Kind.CREATED)
    assert "not confirmed" in second.reason
    kinds = sorted(OutboxEmail.objects.using(general.alias).values_list("kind", flat=True))
    assert kinds == sorted([OutboxEmail.Kind.RECEIVED, OutboxEmail.Kind.NEW_TICKET])
