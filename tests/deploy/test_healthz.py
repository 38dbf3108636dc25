"""/healthz: the system database and each department, reachable, latency, pending migrations."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError, connections
from django.urls import reverse

from departments import health
from departments.ops import MigrationStatus, disk_migrations

pytestmark = pytest.mark.django_db(databases="__all__")


def test_all_healthy_is_200_with_every_department(client, departments):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200, response.content
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
    real = health.department_migration_status

    def flaky(*, department, disk):
        if department == billing:
            return MigrationStatus(department, "postgresql", reachable=False, error="refused")
        return real(department=department, disk=disk)

    with mock.patch.object(health, "department_migration_status", side_effect=flaky):
        response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    by_name = {d["name"]: d for d in body["departments"]}
    assert by_name["account-billing"]["reachable"] is False
    assert by_name["account-billing"]["error"] == "unreachable"
    assert all(d["reachable"] for name, d in by_name.items() if name != "account-billing")


def test_a_hung_department_does_not_hold_the_report(billing):
    real = health._check_department
    release = threading.Event()
    finished = threading.Event()

    def hung(department):
        if department != billing:
            return real(department)
        release.wait(5)
        finished.set()
        return health.DatabaseHealth("late", "late", department.alias, True, 1.0, [])

    started = time.perf_counter()
    try:
        with mock.patch.object(health, "_check_department", side_effect=hung):
            report = health.health_report(budget_seconds=0.5)
        elapsed = time.perf_counter() - started
    finally:
        release.set()
        finished.wait(5)  # let the straggler end inside this test, not during another
    assert elapsed < 1.5
    by_name = {entry.name: entry for entry in report}
    assert by_name["account-billing"].error == "timeout"
    assert by_name["technical-issues"].ok


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_pending_migrations_are_reported(client, tech):
    # A deploy whose code has a migration the database has not run yet: the newest one.
    _app, latest = max(disk_migrations().leaves)
    with connections[tech.alias].cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'tickets' AND name = %s", [latest]
        )
    try:
        response = client.get(reverse("healthz"))
        assert response.status_code == 503
        entry = next(d for d in response.json()["departments"] if d["name"] == tech.slug)
        assert entry["reachable"] is True
        assert entry["pending_migrations"] == [f"tickets.{latest}"]
    finally:
        with connections[tech.alias].cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (app, name, applied) "
                "VALUES ('tickets', %s, CURRENT_TIMESTAMP)",
                [latest],
            )


def test_an_unreachable_system_database_is_503(client):
    real = health._applied

    def flaky(alias):
        if alias == "default":
            raise OperationalError("password=hunter2 connection refused")
        return real(alias)

    with mock.patch.object(health, "_applied", side_effect=flaky):
        response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["system"]["reachable"] is False
    assert b"hunter2" not in response.content
