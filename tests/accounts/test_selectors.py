"""Who can hold tickets: kept per process, read again whenever staff or memberships change."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import DepartmentMembership
from accounts.selectors import assignable_staff
from tests.factories import SuperadminFactory, UserFactory

pytestmark = pytest.mark.django_db


def names(slugs) -> list[str]:
    return [name for _pk, name in assignable_staff(slugs)]


def test_members_and_superadmins_by_name_and_kept_until_staff_change():
    boss = SuperadminFactory(first_name="Zed", last_name="Boss")
    agent = UserFactory(first_name="Ann", last_name="Agent")
    UserFactory(first_name="Other", last_name="Desk")
    DepartmentMembership.objects.create(user=agent, department="technical_issues")

    assert names(["technical_issues"]) == ["Ann Agent", "Zed Boss"]
    assert names(["account_billing"]) == ["Zed Boss"]
    with CaptureQueriesContext(connection) as queries:
        assert names(["technical_issues"]) == ["Ann Agent", "Zed Boss"]
    assert len(queries) == 0  # kept: nothing changed

    DepartmentMembership.objects.create(user=agent, department="account_billing")
    assert names(["account_billing"]) == ["Ann Agent", "Zed Boss"]
    agent.is_active = False
    agent.save()
    assert names(["technical_issues"]) == ["Zed Boss"]
    boss.delete()
    assert names(["technical_issues"]) == []


def test_a_lost_cache_is_not_trusted():
    agent = UserFactory(first_name="Ann", last_name="Agent")
    DepartmentMembership.objects.create(user=agent, department="technical_issues")
    assert names(["technical_issues"]) == ["Ann Agent"]
    # A change the process never heard of, then the cache restarts empty.
    type(agent).objects.filter(pk=agent.pk).update(first_name="Anne")
    cache.clear()
    assert names(["technical_issues"]) == ["Anne Agent"]
