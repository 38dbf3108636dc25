"""The staff ticket page: access rules, the update form, version conflicts, escaping."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.db import OperationalError
from django.urls import reverse

from tests.factories import SuperadminFactory, TicketFactory, UserFactory
from tickets import forms, services
from tickets.models import Message, Priority, Status, Ticket, TicketEvent
from tickets.services import MSG_NOTHING_TO_SAVE, MSG_STALE, Actor, ticket_update
from tickets.views import staff as views

pytestmark = pytest.mark.django_db(databases="__all__")


def detail_url(department, ticket) -> str:
    return reverse("ticket_detail", args=[department.slug, ticket.pk])


def change(ticket, **overrides) -> dict:
    """The update form as the page rendered it for ``ticket``, with ``overrides``; ``note=`` or
    ``reply=`` is the text written with that button pressed (else "Save changes only")."""
    sent = {"body": "", "send": "save"}
    for button in ("note", "reply"):
        if button in overrides:
            sent = {"body": overrides.pop(button), "send": button}
    return {
        "version": ticket.version,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee_id or "",
        **sent,
        **overrides,
    }


@pytest.fixture
def agent(tech):
    return UserFactory(username="tess", first_name="Tess", last_name="Tech", departments=[tech])


@pytest.fixture
def ticket(tech):
    return TicketFactory(department=tech, subject="VPN drops every hour")


def test_anonymous_is_sent_to_sign_in(client, tech, ticket):
    url = detail_url(tech, ticket)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"
    for url in [reverse("ticket_by_reference", args=[ticket.reference]), reverse("ticket_find")]:
        assert client.get(url)["Location"].startswith(reverse("accounts:login"))


def test_agent_sees_own_department_ticket(client, agent, tech, ticket):
    client.force_login(agent)
    response = client.get(detail_url(tech, ticket))
    assert response.status_code == 200
    page = response.content.decode()
    assert ticket.reference in page and "VPN drops every hour" in page
    assert ticket.customer_email in page
    assert f'name="version" value="{ticket.version}"' in page


def test_other_departments_are_404_not_403(client, agent, billing, departments):
    client.force_login(agent)
    other = TicketFactory(department=billing)
    assert client.get(detail_url(billing, other)).status_code == 404
    assert client.get(reverse("ticket_by_reference", args=[other.reference])).status_code == 404
    response = client.post(detail_url(billing, other), change(other, status=Status.CLOSED))
    assert response.status_code == 404
    assert Ticket.objects.using(billing.alias).get().status == Status.NEW
    # Unknown department slugs and ticket ids look the same.
    assert client.get("/tickets/no-such-dept/1/").status_code == 404
    assert (
        client.get(reverse("ticket_detail", args=[departments[0].slug, 999999])).status_code == 404
    )


def test_same_id_in_another_department_is_not_reachable_through_own_slug(
    client, agent, tech, billing
):
    # Ids are per department: billing's ticket 1 is not tech's ticket 1.
    TicketFactory(department=billing, subject="Billing secret")
    client.force_login(agent)
    response = client.get(reverse("ticket_detail", args=[tech.slug, 1]))
    assert "Billing secret" not in response.content.decode()


def test_superadmin_opens_every_department(client, departments):
    client.force_login(SuperadminFactory())
    for department in departments:
        ticket = TicketFactory(department=department)
        assert client.get(detail_url(department, ticket)).status_code == 200
        by_reference = client.get(reverse("ticket_by_reference", args=[ticket.reference]))
        assert by_reference["Location"] == detail_url(department, ticket)


def test_agent_with_no_membership_sees_nothing(client, tech, ticket):
    client.force_login(UserFactory(departments=[]))
    assert client.get(detail_url(tech, ticket)).status_code == 404


def test_status_change_with_note_in_one_save(client, agent, tech, ticket):
    client.force_login(agent)
    response = client.post(
        detail_url(tech, ticket), change(ticket, status=Status.RESOLVED, note="Reset the VPN.")
    )
    assert response.status_code == 302 and response["Location"] == detail_url(tech, ticket)
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert (stored.status, stored.version) == (Status.RESOLVED, 2)
    assert stored.resolved_at is not None
    note = Message.objects.using(tech.alias).get()
    assert (note.body, note.author_id, note.author_name) == (
        "Reset the VPN.",
        agent.pk,
        "Tess Tech",
    )
    page = client.get(response["Location"]).content.decode()
    assert "Saved " + ticket.reference + ": status is now Resolved, note added." in page
    assert "Status changed from New to Resolved" in page and "Internal note added" in page
    assert "Reset the VPN." in page


def test_reopening_clears_resolved(client, agent, tech, ticket):
    client.force_login(agent)
    client.post(detail_url(tech, ticket), change(ticket, status=Status.CLOSED))
    closed = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert closed.resolved_at is not None
    client.post(detail_url(tech, ticket), change(closed, status=Status.OPEN))
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).resolved_at is None


def test_priority_and_assignment(client, agent, tech, ticket):
    client.force_login(agent)
    client.post(
        detail_url(tech, ticket), change(ticket, priority=Priority.URGENT, assignee=agent.pk)
    )
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert (stored.priority, stored.assignee_id) == (Priority.URGENT, agent.pk)
    client.post(detail_url(tech, ticket), change(stored, assignee=""))
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).assignee_id is None
    history = list(
        TicketEvent.objects.using(tech.alias)
        .filter(kind=TicketEvent.Kind.ASSIGNED)
        .values_list("old_value", "new_value")
    )
    assert history == [("", "Tess Tech"), ("Tess Tech", "")]
    page = client.get(detail_url(tech, ticket)).content.decode()
    assert "Assigned to Tess Tech" in page and "Unassigned (was Tess Tech)" in page


def test_assignee_choices_are_the_departments_active_staff(client, agent, tech, billing, ticket):
    boss = SuperadminFactory(first_name="Bea", last_name="Boss")
    UserFactory(first_name="Bill", last_name="Outsider", departments=[billing])
    UserFactory(first_name="Gone", last_name="Member", departments=[tech], is_active=False)
    client.force_login(agent)
    form = client.get(detail_url(tech, ticket)).context["form"]
    labels = [label for _, label in form.fields["assignee"].choices]
    assert labels == ["Nobody (unassigned)", "Bea Boss", "Tess Tech"]
    assert boss.pk != agent.pk


def test_assigning_an_outsider_is_refused(client, agent, tech, billing, ticket):
    outsider = UserFactory(departments=[billing])
    client.force_login(agent)
    response = client.post(
        detail_url(tech, ticket), change(ticket, assignee=outsider.pk, note="hand over")
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"assignee": [forms.MSG_UNKNOWN_ASSIGNEE]}
    assert "hand over</textarea>" in response.content.decode()
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).version == 1


def test_former_assignee_stays_choosable_for_unrelated_saves(client, agent, tech, ticket):
    leaver = UserFactory(first_name="Lee", last_name="Leaver", departments=[tech])
    ticket = ticket_update(
        department=tech,
        ticket_id=ticket.pk,
        expected_version=1,
        actor=Actor.from_user(agent),
        assignee=leaver,
    )
    leaver.is_active = False
    leaver.save()
    client.force_login(agent)
    page = client.get(detail_url(tech, ticket)).content.decode()
    assert "Lee Leaver (account disabled)" in page
    response = client.post(detail_url(tech, ticket), change(ticket, status=Status.OPEN))
    assert response.status_code == 302
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert (stored.status, stored.assignee_id) == (Status.OPEN, leaver.pk)


def test_nothing_to_save_is_explained(client, agent, tech, ticket):
    client.force_login(agent)
    response = client.post(detail_url(tech, ticket), change(ticket))
    assert response.status_code == 200
    assert MSG_NOTHING_TO_SAVE in response.content.decode()


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "on-fire"},
        {"priority": "99"},
        {"priority": "high"},
        {"assignee": "not-a-number"},
        {"version": "abc"},
        {"version": ""},
        {"note": "n" * (forms.NOTE_MAX + 1)},
    ],
)
def test_tampered_or_oversized_input_is_a_form_error(client, agent, tech, ticket, overrides):
    client.force_login(agent)
    response = client.post(detail_url(tech, ticket), change(ticket, **overrides))
    assert response.status_code == 200
    assert response.context["form"].errors
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).version == 1


def test_version_conflict_keeps_the_note_and_shows_the_latest(client, agent, tech, ticket):
    client.force_login(agent)
    page_version = change(ticket)  # what this agent's page holds
    # Meanwhile a colleague raises the priority.
    ticket_update(
        department=tech,
        ticket_id=ticket.pk,
        expected_version=1,
        actor=Actor(id=99, name="Colleague"),
        priority=Priority.HIGH,
    )
    response = client.post(
        detail_url(tech, ticket),
        {
            **page_version,
            "status": Status.PENDING,
            "body": "Asked for logs <b>today</b>",
            "send": "note",
        },
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert MSG_STALE in page
    assert "You had chosen: status Pending" in page
    # The typed note is kept (escaped), the form now carries the latest version and values,
    # so saving again cannot silently undo the colleague's change.
    assert "Asked for logs &lt;b&gt;today&lt;/b&gt;</textarea>" in page
    assert 'name="version" value="2"' in page
    assert re.search(r'<option value="3" selected>High</option>', page)
    assert re.search(r'<option value="new" selected>New</option>', page)
    assert "Priority changed from Normal to High" in page
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert (stored.status, stored.priority, stored.version) == (Status.NEW, Priority.HIGH, 2)
    assert not Message.objects.using(tech.alias).exists()


def test_thread_oldest_first_and_everything_escaped(client, agent, tech):
    ticket = TicketFactory(
        department=tech,
        subject="<script>alert('subject')</script>",
        message="<img src=x onerror=alert(1)>",
        customer_name="<b>Mallory</b>",
    )
    for version, body in enumerate(["first note", "<script>alert('note')</script>"], start=1):
        ticket_update(
            department=tech,
            ticket_id=ticket.pk,
            expected_version=version,
            actor=Actor(id=1, name="<i>Staff</i>"),
            note=body,
        )
    client.force_login(agent)
    page = client.get(detail_url(tech, ticket)).content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>Mallory" not in page
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;i&gt;Staff&lt;/i&gt;" in page
    assert page.index("&lt;script&gt;alert(&#x27;note&#x27;)") > page.index("first note")


def test_department_down_is_a_503_naming_it(client, agent, tech, ticket, database_down):
    client.force_login(agent)
    with database_down(tech):
        response = client.get(detail_url(tech, ticket))
        by_reference = client.get(reverse("ticket_by_reference", args=[ticket.reference]))
    assert response.status_code == 503 and by_reference.status_code == 503
    assert "Technical Issues is unavailable right now" in response.content.decode()


def test_failed_save_keeps_the_typed_note(client, agent, tech, ticket):
    client.force_login(agent)
    # The database fails while saving: the service's transaction writes nothing.
    with mock.patch.object(services, "bump_counts", side_effect=OperationalError("gone")):
        response = client.post(
            detail_url(tech, ticket), change(ticket, status=Status.OPEN, note="typed with care")
        )
    assert response.status_code == 503
    page = response.content.decode()
    assert "Not saved: Technical Issues is not answering" in page
    assert "typed with care</textarea>" in page
    assert re.search(r'<option value="open" selected>Open</option>', page)
    assert not Message.objects.using(tech.alias).exists()


def test_database_down_on_save_hands_the_note_back(client, agent, tech, ticket, database_down):
    client.force_login(agent)
    with database_down(tech):
        response = client.post(detail_url(tech, ticket), change(ticket, note="do not lose me"))
    assert response.status_code == 503
    page = response.content.decode()
    assert "What you wrote was not saved" in page and "do not lose me</textarea>" in page


def test_find_box(client, agent, tech, billing, ticket):
    client.force_login(agent)
    found = client.get(reverse("ticket_find"), {"reference": ticket.reference.lower()})
    assert found.status_code == 302 and found["Location"] == detail_url(tech, ticket)
    other = TicketFactory(department=billing)
    for reference in [other.reference, "TEC-222222", "ZZZ-222222"]:
        response = client.get(reverse("ticket_find"), {"reference": reference})
        assert response.status_code == 404
        assert "in your departments" in response.content.decode()
    invalid = client.get(reverse("ticket_find"), {"reference": "?!"})
    assert invalid.status_code == 200
    assert invalid.context["form"].errors == {"reference": [forms.MSG_REFERENCE_INVALID]}
    assert client.get(reverse("ticket_find")).status_code == 200  # empty box, no error


def test_find_never_queries_a_department_the_agent_is_not_in(client, agent, billing):
    client.force_login(agent)
    other = TicketFactory(department=billing)
    with mock.patch.object(views, "ticket_find_by_reference") as lookup:
        assert client.get(reverse("ticket_by_reference", args=[other.reference])).status_code == 404
    lookup.assert_not_called()
