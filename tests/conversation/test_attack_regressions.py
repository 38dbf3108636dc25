"""Attacks on the conversation feature (customer page, staff replies, email in and out).

Each test is a finding of an attack on the feature as a stranger would try it, with what should
happen asserted; each failed before its fix. The docstrings say what was done and why it matters.
"""

from __future__ import annotations

import base64
import re

import pytest
from django.urls import reverse

from accounts.models import NotificationSettings
from departments.registry import all_departments
from tests.factories import TicketFactory, UserFactory
from tests.mail.inbound_mail import build, reply_by_thread, reply_to
from tickets.mail.addresses import customer_link_path
from tickets.mail.inbound import Kind, ingest_email
from tickets.models import Message, OutboxEmail, Status, Ticket
from tickets.services import Actor, ticket_update

pytestmark = pytest.mark.django_db(databases="__all__")
STAFF = Actor(id=7, name="Sam Staff")


def _latest(department, ticket) -> Ticket:
    return Ticket.objects.using(department.alias).get(pk=ticket.pk)


def _staff_change(department, ticket, **change) -> Ticket:
    ticket_update(
        department=department,
        ticket_id=ticket.pk,
        expected_version=_latest(department, ticket).version,
        actor=STAFF,
        **change,
    )
    return _latest(department, ticket)


def _reply_token(client, url) -> str:
    page = client.get(url).content.decode()
    return re.search(r'name="reply_token" value="([^"]+)"', page).group(1)


def _customer_messages(department, ticket) -> list[Message]:
    return list(
        Message.objects.using(department.alias).filter(ticket_id=ticket.pk, from_customer=True)
    )


# --- 1. Reading / writing as someone else -------------------------------------------------------


def test_encoded_word_display_name_cannot_pose_as_the_customer(tech):
    """Mailsploit-style From: the display name is an RFC 2047 encoded word that decodes to
    "Victim <victim@bank.example>", the real address is the attacker's. The MTA's SPF/DKIM/
    DMARC checks see (and pass) evil.example; the help desk decodes the header *before*
    parsing the address and reads victim@bank.example as the sender, so the attacker's text
    lands on the victim's ticket as the customer's own reply (and reopens it)."""
    department = tech
    victim = TicketFactory(department=department, customer_email="victim@bank.example")
    victim = _staff_change(department, victim, status=Status.RESOLVED)
    disguise = base64.b64encode(b"Victim <victim@bank.example>").decode()
    raw = build(
        "Please change my payout account to IBAN XX00 EVIL.",
        sender=f"=?utf-8?b?{disguise}?= <mallory@evil.example>",
        In_Reply_To=f"<{victim.reference}@localhost>",
    )

    outcome = ingest_email(raw)

    assert outcome.kind != Kind.ADDED, outcome
    assert _customer_messages(department, victim) == []
    assert _latest(department, victim).status == Status.RESOLVED


# --- 2. Data loss -------------------------------------------------------------------------------


def test_a_reply_sent_while_the_ticket_was_closed_keeps_the_typed_text(client, tech):
    """The customer opens their page (ticket Pending), writes a long reply; meanwhile staff
    close the ticket. Sending answers 409 with the "This ticket is closed" notice and no form:
    the text typed is gone (not on the page, not carried into the offered follow-up ticket)."""
    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    ticket = _staff_change(tech, ticket, status=Status.PENDING, reply="Which VPN client?")
    url = customer_link_path(ticket.reference, ticket.customer_email)
    token = _reply_token(client, url)
    _staff_change(tech, ticket, status=Status.CLOSED)

    typed = "Cisco AnyConnect 4.10 on Windows 11, log attached below: ... (20 minutes of typing)"
    response = client.post(url, {"body": typed, "reply_token": token})

    assert response.status_code == 409
    page = response.content.decode()
    assert typed in page, "the reply the customer typed is not handed back anywhere"


def test_inline_answers_below_an_attribution_line_are_not_dropped(tech):
    """A customer answers point by point under the quoted questions (Thunderbird/mutt style,
    with a greeting above). body.trim_quoted cuts everything from the "On ... wrote:" line,
    so the actual answers are silently lost; only "Hi, answers inline below." is stored.
    (Its docstring promises: quotes between the customer's own lines stay.)"""
    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    raw = reply_to(
        ticket,
        "Hi,\n\nanswers inline below.\n\n"
        "On Tue, 2 Jan 2024 at 10:00, Help desk <support@localhost> wrote:\n"
        "> Which VPN client do you use?\n"
        "Cisco AnyConnect 4.10.\n"
        "> Which operating system?\n"
        "Windows 11.\n",
    )

    assert ingest_email(raw).kind == Kind.ADDED

    [message] = _customer_messages(tech, ticket)
    assert "Cisco AnyConnect 4.10." in message.body
    assert "Windows 11." in message.body


