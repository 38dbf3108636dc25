"""Abuse limits hold under real parallel requests: gunicorn with several workers, Redis cache.

Each limit is reserved atomically before the work it limits (a password hash, a ticket insert,
a status lookup), so N requests racing from one client get at most the allowance between them,
however many workers and threads serve them. The server runs production settings against this
run's own test databases, on every backend.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections

from accounts.forms import MSG_INVALID_LOGIN
from accounts.models import User
from departments.registry import all_departments
from devtools.loadgen import Browser
from devtools.stack import AppServer, base_environment, manage
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)
ALLOWANCE = 3
RACERS = 12
# Redis database 13 is these tests' own; keys are per random username or per window, and the
# fixture deletes only what it wrote.
REDIS_URL = "redis://127.0.0.1:6379/13"


def _url_for(alias: str) -> str:
    """The URL of this run's test database behind ``alias`` (created by pytest-django)."""
    config = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"sqlite:///{Path(config['NAME']).resolve()}"
    base = urlsplit(settings.TEST_ENVIRON["DATABASE_URL"])
    return urlunsplit(base._replace(path="/" + config["NAME"]))


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    urls = {"SYSTEM": _url_for("default")}
    for department in all_departments():
        urls[department.alias.removesuffix("_department").upper()] = _url_for(department.alias)
    env = base_environment(
        urls,
        CACHE_URL=REDIS_URL,
        HELPDESK_LOGIN_FAILURES_PER_USER=str(ALLOWANCE),
        HELPDESK_SUBMIT_LIMIT=str(ALLOWANCE),
        HELPDESK_STATUS_MISS_LIMIT=str(ALLOWANCE),
    )
    result = manage(env, "collectstatic", "--noinput", "--verbosity=0")
    assert result.returncode == 0, result.stderr
    with AppServer(env, workers=3, threads=4) as app:
        yield app
    # The server's connections go before pytest-django drops the databases.
    with django_db_blocker.unblock():
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()


def race(server: AppServer, path: str, form_for) -> list[tuple[int, str]]:
    """RACERS browsers, each with its own session and CSRF token, POST at the same moment."""
    browsers = [Browser(server.url, timeout=60) for _ in range(RACERS)]
    forms = []
    for browser in browsers:
        # The CSRF token and, on the ticket form, its one-time submission token.
        forms.append({**browser.hidden_fields(path), **form_for()})
    barrier = threading.Barrier(RACERS)
    results: list[tuple[int, str]] = [(0, "")] * RACERS

    def go(index: int) -> None:
        barrier.wait()
        status, _, text = browsers[index].request("POST", path, forms[index])
        results[index] = (status, text)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    for browser in browsers:
        browser.close()
    return results


def test_parallel_wrong_passwords_get_no_more_checks_than_the_allowance(server):
    username = f"racer{secrets.token_hex(4)}"
    # Production's own (slow) hasher, so the checks overlap as they would for an attacker.
    User.objects.create(
        username=username,
        password=PBKDF2PasswordHasher().encode("right password 42", PBKDF2PasswordHasher().salt()),
    )
    results = race(
        server, "/accounts/login/", lambda: {"username": username, "password": "wrong guess"}
    )
    statuses = sorted(status for status, _ in results)
    checked = [text for status, text in results if status == 200]
    assert statuses.count(429) == RACERS - ALLOWANCE, statuses
    assert len(checked) == ALLOWANCE and all(MSG_INVALID_LOGIN in text for text in checked)


def test_parallel_submissions_make_no_more_tickets_than_the_allowance(server, tech):
    subject = f"Race {secrets.token_hex(4)}"
    results = race(
        server,
        "/",
        lambda: {
            "name": "Casey Customer",
            "email": "casey@example.com",
            "phone": "",
            "department": tech.slug,
            "subject": subject,
            "message": "Sent many times at once.",
        },
    )
    statuses = sorted(status for status, _ in results)
    import re as _re

    for st, text in results:
        if st not in (302, 429):
            print(
                "ODD",
                st,
                _re.findall(r"<h1[^>]*>.*?</h1>|notice[^>]*>[^<]*", text)[:3],
                server.log_tail(1500),
            )
    made = Ticket.objects.using(tech.alias).filter(subject=subject).count()
    assert made <= ALLOWANCE and statuses.count(302) == made, statuses
    assert statuses.count(429) >= RACERS - ALLOWANCE, statuses


def test_parallel_status_misses_get_no_more_looks_than_the_allowance(server):
    results = race(
        server,
        "/status/",
        lambda: {"reference": "TEC-ZZZZZZ", "email": "nobody@example.com"},
    )
    statuses = sorted(status for status, _ in results)
    assert statuses.count(429) == RACERS - ALLOWANCE, statuses
    assert statuses.count(200) == ALLOWANCE, statuses
