"""/healthz: the system database and each department, reachable, latency, pending migrations."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.db import OperationalError, connections
from django.urls import reverse

from departments import health

pytestmark = pytest.mark.django_db(databases="__all__")


def test_all_healthy_is_200_with_every_department(client, departments):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["system"]["reachable"] is True and body["system"]["pending_migrations"] == []
    assert [d["name"] for d in body["departments"]] == [d.slug for d in departments]
    for entry in body["departments"]:
        assert entry["reachable"] is True
        assert entry["pending_migrations"] == []
        assert entry["latency_ms"] >= 0
    assert response["Cache-Control"].startswith("max-age=0")


def test_an_unreachable_department_is_503_and_named(client, billing):
    real = health._applied

    def flaky(alias, apps):
        if alias == billing.alias:
            raise OperationalError("could not connect to server")
        return real(alias, apps)

    with mock.patch.object(health, "_applied", side_effect=flaky):
        response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    by_name = {d["name"]: d for d in body["departments"]}
    assert by_name["account-billing"]["reachable"] is False
    assert by_name["account-billing"]["error"] == "OperationalError"
    assert all(d["reachable"] for name, d in by_name.items() if name != "account-billing")


def test_a_hung_department_does_not_hold_the_report(billing):
    real = health._applied

    def slow(alias, apps):
        if alias == billing.alias:
            time.sleep(1.5)
        return real(alias, apps)

    started = time.perf_counter()
    with mock.patch.object(health, "_applied", side_effect=slow):
        report = health.health_report(budget_seconds=0.5)
    assert time.perf_counter() - started < 1.4
    by_name = {entry.name: entry for entry in report}
    assert by_name["account-billing"].error == "timeout"
    assert by_name["technical-issues"].ok


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_pending_migrations_are_reported(client, tech):
    with connections[tech.alias].cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations "
            "WHERE app = 'tickets' AND name = '0002_seed_ticket_counts'"
        )
    try:
        response = client.get(reverse("healthz"))
        assert response.status_code == 503
        entry = next(d for d in response.json()["departments"] if d["name"] == tech.slug)
        assert entry["reachable"] is True
        assert entry["pending_migrations"] == ["tickets.0002_seed_ticket_counts"]
    finally:
        with connections[tech.alias].cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (app, name, applied) "
                "VALUES ('tickets', '0002_seed_ticket_counts', CURRENT_TIMESTAMP)"
            )
