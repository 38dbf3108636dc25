"""The placeholder staff dashboard: per-department totals, scoped to the user's departments."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError
from django.urls import reverse

from tests.factories import SuperadminFactory, TicketFactory, UserFactory
from tickets import selectors

pytestmark = pytest.mark.django_db(databases="__all__")


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert client.get(response["Location"]).status_code == 200


def test_login_then_dashboard(client, tech):
    UserFactory(username="pat", departments=[tech])
    response = client.post(
        reverse("accounts:login"),
        {"username": "pat", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


def test_agent_sees_only_member_departments(client, tech, billing):
    TicketFactory(department=tech)
    client.force_login(UserFactory(departments=[tech]))
    page = client.get(reverse("dashboard")).content.decode()
    assert "Technical Issues" in page
    assert "Account &amp; Billing" not in page


def test_superadmin_sees_all_and_a_down_department_is_named(client, departments, billing):
    TicketFactory(department=billing)
    client.force_login(SuperadminFactory())
    real = selectors.ticket_counts

    def flaky(department):
        if department == billing:
            raise OperationalError("connection refused")
        return real(department)

    with mock.patch.object(selectors, "ticket_counts", side_effect=flaky):
        response = client.get(reverse("dashboard"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Account &amp; Billing is unavailable right now" in page
    for department in departments:
        assert department.label.replace("&", "&amp;") in page
