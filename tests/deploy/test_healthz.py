"""/healthz: the status for anyone; for operators the system database and each department,
reachable, latency, pending migrations."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError, connections
from django.urls import reverse

from departments import health
from departments.ops import MigrationStatus, disk_migrations
from tests.factories import SuperadminFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

TOKEN = "s3cret-healthz-token-for-tests"


@pytest.fixture
def operator(settings) -> dict[str, str]:
    """Request headers that carry the configured health token."""
    settings.HELPDESK_HEALTHZ_TOKEN = TOKEN
    return {"Authorization": f"Bearer {TOKEN}"}


def test_all_healthy_is_200_with_every_department(client, departments, operator):
    response = client.get(reverse("healthz"), headers=operator)
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


def test_an_unreachable_department_is_503_and_named(client, billing, operator):
    real = health.department_migration_status

    def flaky(*, department, disk):
        if department == billing:
            return MigrationStatus(department, "postgresql", reachable=False, error="refused")
        return real(department=department, disk=disk)

    with mock.patch.object(health, "department_migration_status", side_effect=flaky):
        response = client.get(reverse("healthz"), headers=operator)
        public = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    # The public learns that something is wrong, not what.
    assert (public.status_code, public.json()) == (503, {"status": "degraded"})
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
def test_pending_migrations_are_reported(client, tech, operator):
    # A deploy whose code has a migration the database has not run yet: the newest one.
    _app, latest = max(disk_migrations().leaves)
    with connections[tech.alias].cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'tickets' AND name = %s", [latest]
        )
    try:
        response = client.get(reverse("healthz"), headers=operator)
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


def test_an_unreachable_system_database_is_503(client, operator):
    real = health._applied

    def flaky(alias):
        if alias == "default":
            raise OperationalError("password=hunter2 connection refused")
        return real(alias)

    with mock.patch.object(health, "_applied", side_effect=flaky):
        response = client.get(reverse("healthz"), headers=operator)
    assert response.status_code == 503
    assert response.json()["system"]["reachable"] is False
    assert b"hunter2" not in response.content


# --- Who sees the detail ----------------------------------------------------------------------


def assert_status_only(response, status: str = "ok") -> None:
    assert response.status_code == (200 if status == "ok" else 503)
    assert response.json() == {"status": status}
    text = response.content.decode()
    for internal in ["_department", "default", "migrations", "latency", "system", "technical"]:
        assert internal not in text


def assert_detail(response, departments) -> None:
    assert response.status_code == 200, response.content
    body = response.json()
    assert [d["alias"] for d in body["departments"]] == [d.alias for d in departments]
    assert all(d["latency_ms"] >= 0 for d in body["departments"])


def test_the_public_gets_only_the_status(client, operator):
    assert_status_only(client.get(reverse("healthz")))


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Healthz-Token": TOKEN[:-1]},
        {"Authorization": "Bearer "},
    ],
)
def test_a_wrong_token_gets_only_the_status(client, operator, headers):
    assert_status_only(client.get(reverse("healthz"), headers=headers))


@pytest.mark.parametrize("header", ["Authorization", "X-Healthz-Token"])
def test_the_configured_token_gets_the_detail(client, departments, operator, header):
    value = operator["Authorization"] if header == "Authorization" else TOKEN
    response = client.get(reverse("healthz"), headers={header: value})
    assert_detail(response, departments)
    assert "Authorization" in response["Vary"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"X-Healthz-Token": ""}],
    ids=["none", "bearer", "x"],
)
def test_no_token_configured_means_no_token_opens_the_detail(client, settings, headers):
    settings.HELPDESK_HEALTHZ_TOKEN = ""
    assert_status_only(client.get(reverse("healthz"), headers=headers))


def test_a_signed_in_superadmin_gets_the_detail(client, departments):
    client.force_login(SuperadminFactory())
    assert_detail(client.get(reverse("healthz")), departments)


def test_an_agent_gets_only_the_status(client, departments):
    client.force_login(UserFactory(departments=departments))
    assert_status_only(client.get(reverse("healthz")))


def test_the_public_still_gets_503_when_a_department_is_down(client, billing, tmp_path):
    # A real outage for every thread: the report connects from its own worker threads, which
    # build their connections from these settings.
    config = connections.settings[billing.alias]
    saved = dict(config)
    if config["ENGINE"].endswith("sqlite3"):
        config["NAME"] = str(tmp_path / "no-such-folder" / "down.sqlite3")
    else:
        config.update(HOST="127.0.0.1", PORT="1")
    try:
        response = client.get(reverse("healthz"))
    finally:
        config.clear()
        config.update(saved)
    assert_status_only(response, "degraded")


def test_a_session_that_cannot_be_read_still_gets_an_answer(client, departments, operator):
    # Sessions live in the system database; when reading one fails, the probe still answers.
    client.force_login(SuperadminFactory())
    failing = OperationalError("system database unreachable")
    with mock.patch("django.contrib.auth.get_user", side_effect=failing):
        assert_status_only(client.get(reverse("healthz")))
        assert_detail(client.get(reverse("healthz"), headers=operator), departments)


def test_load_balancers_may_probe_with_head(client):
    response = client.head("/healthz")
    assert response.status_code == 200 and response.content == b""
