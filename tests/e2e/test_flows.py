"""End to end in Chromium: a customer submits and checks tickets; staff sign in and work them."""

from __future__ import annotations

import re

import pytest

from tests.factories import TicketFactory, UserFactory
from tickets.models import Message, Status, Ticket

pytestmark = [
    pytest.mark.e2e,
    # The live server runs in another thread: its writes must really commit.
    pytest.mark.django_db(transaction=True, databases="__all__"),
]
PASSWORD = "correct horse battery staple"
expect = pytest.importorskip("playwright.sync_api", reason="needs the playwright package").expect


def sign_in(page, username: str, *, goto: str = "/dashboard/") -> None:
    page.goto(goto)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name=re.compile("Sign out"))).to_be_visible()


def submit_ticket(page, department, *, subject: str, email: str = "ada@example.com") -> str:
    page.goto("/")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Email address").fill(email)
    page.get_by_label(department.label, exact=True).check()
    page.get_by_label("Subject").fill(subject)
    page.get_by_label("Message").fill("First line.\nSecond line.")
    page.get_by_role("button", name="Send ticket").click()
    expect(page.get_by_role("heading", name="Ticket received")).to_be_visible()
    return page.get_by_test_id("reference").inner_text()


def check_status(page, reference: str, email: str) -> None:
    page.goto("/status/")
    page.get_by_label("Ticket reference").fill(reference)
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Check status").click()


def test_customer_submits_to_every_department_and_looks_each_up(new_page, departments):
    customer = new_page()
    references = {}
    for department in departments:
        reference = submit_ticket(customer, department, subject=f"Help with {department.code}")
        assert reference.startswith(f"{department.code}-")
        expect(customer.get_by_text(department.label, exact=True)).to_be_visible()
        references[department] = reference
        stored = Ticket.objects.using(department.alias).get(reference=reference)
        assert stored.subject == f"Help with {department.code}"

    # Someone else, with only the reference and the email (typed loosely), sees each status.
    elsewhere = new_page()
    for department, reference in references.items():
        check_status(elsewhere, reference.lower().replace("-", ""), "ADA@example.com")
        expect(
            elsewhere.get_by_role("heading", name=f"Help with {department.code}")
        ).to_be_visible()
        expect(elsewhere.locator(".status-line")).to_contain_text("New")
        expect(elsewhere.get_by_text(department.label, exact=True)).to_be_visible()

    # A wrong email shows nothing about the ticket.
    check_status(elsewhere, references[departments[0]], "eve@example.com")
    expect(elsewhere.get_by_text("No ticket matches")).to_be_visible()
    expect(elsewhere.get_by_text("Help with")).to_have_count(0)


def test_agent_resolves_a_ticket_with_a_note_and_the_customer_sees_the_status(new_page, tech):
    ticket = TicketFactory(
        department=tech,
        customer_email="ada@example.com",
        subject="VPN drops <script>alert('x')</script>",
    )
    UserFactory(username="tess", first_name="Tess", last_name="Tech", departments=[tech])

    agent = new_page()
    sign_in(agent, "tess")
    # The header's reference box opens the ticket.
    agent.get_by_label("Open ticket by reference").fill(ticket.reference.lower())
    agent.get_by_role("button", name="Open", exact=True).click()
    expect(agent).to_have_url(re.compile(rf"/tickets/{tech.slug}/{ticket.pk}/$"))
    expect(agent.locator("h1")).to_have_text("VPN drops <script>alert('x')</script>")

    agent.get_by_label("Status").select_option(label="Resolved")
    agent.get_by_label("Reply or internal note").fill("Replaced the <b>router</b>.")
    agent.get_by_role("button", name="Add internal note").click()
    expect(agent.get_by_role("status")).to_contain_text("status is now Resolved, note added")
    expect(agent.locator(".ticket-badges .status")).to_have_text("Resolved")
    expect(agent.locator(".entry-internal .entry-body")).to_have_text("Replaced the <b>router</b>.")
    history = agent.get_by_role("table")
    expect(history).to_contain_text("Status changed from New to Resolved")
    expect(history).to_contain_text("Internal note added")

    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert stored.status == Status.RESOLVED and stored.resolved_at is not None
    assert Message.objects.using(tech.alias).get().author_name == "Tess Tech"

    customer = new_page()
    check_status(customer, ticket.reference, "ada@example.com")
    expect(customer.locator(".status-line")).to_contain_text("Resolved")
    expect(customer.get_by_text("Status changed to Resolved")).to_be_visible()
    expect(customer.get_by_text("router")).to_have_count(0)


