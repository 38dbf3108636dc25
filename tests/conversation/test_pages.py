"""The pages of the conversation: the customer's ticket page (from the emailed link), fresh
links by email, and the staff page's explicit Reply / Internal note buttons."""

from __future__ import annotations

import re

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from tests.factories import TicketFactory, UserFactory
from tickets import forms
from tickets.mail.addresses import LINK_SALT, customer_link_path, customer_link_token
from tickets.models import Message, OutboxEmail, Status, Ticket, Visibility
from tickets.services import Actor, ticket_update

pytestmark = pytest.mark.django_db(databases="__all__")
STAFF = Actor(id=7, name="Sam Staff")
SECRET_NOTE = "INTERNAL-ONLY-8c1f: customer is a known refund abuser"


@pytest.fixture
def ticket(tech):
    ticket = TicketFactory(
        department=tech,
        customer_name="Ada Lovelace",
        customer_email="Ada@Example.com",
        subject="VPN drops",
        message="It drops every hour.",
    )
    for change in ({"note": SECRET_NOTE}, {"reply": "Which VPN client do you use?"}):
        current = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
        ticket_update(
            department=tech,
            ticket_id=ticket.pk,
            expected_version=current.version,
            actor=STAFF,
            status=Status.PENDING,
            **change,
        )
    return Ticket.objects.using(tech.alias).get(pk=ticket.pk)


def page_of(response) -> str:
    return response.content.decode()


def reply_form(client, url) -> dict:
    page = page_of(client.get(url))
    token = re.search(r'name="reply_token" value="([^"]+)"', page).group(1)
    return {"reply_token": token}


# --- The customer's page ------------------------------------------------------------------------


def test_the_link_shows_the_public_thread_and_never_a_note(client, ticket):
    response = client.get(customer_link_path(ticket.reference, "ada@example.com"))
    assert response.status_code == 200
    page = page_of(response)
    assert "VPN drops" in page and "It drops every hour." in page
    assert "Which VPN client do you use?" in page
    assert "INTERNAL-ONLY-8c1f" not in page and "refund abuser" not in page
    assert 'class="status status-pending">Pending</span>' in page
    assert "Send reply" in page


def test_the_customer_replies_and_the_ticket_opens_again(client, tech, ticket):
    url = customer_link_path(ticket.reference, ticket.customer_email)
    response = client.post(url, {**reply_form(client, url), "body": "Cisco <b>AnyConnect</b>"})
    assert response.status_code == 302 and response["Location"] == url
    page = page_of(client.get(url))
    assert "Your reply was added to " + ticket.reference in page
    assert "Cisco &lt;b&gt;AnyConnect&lt;/b&gt;" in page
    message = Message.objects.using(tech.alias).get(from_customer=True)
    assert (message.body, message.visibility) == ("Cisco <b>AnyConnect</b>", Visibility.PUBLIC)
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).status == Status.OPEN


def test_the_same_reply_sent_twice_is_added_once(client, tech, ticket):
    url = customer_link_path(ticket.reference, ticket.customer_email)
    data = {**reply_form(client, url), "body": "Sent twice by a double click"}
    assert client.post(url, data).status_code == 302
    assert client.post(url, data).status_code == 302
    assert Message.objects.using(tech.alias).filter(from_customer=True).count() == 1


def test_an_empty_or_overlong_reply_is_explained_and_kept(client, tech, ticket):
    url = customer_link_path(ticket.reference, ticket.customer_email)
    empty = client.post(url, {**reply_form(client, url), "body": "   "})
    assert empty.status_code == 200 and forms.MSG_REPLY_REQUIRED in page_of(empty)
    too_long = "x" * (forms.NOTE_MAX + 1)
    long = client.post(url, {**reply_form(client, url), "body": too_long})
    assert long.status_code == 200 and too_long in page_of(long)
    assert "characters or fewer" in page_of(long)
    assert not Message.objects.using(tech.alias).filter(from_customer=True).exists()


