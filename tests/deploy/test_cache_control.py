"""No response carrying customer data may be stored by a browser or a proxy."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import SuperadminFactory, TicketFactory
from tests.support.urls import concrete_urls, sample_parameters

pytestmark = pytest.mark.django_db(databases="__all__")


def _directives(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part}


def test_every_page_is_private_and_not_stored(tech):
    boss = SuperadminFactory(username="boss", is_staff=True, is_superuser=True)
    ticket = TicketFactory(department=tech, customer_email="casey@example.com")
    samples = sample_parameters(user=boss, department=tech, ticket=ticket)
    staff, anonymous = Client(), Client()
    staff.force_login(boss)
    seen = 0
    for url in concrete_urls(samples):
        for client in (staff, anonymous):
            response = client.get(url.path)
            assert {"private", "no-store"} <= _directives(response), (url.path, response)
            seen += 1
    assert seen >= 60


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_export_is_private_and_not_stored(tech):
    # Committed: the export reads departments on the dashboard's own connections.
    boss = SuperadminFactory(username="boss")
    TicketFactory(department=tech, customer_email="casey@example.com")
    client = Client()
    client.force_login(boss)
    response = client.get("/dashboard/export.csv")
    assert b"casey@example.com" in b"".join(response.streaming_content)
    assert {"private", "no-store"} <= _directives(response)


def test_static_files_keep_their_own_caching(settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = Client().get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