# --- 3. Limits ----------------------------------------------------------------------------------


def test_a_double_clicked_reply_is_not_counted_twice_or_refused(client, tech, settings):
    """The same reply POST (same one-time token, same text) is stored once, but every copy
    takes a slot of the per-address reply limit before the duplicate check, and once the
    allowance is used a replay of an already-saved reply is answered 429 "please send it
    again" (it was saved). The tickets form answers replays before the limit (README)."""
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "customer-reply": (2, 900)}
    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    url = customer_link_path(ticket.reference, ticket.customer_email)
    same = {"body": "It still drops.", "reply_token": _reply_token(client, url)}

    statuses = [client.post(url, same).status_code for _ in range(3)]

    assert len(_customer_messages(tech, ticket)) == 1
    assert statuses == [302, 302, 302]
    fresh = {"body": "And now also on Wi-Fi.", "reply_token": _reply_token(client, url)}
    assert client.post(url, fresh).status_code == 302, "one real reply used the whole allowance"


def test_replies_by_email_are_limited_like_replies_on_the_page(tech, settings):
    """HELPDESK_CUSTOMER_REPLY_LIMIT applies only to the web form. By email there is no limit:
    every mail (From is trivially forged for anyone who knows reference + address) adds a
    message and queues a "customer replied" email to the assignee."""
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "customer-reply": (3, 900)}
    agent = UserFactory(departments=[tech])
    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    _staff_change(tech, ticket, assignee=agent)

    outcomes = [ingest_email(reply_to(ticket, f"flood {n}")).kind for n in range(10)]

    notified = OutboxEmail.objects.using(tech.alias).filter(
        ticket_id=ticket.pk, kind=OutboxEmail.Kind.CUSTOMER_REPLIED
    )
    assert outcomes.count(Kind.ADDED) <= 3
    assert notified.count() <= 3


# --- 4. Mail loops ------------------------------------------------------------------------------


def test_an_unthreaded_auto_responder_does_not_ping_pong_forever(settings):
    """Another system that acknowledges every mail it gets (no Auto-Submitted/Precedence, a
    fresh subject, no In-Reply-To; common in other ticket systems and cheap autoresponders)
    writes to the help desk. Each acknowledgement is a new ticket, each new ticket mails a
    "We received your request" back to it, which it acknowledges... 10 rounds: 10 tickets and
    10 confirmations, with nothing (per-sender limit, loop counter) ever stopping it."""
    responder = "noreply@other-helpdesk.example"
    rounds = 10
    for n in range(rounds):
        ingest_email(
            build(
                f"Thank you for contacting us. Your case number is #{1000 + n}.",
                sender=f"Other Desk <{responder}>",
                to="support@localhost",
                subject=f"[Case #{1000 + n}] We received your message",
            )
        )

    confirmations = sum(
        OutboxEmail.objects.using(d.alias)
        .filter(kind=OutboxEmail.Kind.RECEIVED, recipient=responder)
        .count()
        for d in all_departments()
    )
    assert confirmations < rounds, f"{confirmations} confirmations sent to one auto-responder"


def test_staff_answering_a_notification_by_email_does_not_become_a_customer_ticket(tech):
    """Staff notifications ("Customer replied: ...") come From the department address with no
    Reply-To, so an agent who answers one from their mail program writes to the help desk.
    The mail names our Message-ID, the sender is not the customer, so it becomes a NEW
    ticket with the agent as its "customer" (and a "We received your request" to the agent);
    the answer meant for the customer never reaches them and nobody is told."""
    agent = UserFactory(departments=[tech], email="tess@helpdesk.example")
    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    _staff_change(tech, ticket, assignee=agent)
    ingest_email(reply_to(ticket, "It still drops."))
    notification = OutboxEmail.objects.using(tech.alias).get(
        ticket_id=ticket.pk, kind=OutboxEmail.Kind.CUSTOMER_REPLIED
    )

    outcome = ingest_email(
        build(
            "Please reinstall the client, Ada.",
            sender=f"Tess <{agent.email}>",
            to="helpdesk@localhost",
            subject=f"Re: [{ticket.reference}] Customer replied: {ticket.subject}",
            In_Reply_To=notification.message_id,
        )
    )

    assert outcome.kind != Kind.CREATED, outcome
    assert not any(
        Ticket.objects.using(d.alias).filter(customer_email=agent.email).exists()
        for d in all_departments()
    )


# --- 5. Mail sent twice -------------------------------------------------------------------------