def test_a_closed_ticket_offers_a_new_one_instead_of_a_reply(client, tech, ticket):
    ticket_update(
        department=tech,
        ticket_id=ticket.pk,
        expected_version=ticket.version,
        actor=STAFF,
        status=Status.CLOSED,
    )
    url = customer_link_path(ticket.reference, ticket.customer_email)
    page = page_of(client.get(url))
    assert "This ticket is closed" in page and "Send reply" not in page
    follow_up = f"{reverse('home')}?follow_up={ticket.reference}"
    assert follow_up in page
    form = client.get(follow_up).context["form"]
    assert (form.initial["department"], form.initial["subject"]) == (
        tech.slug,
        f"Follow-up to {ticket.reference}",
    )
    refused = client.post(url, {"body": "Still broken", "reply_token": ""})
    assert refused.status_code == 409
    assert not Message.objects.using(tech.alias).filter(from_customer=True).exists()


@pytest.mark.parametrize("bad", ["tampered", "truncated", "garbage", "other address", "gone"])
def test_bad_links_get_a_clear_page_and_a_way_to_a_new_link(client, tech, ticket, bad):
    token = customer_link_token(ticket.reference, ticket.customer_email)
    token = {
        "tampered": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "truncated": token[: len(token) // 2],
        "garbage": "%00<script>",
        "other address": customer_link_token(ticket.reference, "eve@example.com"),
        "gone": customer_link_token("TEC-222222", ticket.customer_email),
    }[bad]
    response = client.get(reverse("customer_ticket", args=[token]))
    assert response.status_code == 404
    page = page_of(response)
    assert "This link does not work" in page and "Email me a new link" in page
    assert "VPN drops" not in page


def test_an_expired_link_says_so(client, ticket, settings):
    settings.HELPDESK_CUSTOMER_LINK_DAYS = 0
    response = client.get(customer_link_path(ticket.reference, ticket.customer_email))
    assert response.status_code == 410
    assert "This link has expired" in page_of(response) and "VPN drops" not in page_of(response)


def test_a_link_signed_with_another_purpose_opens_nothing(client, ticket):
    # The same secret signs other things (the submission token): the salt keeps them apart.
    other = signing.dumps([ticket.reference, "ada@example.com"], salt="something-else")
    assert client.get(reverse("customer_ticket", args=[other])).status_code == 404
    ours = signing.dumps([ticket.reference, "ada@example.com"], salt=LINK_SALT, compress=True)
    assert client.get(reverse("customer_ticket", args=[ours])).status_code == 200


def test_the_department_down_keeps_the_reply(client, tech, ticket, database_down):
    url = customer_link_path(ticket.reference, ticket.customer_email)
    data = {**reply_form(client, url), "body": "do not lose me"}
    with database_down(tech):
        response = client.post(url, data)
    assert response.status_code == 503
    # Failing before the page could be read again, it hands the text back to copy.
    assert "do not lose me</textarea>" in page_of(response)
    assert not Message.objects.using(tech.alias).filter(from_customer=True).exists()


# --- Fresh links by email -----------------------------------------------------------------------


def link_rows(department) -> int:
    return OutboxEmail.objects.using(department.alias).filter(kind=OutboxEmail.Kind.LINK).count()


def test_asking_for_a_link_emails_the_ticket_address_and_reveals_nothing(client, tech, ticket):
    url = reverse("customer_link_request")
    match = client.post(url, {"reference": ticket.reference, "email": "ADA@example.com"})
    miss = client.post(url, {"reference": ticket.reference, "email": "eve@example.com"})
    unknown = client.post(url, {"reference": "TEC-222222", "email": "eve@example.com"})
    assert link_rows(tech) == 1
    row = OutboxEmail.objects.using(tech.alias).get(kind=OutboxEmail.Kind.LINK)
    # The ticket's own address, never the one typed.
    assert row.recipient == ticket.customer_email
    texts = [
        re.sub(
            r'name="csrfmiddlewaretoken" value="[^"]+"',
            "",
            page_of(r).replace("ADA@example.com", "X").replace("eve@example.com", "X"),
        )
        for r in (match, miss, unknown)
    ]
    assert all(r.status_code == 200 for r in (match, miss, unknown))
    assert texts[0] == texts[1] == texts[2]
    assert "Check your email" in texts[0]


def test_link_requests_are_rate_limited(client, tech, ticket, settings):
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "link-request": (2, 900)}
    url = reverse("customer_link_request")
    data = {"reference": ticket.reference, "email": ticket.customer_email}
    assert [client.post(url, data).status_code for _ in range(3)] == [200, 200, 429]
    assert link_rows(tech) == 2


