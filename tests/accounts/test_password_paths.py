"""Every view that checks a staff password is throttled: found by walking every URL pattern.

Each URL is posted a wrong password (in every field name Django's password forms use), anonymous
and signed in. Where that made a password hasher verify anything, the view checks passwords, and
after the allowance it must refuse without verifying again. A new view that checks passwords
without the limiter fails here, wherever it is mounted.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import cache
from django.test import Client

from tests.factories import SuperadminFactory, TicketFactory, UserFactory
from tests.support.urls import concrete_urls, sample_parameters

pytestmark = pytest.mark.django_db(databases="__all__")
WRONG = "not-the-password"
NEW = "a brand new passphrase 42"
ALLOWANCE = 3


class CountingHasher(MD5PasswordHasher):
    """The test settings' hasher, counting every password it verifies."""

    verified = 0

    def verify(self, password, encoded):
        CountingHasher.verified += 1
        return super().verify(password, encoded)


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    settings.HELPDESK_RATE_LIMITS = {
        **settings.HELPDESK_RATE_LIMITS,
        "login-username": (ALLOWANCE, 900),
        "login-username-total": (100, 900),
        "login-client": (100, 900),
    }
    return CountingHasher


def _post(client: Client, path: str, body: dict) -> tuple[int, int]:
    """(status, passwords verified) for one POST."""
    before = CountingHasher.verified
    response = client.post(path, body)
    return response.status_code, CountingHasher.verified - before


def test_every_view_that_checks_a_password_is_throttled(counting_hasher, tech):
    victim = UserFactory(username="victim", departments=[tech])
    boss = SuperadminFactory(username="boss", is_staff=True, is_superuser=True)
    ticket = TicketFactory(department=tech)
    samples = sample_parameters(user=victim, department=tech, ticket=ticket)
    body = {
        "username": "victim",
        "password": WRONG,
        "old_password": WRONG,
        "new_password1": NEW,
        "new_password2": NEW,
        "password1": NEW,
        "password2": NEW,
    }
    checking: set[str] = set()
    for url in concrete_urls(samples):
        for signed_in in (False, True):
            cache.clear()
            # The admin's set-password page, posted the same body, may have changed it.
            victim.set_password("correct horse battery staple")
            victim.save()
            client = Client()
            if signed_in:
                client.force_login(boss)
            status, verified = _post(client, url.path, body)
            if not verified:
                continue
            checking.add(url.path)
            for _ in range(ALLOWANCE - 1):
                _post(client, url.path, body)
            status, verified = _post(client, url.path, body)
            assert (status, verified) == (429, 0), (
                f"{url.path} ({url.name}, signed in: {signed_in}) checks passwords "
                "without the sign-in limiter"
            )
    # The walk found the password forms it must find: it can tell one when it sees it.
    assert {"/accounts/login/", "/accounts/password/"} <= checking
    assert not any(path.startswith("/manage/") for path in checking)


def test_the_admin_sign_in_sends_people_to_the_throttled_one(client):
    response = client.get("/manage/login/?next=/manage/accounts/user/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fmanage%2Faccounts%2Fuser%2F"
    # Not an open redirect through the admin's own parameter.
    response = client.get("/manage/login/?next=https://evil.example/")
    assert response["Location"] == "/accounts/login/?next=%2Fmanage%2F"


def test_a_username_locked_on_sign_in_is_locked_for_password_change_too(counting_hasher, client):
    boss = SuperadminFactory(username="boss", password="correct horse battery staple")
    for _ in range(ALLOWANCE):
        Client().post("/accounts/login/", {"username": "boss", "password": WRONG})
    client.force_login(boss)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": "correct horse battery staple",
            "new_password1": NEW,
            "new_password2": NEW,
        },
    )
    assert response.status_code == 429
    boss.refresh_from_db()
    assert boss.check_password("correct horse battery staple")


def test_changing_ones_own_password(client):
    agent = UserFactory(username="pat", password="correct horse battery staple")
    client.force_login(agent)
    assert client.get("/accounts/password/").status_code == 200
    response = client.post(
        "/accounts/password/",
        {"old_password": WRONG, "new_password1": NEW, "new_password2": NEW},
    )
    assert response.status_code == 200
    assert "current password is not right" in response.content.decode()
    response = client.post(
        "/accounts/password/",
        {
            "old_password": "correct horse battery staple",
            "new_password1": NEW,
            "new_password2": NEW,
        },
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.check_password(NEW)
    assert client.get("/dashboard/").status_code == 200  # this session stays signed in
