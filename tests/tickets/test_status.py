"""Checking a ticket's status at `/status/` with its reference and email address."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import TicketFactory
from tickets import forms
from tickets.mail.addresses import customer_link_path
from tickets.models import Status
from tickets.services import Actor, ticket_change_status
from tickets.views import public as views

pytestmark = pytest.mark.django_db(databases="__all__")
STAFF = Actor(id=7, name="Internal Ivy")


@pytest.fixture
def ticket(billing):
    return TicketFactory(
        department=billing, customer_email="Ada@Example.com", subject="Refund for order 12"
    )


def look_up(client, reference, email="ada@example.com"):
    return client.post(reverse("status_lookup"), {"reference": reference, "email": email})


def test_match_shows_status_department_dates_and_status_history(client, billing, ticket):
    ticket_change_status(
        department=billing,
        ticket_id=ticket.pk,
        expected_version=1,
        status=Status.PENDING,
        actor=STAFF,
        note="Customer sounds annoyed; internal only.",
    )
    # Email in another case, reference typed loosely: still a match.
    response = look_up(client, ticket.reference.lower().replace("-", " "), "ADA@example.COM")
    # It leads to the customer's ticket page, the same one the emails link to.
    assert response.status_code == 302
    assert response["Location"] == customer_link_path(ticket.reference, ticket.customer_email)
    page = client.get(response["Location"]).content.decode()
    assert 'class="status status-pending">Pending</span>' in page
    assert "Account &amp; Billing" in page
    assert "Refund for order 12" in page
    assert "We received your ticket" in page and "Status changed to Pending" in page
    # Notes and staff names are internal.
    assert "annoyed" not in page and "Internal Ivy" not in page


@pytest.mark.parametrize(
    "reference_kind", ["wrong email", "unknown reference", "unknown department code"]
)
def test_mismatch_reveals_nothing(client, ticket, reference_kind):
    reference, email = {
        "wrong email": (ticket.reference, "eve@example.com"),
        "unknown reference": ("BIL-222222", "ada@example.com"),
        "unknown department code": ("ZZZ-222222", "ada@example.com"),
    }[reference_kind]
    response = look_up(client, reference, email)
    assert response.status_code == 200
    page = response.content.decode()
    assert views.MSG_NO_MATCH in page
    assert "Refund for order 12" not in page
    # The status page stays closed to this browser.
    assert client.get(reverse("status_detail", args=[ticket.reference])).status_code == 302


def test_status_page_needs_the_email_first(ticket):
    stranger = Client()
    response = stranger.get(reverse("status_detail", args=[ticket.reference]))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('status_lookup')}?reference={ticket.reference}"
    form_page = stranger.get(response["Location"]).content.decode()
    assert f'value="{ticket.reference}"' in form_page  # prefilled, nothing else shown
    assert "Refund for order 12" not in form_page


def test_badly_shaped_reference_is_a_field_error(client, ticket):
    response = look_up(client, "my ticket from tuesday")
    assert response.status_code == 200
    assert response.context["form"].errors == {"reference": [forms.MSG_REFERENCE_INVALID]}
    assert '<a href="#id_reference">' in response.content.decode()


def test_lookup_reads_only_the_referenced_department(client, departments, billing, ticket):
    captures = {d.alias: CaptureQueriesContext(connections[d.alias]) for d in departments}
    for capture in captures.values():
        capture.__enter__()
    try:
        assert look_up(client, ticket.reference).status_code == 302
    finally:
        for capture in captures.values():
            capture.__exit__(None, None, None)
    queried = {alias for alias, capture in captures.items() if len(capture)}
    assert queried == {billing.alias}


def test_misses_are_rate_limited_and_then_even_a_match_waits(client, settings, ticket):
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "status-miss": (3, 900)}
    for _ in range(3):
        assert look_up(client, "BIL-222222").status_code == 200
    response = look_up(client, ticket.reference)
    assert response.status_code == 429
    assert "Please wait before checking again" in response.content.decode()
    assert 'value="ada@example.com"' in response.content.decode()
    # Someone else is not affected.
    assert look_up(Client(REMOTE_ADDR="198.51.100.4"), ticket.reference).status_code == 302


def test_matches_do_not_count_against_the_limit(client, settings, ticket):
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "status-miss": (1, 900)}
    for _ in range(3):
        assert look_up(client, ticket.reference).status_code == 302


def test_department_down_is_named(client, database_down, billing, ticket):
    with database_down(billing):
        response = look_up(client, ticket.reference)
    assert response.status_code == 503
    assert "Account &amp; Billing is unavailable right now" in response.content.decode()


def test_status_page_when_department_goes_down(client, database_down, billing, ticket):
    assert look_up(client, ticket.reference).status_code == 302
    with database_down(billing):
        response = client.get(reverse("status_detail", args=[ticket.reference]))
        customer_page = client.get(customer_link_path(ticket.reference, ticket.customer_email))
    assert response.status_code == 503 and customer_page.status_code == 503
    assert "Account &amp; Billing is unavailable right now" in response.content.decode()


def test_csrf_is_required_for_lookups(ticket):
    response = Client(enforce_csrf_checks=True).post(
        reverse("status_lookup"), {"reference": ticket.reference, "email": "ada@example.com"}
    )
    assert response.status_code == 403


def test_overlong_query_parameter_is_cut_not_crashed(client):
    response = client.get(reverse("status_lookup"), {"reference": "X" * 5000})
    assert response.status_code == 200
    assert "X" * 33 not in response.content.decode()