def test_invalid_link_request_keeps_what_was_typed(client):
    response = client.post(
        reverse("customer_link_request"), {"reference": "not a ref", "email": "nope"}
    )
    page = page_of(response)
    assert response.status_code == 200
    assert forms.MSG_REFERENCE_INVALID in page and 'value="not a ref"' in page


# --- The staff page: reply or note, never by default ---------------------------------------------


@pytest.fixture
def agent(tech):
    return UserFactory(username="tess", first_name="Tess", last_name="Tech", departments=[tech])


def staff_post(client, tech, ticket, **data):
    current = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    form = {
        "version": current.version,
        "status": current.status,
        "priority": current.priority,
        "assignee": current.assignee_id or "",
        **data,
    }
    return client.post(reverse("ticket_detail", args=[tech.slug, ticket.pk]), form)


def test_staff_reply_button_sends_to_the_customer(client, tech, ticket, agent):
    client.force_login(agent)
    OutboxEmail.objects.using(tech.alias).all().delete()
    response = staff_post(
        client, tech, ticket, body="Please update the client.", send="reply", status="resolved"
    )
    assert response.status_code == 302
    reply = Message.objects.using(tech.alias).filter(visibility=Visibility.PUBLIC).last()
    assert (reply.body, reply.author_name) == ("Please update the client.", "Tess Tech")
    assert OutboxEmail.objects.using(tech.alias).get().kind == OutboxEmail.Kind.REPLY
    page = page_of(client.get(response["Location"]))
    assert f"reply sent to {ticket.customer_email}" in page
    assert "status is now Resolved" in page


def test_staff_note_button_stays_internal(client, tech, ticket, agent):
    client.force_login(agent)
    OutboxEmail.objects.using(tech.alias).all().delete()
    response = staff_post(client, tech, ticket, body="Checked the logs.", send="note")
    assert response.status_code == 302
    note = Message.objects.using(tech.alias).order_by("id").last()
    assert (note.body, note.visibility) == ("Checked the logs.", Visibility.INTERNAL)
    assert not OutboxEmail.objects.using(tech.alias).exists()
    customer_page = page_of(Client().get(customer_link_path(ticket.reference, "ada@example.com")))
    assert "Checked the logs." not in customer_page


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"body": "Which one is it?"}, forms.MSG_CHOOSE_SEND),
        ({"body": "Which one is it?", "send": "save"}, forms.MSG_CHOOSE_SEND),
        ({"body": "Which one?", "send": "both"}, forms.MSG_CHOOSE_SEND),
        ({"body": "   ", "send": "reply"}, forms.MSG_WRITE_REPLY),
        ({"body": "", "send": "note"}, forms.MSG_WRITE_NOTE),
    ],
)
def test_text_without_an_explicit_choice_is_never_sent(client, tech, ticket, agent, data, error):
    client.force_login(agent)
    before = Message.objects.using(tech.alias).count()
    response = staff_post(client, tech, ticket, **data)
    assert response.status_code == 200
    assert error in page_of(response)
    assert Message.objects.using(tech.alias).count() == before
    if data["body"].strip():
        assert data["body"] + "</textarea>" in page_of(response)


def test_the_staff_page_tells_notes_and_replies_apart(client, tech, ticket, agent):
    client.force_login(agent)
    page = page_of(client.get(reverse("ticket_detail", args=[tech.slug, ticket.pk])))
    note = page[page.index("INTERNAL-ONLY-8c1f") - 600 : page.index("INTERNAL-ONLY-8c1f")]
    reply = page[page.index("Which VPN client") - 600 : page.index("Which VPN client")]
    assert "entry-internal" in note and "Internal note · staff only" in note
    assert "entry-reply" in reply and "sent to customer" in reply
    assert "Send reply to customer" in page and "Add internal note" in page
