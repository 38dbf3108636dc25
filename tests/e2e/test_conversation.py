"""End to end in Chromium: the whole conversation, with the emails between its steps.

The customer submits, gets the email, follows its link and replies; the agent sees the reply,
answers publicly and resolves; the customer gets that email and sees the answer. Mail is sent
by the real worker command (``deliver_outbox --once``) to Django's test mailbox.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.management import call_command

from tests.e2e.test_flows import PASSWORD, sign_in, submit_ticket
from tests.factories import UserFactory
from tickets.models import Message, Status, Ticket, Visibility

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, databases="__all__")]
expect = pytest.importorskip("playwright.sync_api", reason="needs the playwright package").expect
NOTE = "Internal: customer on the legacy plan, be generous"


def deliver() -> list:
    """Send what is due; the emails that went out."""
    before = len(mail.outbox)
    call_command("deliver_outbox", "--once", verbosity=0)
    return mail.outbox[before:]


def link_in(message) -> str:
    return re.search(r"https?://\S+/ticket/[^\s/]+/", message.body).group(0)


def test_customer_and_agent_talk_through_the_ticket(new_page, live_server, settings, tech):
    settings.HELPDESK_SITE_URL = live_server.url
    agent_user = UserFactory(
        username="tess", first_name="Tess", last_name="Tech", departments=[tech]
    )
    agent_user.set_password(PASSWORD)
    agent_user.save()

    customer = new_page()
    reference = submit_ticket(customer, tech, subject="Laptop will not boot")
    (received,) = [m for m in deliver() if m.to == ["ada@example.com"]]
    assert f"[{reference}]" in received.subject

    # The link in the email opens the ticket; the customer adds something.
    customer.goto(link_in(received))
    expect(customer.get_by_role("heading", name="Laptop will not boot")).to_be_visible()
    customer.get_by_label("Your reply").fill("It beeps three times.")
    customer.get_by_role("button", name="Send reply").click()
    expect(customer.get_by_role("status")).to_contain_text(f"Your reply was added to {reference}")
    expect(customer.get_by_text("It beeps three times.")).to_be_visible()

    # The agent sees it, writes a note, then answers publicly and resolves in one save.
    ticket = Ticket.objects.using(tech.alias).get(reference=reference)
    agent = new_page()
    sign_in(agent, "tess", goto=f"/tickets/{tech.slug}/{ticket.pk}/")
    expect(agent.locator(".entry-customer").last).to_contain_text("It beeps three times.")
    agent.get_by_label("Reply or internal note").fill(NOTE)
    agent.get_by_role("button", name="Add internal note").click()
    expect(agent.locator(".entry-internal")).to_contain_text(NOTE)
    agent.get_by_label("Reply or internal note").fill("Three beeps: reseat the memory.")
    agent.get_by_label("Status").select_option(label="Resolved")
    agent.get_by_role("button", name="Send reply to customer").click()
    expect(agent.get_by_role("status")).to_contain_text("reply sent to ada@example.com")
    expect(agent.locator(".entry-reply")).to_contain_text("Three beeps: reseat the memory.")

    sent = [m for m in deliver() if m.to == ["ada@example.com"]]
    assert len(sent) == 1  # the reply and the resolution are one email
    (answer,) = sent
    assert "Three beeps: reseat the memory." in answer.body
    assert NOTE not in answer.body and all(NOTE not in str(a) for a in answer.alternatives)

    # The customer follows the new email's link and sees the answer, never the note.
    customer.goto(link_in(answer))
    expect(customer.get_by_text("Three beeps: reseat the memory.")).to_be_visible()
    expect(customer.locator(".status-line")).to_contain_text("Resolved")
    expect(customer.get_by_text(NOTE)).to_have_count(0)

    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert stored.status == Status.RESOLVED and stored.first_response_at is not None
    thread = list(
        Message.objects.using(tech.alias).values_list("visibility", "from_customer", "body")
    )
    assert thread == [
        (Visibility.PUBLIC, True, "It beeps three times."),
        (Visibility.INTERNAL, False, NOTE),
        (Visibility.PUBLIC, False, "Three beeps: reseat the memory."),
    ]