def test_one_mail_delivered_twice_at_once_to_a_closed_ticket_tells_the_customer_once(
    tech, monkeypatch
):
    """The same email arrives twice at the same moment (the provider retries a webhook that
    is still running, or the pipe and the webhook both deliver it). Both look for an earlier
    ticket before either commits, so both find none; the second's insert then meets the
    first's submission_key and ticket_create hands back the first ticket, but _new_ticket
    goes on and queues a second "your message became a new ticket" email in its
    transaction. Emulated: the look-up of the second delivery ran before the first commit."""
    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    _staff_change(tech, ticket, status=Status.CLOSED)
    raw = reply_by_thread(ticket, "Still broken.", message_id="<once@mail.example>")
    monkeypatch.setattr("tickets.mail.inbound.ticket_for_submission", lambda *a, **k: None)

    first, second = ingest_email(raw), ingest_email(raw)

    assert first.kind == Kind.CREATED
    assert second.reference == first.reference  # one new ticket: the unique key held
    closed_notices = OutboxEmail.objects.using(tech.alias).filter(
        ticket_id=ticket.pk, kind=OutboxEmail.Kind.CLOSED
    )
    assert closed_notices.count() == 1, "the customer is told twice"


# --- 6. Server errors ---------------------------------------------------------------------------


def test_saving_notification_settings_twice_at_once_is_not_a_500(client, monkeypatch):
    """First save of /accounts/notifications/ from two tabs (or a double click without JS):
    both requests read "no row", the second INSERT hits the one-to-one unique key and the
    view answers 500. Emulated here by committing the other request's row between this
    request's read and its save."""
    from accounts import views

    user = UserFactory()
    client.force_login(user)
    original = views.NotificationSettingsForm.is_valid

    def other_tab_saved_first(self):
        NotificationSettings.objects.get_or_create(user=user)
        return original(self)

    monkeypatch.setattr(views.NotificationSettingsForm, "is_valid", other_tab_saved_first)
    client.raise_request_exception = False

    response = client.post(reverse("accounts:notifications"), {"email_enabled": "on"})

    assert response.status_code < 500


# --- Found by the review of the whole change ------------------------------------------------------


def test_a_reference_alone_cannot_make_a_thread_id_that_reaches_the_ticket(tech):
    """The thread root id used to be ``<REF@host>``: anyone who knew a reference (it is in every
    subject line) and the customer's address could add "their" replies by email. Our ids now
    carry the reply tag; a bare one leads nowhere and the mail becomes a ticket of its own."""
    from django.conf import settings as django_settings

    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    host = django_settings.HELPDESK_REPLY_ADDRESS.rpartition("@")[2]
    raw = build(
        "Please change my payout IBAN to ...",
        sender="ada@example.com",
        In_Reply_To=f"<{ticket.reference}@{host}>",
    )

    outcome = ingest_email(raw)

    assert outcome.kind == Kind.CREATED and outcome.reference != ticket.reference
    assert _customer_messages(tech, ticket) == []


def test_an_auto_responder_to_closed_ticket_notices_does_not_loop(tech, settings):
    """Every mail to a closed ticket became a follow-up ticket and a "your ticket is closed"
    notice, with no limit: an auto-responder answering the notice looped for ever."""
    settings.HELPDESK_RATE_LIMITS = {
        **settings.HELPDESK_RATE_LIMITS,
        "email-confirmation": (3, 3600),
    }
    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    _staff_change(tech, ticket, status=Status.CLOSED)

    for n in range(8):
        assert ingest_email(reply_to(ticket, f"Auto: got your message {n}")).kind == Kind.CREATED

    notices = OutboxEmail.objects.using(tech.alias).filter(kind=OutboxEmail.Kind.CLOSED)
    assert notices.count() == 3


def test_the_public_form_cannot_mail_one_address_without_limit(client, tech, settings):
    """The confirmation repeats the typed subject and message to the typed address: from many
    client addresses, the form would send anything to anyone from our domain. Confirmations
    to one recipient are limited like those of tickets by email; the tickets are still made."""
    from tickets import forms

    settings.HELPDESK_RATE_LIMITS = {
        **settings.HELPDESK_RATE_LIMITS,
        "email-confirmation": (2, 3600),
    }
    for n in range(4):
        response = client.post(
            "/",
            {
                "name": "Spammer",
                "email": "Victim@Example.com",
                "department": tech.slug,
                "subject": f"Cheap pills {n}",
                "message": "Buy now",
                "submission_token": forms.submission_token_new(),
            },
            REMOTE_ADDR=f"203.0.113.{n}",
        )
        assert response.status_code == 302
    outbox = OutboxEmail.objects.using(tech.alias)
    assert Ticket.objects.using(tech.alias).count() == 4
    assert outbox.filter(kind=OutboxEmail.Kind.RECEIVED).count() == 2
