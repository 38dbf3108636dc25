"""Staff sign-in and sign-out, with throttling of repeated failures."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.forms import MSG_INVALID_LOGIN
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")
PASSWORD = "correct horse battery staple"


def sign_in(client, username, password=PASSWORD, **extra):
    return client.post(
        reverse("accounts:login"), {"username": username, "password": password, **extra}
    )


@pytest.fixture
def limits(settings):
    settings.HELPDESK_RATE_LIMITS = {
        **settings.HELPDESK_RATE_LIMITS,
        "login-username": (3, 900),
        "login-username-total": (5, 900),
        "login-client": (6, 900),
    }


def test_sign_in_and_out(client, tech):
    UserFactory(username="pat", departments=[tech])
    response = sign_in(client, "pat")
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.get(reverse("accounts:logout")).status_code == 405  # sign-out is POST only
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_wrong_password_says_so_without_saying_which(client):
    UserFactory(username="pat")
    wrong_password = sign_in(client, "pat", "nope")
    no_such_user = sign_in(client, "nobody", "nope")
    for response in [wrong_password, no_such_user]:
        assert response.status_code == 200
        assert MSG_INVALID_LOGIN in response.content.decode()
        assert 'value="' in response.content.decode()  # the username typed is kept


def test_disabled_account_cannot_sign_in(client):
    UserFactory(username="gone", is_active=False)
    response = sign_in(client, "gone")
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_next_is_followed_only_within_the_site(client):
    UserFactory(username="pat")
    assert sign_in(client, "pat", next="/t/")["Location"] == "/t/"
    client.post(reverse("accounts:logout"))
    assert sign_in(client, "pat", next="https://evil.example/")["Location"] == reverse("dashboard")


def test_username_is_locked_after_repeated_failures_even_for_the_right_password(client, limits):
    UserFactory(username="pat")
    for _ in range(3):
        assert sign_in(client, "pat", "guess").status_code == 200
    response = sign_in(client, "PAT", PASSWORD)  # any letter case counts as the same person
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Other people can still sign in from there.
    UserFactory(username="sam")
    assert sign_in(client, "sam").status_code == 302


def test_a_stranger_cannot_lock_someone_out_from_their_own_address(client, limits):
    UserFactory(username="pat")
    for _ in range(3):
        sign_in(client, "pat", "guess")
    assert sign_in(client, "pat").status_code == 429
    # Pat, at another address, signs in as usual.
    assert sign_in(Client(REMOTE_ADDR="198.51.100.20"), "pat").status_code == 302


def test_guessing_one_username_from_many_addresses_locks_it_everywhere(limits):
    UserFactory(username="pat")
    guessers = [Client(REMOTE_ADDR=f"203.0.113.{n + 1}") for n in range(3)]
    # Two failures from each of two addresses: neither reaches its own limit of three.
    for guesser in guessers[:2]:
        for _ in range(2):
            sign_in(guesser, "pat", "guess")
    # Pat signing in meanwhile does not wipe out what the guessers built up...
    assert sign_in(Client(REMOTE_ADDR="198.51.100.20"), "pat").status_code == 302
    # ...so one more failure from a third address reaches the username's total of five.
    sign_in(guessers[2], "pat", "guess")
    assert sign_in(Client(REMOTE_ADDR="198.51.100.21"), "Pat").status_code == 429
    assert sign_in(guessers[2], "pat").status_code == 429


def test_one_client_is_locked_after_failures_across_usernames(client, limits):
    UserFactory(username="sam")
    for n in range(6):
        sign_in(client, f"user{n}", "guess")
    assert sign_in(client, "sam").status_code == 429
    assert sign_in(Client(REMOTE_ADDR="198.51.100.21"), "sam").status_code == 302


def test_success_forgives_earlier_typos(client, limits):
    UserFactory(username="pat")
    for _ in range(2):
        sign_in(client, "pat", "typo")
    assert sign_in(client, "pat").status_code == 302
    client.post(reverse("accounts:logout"))
    for _ in range(2):
        sign_in(client, "pat", "typo")
    assert sign_in(client, "pat").status_code == 302


def test_empty_fields_are_not_counted(client, limits):
    UserFactory(username="pat")
    for _ in range(5):
        response = sign_in(client, "pat", "")
        assert response.status_code == 200
        assert '<a href="#id_password">' in response.content.decode()
    assert sign_in(client, "pat").status_code == 302


def test_csrf_is_required_for_sign_in():
    UserFactory(username="pat")
    response = sign_in(Client(enforce_csrf_checks=True), "pat")
    assert response.status_code == 403


def test_strangers_cannot_lock_a_person_out_of_a_browser_they_signed_in_with(limits, settings):
    """Failures from many addresses lock the username for unknown browsers only: the person's
    own browser (its device cookie) keeps an allowance of its own (found by attacking)."""
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "login-device": (2, 900)}
    UserFactory(username="pat")
    own = Client(REMOTE_ADDR="198.51.100.20")
    assert sign_in(own, "pat").status_code == 302
    own.post(reverse("accounts:logout"))
    for n in range(5):  # the username's total, from five addresses
        sign_in(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), "pat", "guess")
    assert sign_in(Client(REMOTE_ADDR="198.51.100.21"), "pat").status_code == 429
    assert sign_in(own, "pat").status_code == 302
    # The known browser is limited too, on its own: two wrong passwords, then paused.
    own.post(reverse("accounts:logout"))
    for _ in range(2):
        assert sign_in(own, "pat", "typo").status_code == 200
    assert sign_in(own, "pat").status_code == 429


def test_a_device_cookie_counts_only_for_its_own_username_and_only_when_signed(limits):
    from accounts.ratelimit import DEVICE_COOKIE

    UserFactory(username="pat")
    UserFactory(username="sam")
    own = Client(REMOTE_ADDR="198.51.100.20")
    assert sign_in(own, "sam").status_code == 302  # known for sam, not for pat
    own.post(reverse("accounts:logout"))
    forged = Client(REMOTE_ADDR="198.51.100.22")
    forged.cookies[DEVICE_COOKIE] = own.cookies[DEVICE_COOKIE].value[:-2] + "xx"
    for n in range(5):
        sign_in(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), "pat", "guess")
    assert sign_in(own, "pat").status_code == 429
    assert sign_in(forged, "pat").status_code == 429


def test_a_password_change_voids_device_cookies_issued_before_it(limits):
    """Cookies gathered while someone knew the password give no guesses after it changes
    (found in review): each carries a key derived from the password hash."""
    pat = UserFactory(username="pat")
    old_browser = Client(REMOTE_ADDR="198.51.100.20")
    assert sign_in(old_browser, "pat").status_code == 302
    old_browser.post(reverse("accounts:logout"))
    pat.set_password("a brand new passphrase 42")
    pat.save()
    for n in range(5):  # the username's total, from five addresses
        sign_in(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), "pat", "guess")
    response = sign_in(old_browser, "pat", "a brand new passphrase 42")
    assert response.status_code == 429


def test_changing_ones_password_keeps_this_browser_known(limits, tech):
    UserFactory(username="pat")
    own = Client(REMOTE_ADDR="198.51.100.20")
    assert sign_in(own, "pat").status_code == 302
    new = "a brand new passphrase 42"
    response = own.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    own.post(reverse("accounts:logout"))
    for n in range(5):
        sign_in(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), "pat", "guess")
    assert sign_in(own, "pat", new).status_code == 302
