"""Staff management in Django's admin at /manage/, including department membership."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import DepartmentMembership, Role, User
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def admin_client(client):
    boss = User.objects.create_superuser("boss", "boss@example.com", "correct horse battery")
    client.force_login(boss)
    return client


def inline(prefix: str, rows: list[str], initial: int = 0) -> dict[str, str]:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, department in enumerate(rows):
        data[f"{prefix}-{index}-department"] = department
    return data


def test_admin_is_mounted_apart_from_the_dashboard(client):
    assert reverse("admin:index") == "/manage/"
    assert client.get("/manage/")["Location"].startswith("/manage/login/")


def test_create_an_agent_with_memberships_who_can_then_work_those_tickets(
    admin_client, client, tech, billing, departments
):
    prefix = "memberships"
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newagent",
            "usable_password": "true",
            "password1": "a sturdy passphrase 42",
            "password2": "a sturdy passphrase 42",
            "role": Role.AGENT,
            **inline(prefix, [tech.slug, billing.slug]),
            **inline("notifications", []),  # the notification settings inline, left as is
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    agent = User.objects.get(username="newagent")
    assert agent.role == Role.AGENT
    assert sorted(agent.memberships.values_list("department", flat=True)) == sorted(
        [tech.slug, billing.slug]
    )
    assert agent.departments() == [tech, billing]

    # The new agent signs in and reaches a tech ticket, but not another department's.
    admin_client.post(reverse("accounts:logout"))
    client.post(
        reverse("accounts:login"), {"username": "newagent", "password": "a sturdy passphrase 42"}
    )
    mine = TicketFactory(department=tech)
    others = next(d for d in departments if d not in (tech, billing))
    theirs = TicketFactory(department=others)
    assert client.get(reverse("ticket_detail", args=[tech.slug, mine.pk])).status_code == 200
    assert client.get(reverse("ticket_detail", args=[others.slug, theirs.pk])).status_code == 404


def test_membership_choices_are_the_configured_departments(admin_client, departments):
    page = admin_client.get(reverse("admin:accounts_user_add")).content.decode()
    for department in departments:
        assert f'<option value="{department.slug}">' in page


def test_duplicate_membership_is_refused(admin_client, tech):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "twice",
            "usable_password": "true",
            "password1": "a sturdy passphrase 42",
            "password2": "a sturdy passphrase 42",
            "role": Role.AGENT,
            **inline("memberships", [tech.slug, tech.slug]),
        },
    )
    assert response.status_code == 200
    assert not User.objects.filter(username="twice").exists()
    assert not DepartmentMembership.objects.exists()


def test_removing_a_membership_takes_the_access_away(admin_client, tech, billing):
    agent = User.objects.create_user("pat", password="x", role=Role.AGENT)
    kept = DepartmentMembership.objects.create(user=agent, department=tech.slug)
    dropped = DepartmentMembership.objects.create(user=agent, department=billing.slug)
    change_url = reverse("admin:accounts_user_change", args=[agent.pk])
    page = admin_client.get(change_url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        "username": "pat",
        "role": Role.AGENT,
        "is_active": "on",
        "date_joined_0": form.initial["date_joined"].strftime("%Y-%m-%d"),
        "date_joined_1": form.initial["date_joined"].strftime("%H:%M:%S"),
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "2",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(kept.pk),
        "memberships-0-user": str(agent.pk),
        "memberships-0-department": tech.slug,
        "memberships-1-id": str(dropped.pk),
        "memberships-1-user": str(agent.pk),
        "memberships-1-department": billing.slug,
        "memberships-1-DELETE": "on",
        **inline("notifications", []),
    }
    response = admin_client.post(change_url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    agent.refresh_from_db()
    assert agent.departments() == [tech]
