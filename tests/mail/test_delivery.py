"""What arrives at a real SMTP server: recipients, subject, threading and reply headers, the
Message-ID of the row, the customer's link, and nothing a customer must not read."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings

from accounts.models import NotificationSettings
from tests.factories import TicketFactory, UserFactory
from tickets.mail.addresses import read_customer_link, reply_address, thread_root_id
from tickets.mail.compose import staff_alert_of
from tickets.mail.delivery import NO_RECIPIENTS, deliver_all
from tickets.models import OutboxEmail, Status
from tickets.services import Actor, ticket_update

pytestmark = pytest.mark.django_db(databases="__all__")
Kind = OutboxEmail.Kind


def rows(department, **filters) -> list[OutboxEmail]:
    return list(OutboxEmail.objects.using(department.alias).filter(**filters).order_by("id"))


def only(received, kind_subject: str):
    [found] = [r for r in received if kind_subject in r.message["Subject"]]
    return found


def test_a_new_ticket_emails_the_customer_and_the_staff_who_opted_in(smtp_server, tech, client):
    agent = UserFactory(departments=[tech])
    NotificationSettings.objects.create(user=agent, new_ticket=True)
    UserFactory(departments=[tech])  # default settings: not told about new tickets
    ticket = TicketFactory(department=tech, customer_email="Ada@Example.com", subject="Printer")

    totals = deliver_all([tech])

    # One row stands for both emails (a submission writes one row).
    assert totals[tech.slug].sent == 1 and len(smtp_server.received) == 2
    customer = only(smtp_server.received, "We received your request")
    staff = only(smtp_server.received, "New ticket")
    [received_row] = rows(tech)
    staff_row = staff_alert_of(received_row)

    assert customer.envelope_to == ["Ada@Example.com"]
    assert customer.message["Subject"] == f"[{ticket.reference}] We received your request: Printer"
    assert customer.message_id == received_row.message_id
    assert customer.message["References"] == thread_root_id(ticket.reference)
    assert customer.message["In-Reply-To"] == thread_root_id(ticket.reference)
    assert customer.message["Reply-To"] == reply_address(ticket.reference)
    assert customer.message["From"] == django_settings.DEFAULT_FROM_EMAIL
    assert customer.message["Auto-Submitted"] == "auto-generated"
    assert customer.message["X-Loop"] == "support@localhost"  # ignored if it comes back
    assert ticket.message in customer.text()

    link = next(w for w in customer.text().split() if "://" in w)
    assert f'href="{link}"' in customer.html()
    path = urlsplit(link).path
    assert link.startswith(django_settings.HELPDESK_SITE_URL)
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert read_customer_link(token).reference == ticket.reference
    assert read_customer_link(token).email == "ada@example.com"
    page = client.get(path)
    assert page.status_code == 200 and ticket.reference in page.content.decode()

    assert staff.envelope_to == [agent.email]
    assert staff.message_id == staff_row.message_id
    assert staff.message["Reply-To"] is None
    assert staff.message["Auto-Submitted"] == "auto-generated"
    assert f"/tickets/{tech.slug}/{ticket.pk}/" in staff.text()
    assert "replies to this email do not reach the customer" in staff.text()
    assert staff.message["References"] == thread_root_id(ticket.reference)

    assert {r.state for r in rows(tech)} == {OutboxEmail.State.SENT}
    assert deliver_all([tech])[tech.slug].claimed == 0  # nothing sent twice


def test_a_reply_carries_the_reply_and_new_status_never_the_internal_note(smtp_server, tech):
    agent = UserFactory(departments=[tech], first_name="Sam", last_name="Agent")
    ticket = TicketFactory(department=tech)
    ticket_update(
        department=tech,
        ticket_id=ticket.pk,
        expected_version=ticket.version,
        actor=Actor.from_user(agent),
        status=Status.RESOLVED,
        note="INTERNAL: customer is on the watch list",
        reply="Restart the router, then it works.",
    )

    deliver_all([tech])

    reply = only(smtp_server.received, "Re: ")
    [reply_row] = rows(tech, kind=Kind.REPLY)
    assert reply.message_id == reply_row.message_id
    assert "Restart the router, then it works." in reply.text()
    assert "Resolved" in reply.text() and "Resolved" in reply.html()
    assert reply.message["Auto-Submitted"] is None  # a person wrote it (RFC 3834)
    assert reply.message["X-Loop"] == "support@localhost"
    assert not rows(tech, kind=Kind.RESOLVED)  # one email says both
    for arrived in smtp_server.received:
        assert "watch list" not in arrived.message.as_string()


def test_markup_in_ticket_text_is_escaped_in_html_and_kept_in_text(smtp_server, tech):
    TicketFactory(department=tech, subject="a <b>bold</b> & odd", message="<script>x</script>")

    deliver_all([tech])

    customer = only(smtp_server.received, "We received")
    assert "<script>x</script>" in customer.text()
    assert "<script>" not in customer.html()
    assert "&lt;script&gt;" in customer.html()


def test_staff_mail_to_nobody_is_marked_sent_with_a_note(smtp_server, tech):
    ticket = TicketFactory(department=tech)  # nobody opted in to new tickets
    agent = UserFactory(departments=[tech])
    NotificationSettings.objects.create(user=agent, assigned_to_me=False)
    ticket_update(
        department=tech,
        ticket_id=ticket.pk,
        expected_version=1,
        actor=Actor(id=None, name="Sam"),
        assignee=agent,
    )

    deliver_all([tech])

    [row] = rows(tech, kind=Kind.ASSIGNED)
    assert row.state == OutboxEmail.State.SENT
    assert row.last_error == NO_RECIPIENTS
    assert len(smtp_server.received) == 1  # the customer's confirmation, no staff alert


def test_from_is_the_departments_own_address_when_it_has_one(smtp_server, tech, settings):
    departments = {alias: dict(meta) for alias, meta in settings.DEPARTMENTS.items()}
    departments.setdefault(tech.alias, {})["email"] = "tech@help.example"
    settings.DEPARTMENTS = departments
    TicketFactory(department=tech)

    deliver_all()

    customer = only(smtp_server.received, "We received")
    assert parseaddr(customer.message["From"])[1] == "tech@help.example"


def test_files_are_never_attached_but_counted_in_the_email(smtp_server, tech):
    ticket = TicketFactory(department=tech)
    OutboxEmail.objects.using(tech.alias).update(context={"reference": ticket.reference})
    row = OutboxEmail.objects.using(tech.alias).get()
    row.context = {**row.context, "subject": "Printer", "message": "See files", "attachments": 2}
    row.save(using=tech.alias)

    deliver_all([tech])

    customer = only(smtp_server.received, "We received")
    assert "2 files attached: see them on your ticket page." in customer.text()
    assert "2 files attached" in customer.html()
    assert not [part for part in customer.message.walk() if part.get_filename()]


def test_a_reply_quoting_our_whole_email_keeps_only_what_was_written_above_it(smtp_server, tech):
    """Every email starts with the reply-above line: a customer's mail program quoting our
    email below their answer gives back only their answer."""
    from tickets.mail.inbound import Kind as Outcome
    from tickets.mail.inbound import ingest_email
    from tickets.models import Message

    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    deliver_all([tech])
    ours = only(smtp_server.received, "We received").text()
    assert ours.startswith("## Please write your reply above this line ##")
    quoted = "\n".join(f"> {line}" for line in ours.splitlines())
    raw = (
        f"From: ada@example.com\r\nTo: {reply_address(ticket.reference)}\r\n"
        f"Subject: Re: hello\r\nMessage-ID: <quote-1@mail.example>\r\n\r\n"
        f"Thanks, that helps.\r\n\r\n{quoted}\r\n"
    ).encode()

    assert ingest_email(raw).kind == Outcome.ADDED
    reply = Message.objects.using(tech.alias).get(ticket_id=ticket.pk, from_customer=True)
    assert reply.body == "Thanks, that helps."
