"""Staff notification settings: the page, and who a staff email is sent to."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import NotificationSettings
from accounts.selectors import notification_recipients
from tests.factories import SuperadminFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def test_defaults_assigned_and_replies_yes_every_new_ticket_no(tech):
    agent = UserFactory(email="a@x.test", departments=[tech])
    assert notification_recipients(tech, "assigned", agent.pk) == ["a@x.test"]
    assert notification_recipients(tech, "customer_replied", agent.pk) == ["a@x.test"]
    assert notification_recipients(tech, "new_ticket") == []


def test_new_tickets_go_to_members_and_superadmins_who_opted_in(tech, billing):
    member = UserFactory(email="m@x.test", departments=[tech])
    boss = SuperadminFactory(email="boss@x.test")
    outsider = UserFactory(email="o@x.test", departments=[billing])
    gone = UserFactory(email="g@x.test", departments=[tech], is_active=False)
    silent = UserFactory(email="s@x.test", departments=[tech])
    no_address = UserFactory(email="", departments=[tech])
    for user in (member, boss, outsider, gone, no_address):
        NotificationSettings.objects.create(user=user, new_ticket=True)
    NotificationSettings.objects.create(user=silent, new_ticket=True, email_enabled=False)
    assert notification_recipients(tech, "new_ticket") == ["boss@x.test", "m@x.test"]


def test_one_person_only_while_they_may_see_the_department(tech, billing):
    moved = UserFactory(email="moved@x.test", departments=[billing])
    off = UserFactory(email="off@x.test", departments=[tech])
    NotificationSettings.objects.create(user=off, assigned_to_me=False)
    assert notification_recipients(tech, "assigned", moved.pk) == []
    assert notification_recipients(tech, "assigned", off.pk) == []
    assert notification_recipients(tech, "customer_replied", off.pk) == ["off@x.test"]


def test_the_page_saves_the_choices(client, tech):
    agent = UserFactory(email="a@x.test", departments=[tech])
    client.force_login(agent)
    url = reverse("accounts:notifications")
    page = client.get(url).content.decode()
    assert "Emails go to a@x.test" in page
    response = client.post(url, {"email_enabled": "on", "new_ticket": "on"}, follow=True)
    assert "Your email notification settings are saved." in response.content.decode()
    saved = NotificationSettings.objects.get(user=agent)
    assert (saved.new_ticket, saved.assigned_to_me, saved.customer_replied) == (True, False, False)
    assert notification_recipients(tech, "new_ticket") == ["a@x.test"]


def test_the_page_needs_a_signed_in_user(client):
    response = client.get(reverse("accounts:notifications"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