def test_agent_cannot_reach_another_departments_ticket(page, tech, billing):
    theirs = TicketFactory(department=billing, subject="Someone else's invoice")
    UserFactory(username="tess", departments=[tech])
    sign_in(page, "tess")
    for url in [f"/tickets/{billing.slug}/{theirs.pk}/", f"/t/{theirs.reference}/"]:
        response = page.goto(url)
        assert response.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        expect(page.get_by_text("Someone else's invoice")).to_have_count(0)
    page.get_by_label("Open ticket by reference").fill(theirs.reference)
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_text("in your departments")).to_be_visible()


def test_two_agents_at_once_the_second_save_is_refused_and_keeps_the_note(new_page, tech):
    ticket = TicketFactory(department=tech)
    UserFactory(username="first", departments=[tech])
    UserFactory(username="second", departments=[tech])
    url = f"/tickets/{tech.slug}/{ticket.pk}/"
    first, second = new_page(), new_page()
    sign_in(first, "first", goto=url)
    sign_in(second, "second", goto=url)

    first.get_by_label("Priority").select_option(label="Urgent")
    first.get_by_role("button", name="Save changes only").click()
    expect(first.get_by_role("status")).to_contain_text("priority is now Urgent")

    second.get_by_label("Status").select_option(label="Closed")
    second.get_by_label("Reply or internal note").fill("Closing as duplicate.")
    second.get_by_role("button", name="Add internal note").click()
    expect(second.get_by_role("alert")).to_contain_text("someone else changed this ticket")
    expect(second.get_by_label("Reply or internal note")).to_have_value("Closing as duplicate.")
    expect(second.get_by_label("Priority")).to_have_value("4")  # the latest, not a revert
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).status == Status.NEW


def test_errors_are_summarised_and_reachable_by_keyboard(page):
    page.goto("/")
    page.get_by_label("Email address").fill("not-an-email")
    page.get_by_role("button", name="Send ticket").focus()
    page.keyboard.press("Enter")
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile("^Error: "))
    # Tab to the first link in the summary; following it puts the cursor in the field.
    page.keyboard.press("Tab")
    expect(summary.get_by_role("link", name="Enter your name.")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Your name")).to_be_focused()
    # What was typed is still there.
    expect(page.get_by_label("Email address")).to_have_value("not-an-email")
    # The department radio group is labelled and keyboard-operable.
    page.get_by_role("link", name="Choose the department").click()
    expect(page.get_by_role("radio").first).to_be_focused()
    page.keyboard.press("Space")
    expect(page.get_by_role("radio").first).to_be_checked()


def test_dashboard_sorts_in_place_and_opens_a_ticket_as_its_own_page(page, tech, billing):
    older = TicketFactory(department=billing, subject="Aardvark invoice")
    newer = TicketFactory(department=tech, subject="Zebra printer")
    UserFactory(username="sam", role="superadmin")
    sign_in(page, "sam")
    rows = page.locator("table.dashboard-table tbody th[scope=row]")
    expect(rows).to_have_count(2)

    # Sorting swaps the table in place (htmx) and the URL follows, so it can be shared.
    page.get_by_role("link", name=re.compile("^Subject")).click()
    expect(page).to_have_url(re.compile(r"[?&]sort=subject"))
    expect(rows.first).to_have_text(older.reference)

    # A ticket link leaves the dashboard: one page with one site header, not a page inside it.
    page.get_by_role("link", name=newer.reference).click()
    expect(page).to_have_url(re.compile(rf"/tickets/{tech.slug}/{newer.pk}/$"))
    expect(page.locator("header.site-header")).to_have_count(1)
    expect(page.locator("h1")).to_have_text("Zebra printer")
