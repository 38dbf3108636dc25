"""The signed-in user kept per process: never past a staff change, never past KEEP_SECONDS."""

from __future__ import annotations

import secrets
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import backends
from accounts.models import DepartmentMembership, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def _shared_cache_and_nothing_kept(settings):
    """The user is kept only under a shared cache's staff version: Redis, as in production."""
    settings.CACHES = {
        "default": {
            "BACKEND": "runtime.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/14",
            "KEY_PREFIX": secrets.token_hex(8),  # never clear() a database other runs share
        }
    }
    backends._kept.clear()


def _user_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("dashboard")).status_code == 200
    return sum('"accounts_user"' in q["sql"] or "`accounts_user`" in q["sql"] for q in queries)


def test_the_user_is_read_once_while_staff_are_unchanged(client, tech):
    agent = UserFactory(departments=[tech])
    client.force_login(agent)
    assert _user_queries(client) >= 1
    assert _user_queries(client) == 0


def test_disabling_someone_in_the_admin_signs_them_out_at_once(client, tech):
    agent = UserFactory(departments=[tech])
    client.force_login(agent)
    client.get(reverse("dashboard"))
    agent.is_active = False
    agent.save()  # as the admin does: the staff version changes
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_new_membership_shows_at_once(client, tech, billing):
    agent = UserFactory(departments=[tech])
    client.force_login(agent)
    option = f'<option value="{billing.slug}">'
    assert option not in client.get(reverse("dashboard")).content.decode()
    DepartmentMembership.objects.create(user=agent, department=billing.slug)
    assert option in client.get(reverse("dashboard")).content.decode()


def test_a_change_behind_djangos_back_is_seen_after_keep_seconds(client, tech):
    agent = UserFactory(departments=[tech])
    client.force_login(agent)
    client.get(reverse("dashboard"))
    User.objects.filter(pk=agent.pk).update(is_active=False)  # no signal, no new version
    assert client.get(reverse("dashboard")).status_code == 200  # still the kept copy
    later = backends.time.monotonic() + backends.KEEP_SECONDS + 1
    with mock.patch.object(backends.time, "monotonic", return_value=later):
        response = client.get(reverse("dashboard"))
    assert response.status_code == 302


def test_with_a_per_process_cache_every_request_reads_the_user(client, tech, settings):
    """Another worker's save would never bump this process's version: nothing is kept."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    client.force_login(UserFactory(departments=[tech]))
    assert _user_queries(client) >= 1
    assert _user_queries(client) >= 1


def test_an_unreachable_cache_falls_back_to_reading_the_user(client, tech):
    client.force_login(UserFactory(departments=[tech]))
    with mock.patch.object(backends, "staff_version", side_effect=ConnectionError("down")):
        assert _user_queries(client) >= 1
