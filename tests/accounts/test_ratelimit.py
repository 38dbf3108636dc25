"""Per-client counters in the cache."""

from __future__ import annotations

import contextlib
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import RequestFactory

from accounts import ratelimit
from accounts.ratelimit import RateLimit, client_address, minutes_text


def request_from(remote_addr: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_forwarded_header_is_ignored_unless_proxies_are_trusted(settings):
    settings.HELPDESK_TRUSTED_PROXY_COUNT = 0
    assert client_address(request_from("10.0.0.5", "203.0.113.7")) == "10.0.0.5"


def test_forwarded_header_behind_trusted_proxies(settings):
    settings.HELPDESK_TRUSTED_PROXY_COUNT = 1
    # The client may send its own header; only the entry our proxy appended counts.
    assert client_address(request_from("10.0.0.5", "6.6.6.6, 203.0.113.7")) == "203.0.113.7"
    settings.HELPDESK_TRUSTED_PROXY_COUNT = 2
    assert client_address(request_from("10.0.0.5", "203.0.113.7, 10.0.0.9")) == "203.0.113.7"
    # Fewer hops than configured: fall back to the connection's address.
    assert client_address(request_from("10.0.0.5", "")) == "10.0.0.5"
    assert client_address(request_from("10.0.0.5", "203.0.113.7")) == "10.0.0.5"


def test_ipv6_clients_are_grouped_by_64_network(settings):
    settings.HELPDESK_TRUSTED_PROXY_COUNT = 0
    first = client_address(request_from("2001:db8:1:2::1"))
    assert first == client_address(request_from("2001:db8:1:2:ffff::9")) == "2001:db8:1:2::/64"
    assert client_address(request_from("2001:db8:1:3::1")) != first
    assert client_address(request_from("::ffff:192.0.2.1")) == "192.0.2.1"


@pytest.fixture(params=["locmem", "database", "redis"])
def any_cache(request, settings):
    """The default cache as each kind of backend the limits meet: atomic incr or slots."""
    if request.param == "locmem":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    elif request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "runtime.cache.RedisCache",
                "LOCATION": "redis://127.0.0.1:6379/14",
                # Unique per test: never clear() a Redis database other runs may share.
                "KEY_PREFIX": secrets.token_hex(8),
            }
        }
    else:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "ratelimit_test_cache",
            }
        }
        call_command("createcachetable", verbosity=0)
    return request.param


def _clock(any_cache: str, now: float):
    # The database cache compares expiry with the real clock: it runs in real time, where a
    # window's start is not ours to choose.
    if any_cache == "database":
        return contextlib.nullcontext()
    return mock.patch.object(ratelimit.time, "time", return_value=now)


# Transactional: the database cache's table must be visible to the racing threads' connections.
@pytest.mark.django_db(transaction=True)
def test_acquire_takes_at_most_the_limit_per_key_and_window(any_cache):
    limit = RateLimit(scope="test", limit=2, window=600 if any_cache == "database" else 60)
    with _clock(any_cache, 1_000_040.0):
        assert not limit.exceeded("a")
        first, second = limit.acquire("a"), limit.acquire("a")
        assert first and second
        assert limit.acquire("a") is None
        assert limit.exceeded("a") and not limit.exceeded("b")
        assert limit.count("a") == 2  # refusals are not counted on top
        first.release()  # work that did not count gives its reservation back
        assert not limit.exceeded("a")
        assert limit.acquire("a") and limit.acquire("a") is None
    with _clock(any_cache, 1_000_041.0):
        limit.reset("a")
        assert not limit.exceeded("a")
    if any_cache != "database":
        with mock.patch.object(ratelimit.time, "time", return_value=1_000_040.0):
            assert limit.retry_after() == 40
            assert limit.acquire("a") and limit.acquire("a") and limit.exceeded("a")
        # The next window starts afresh.
        with mock.patch.object(ratelimit.time, "time", return_value=1_000_080.0):
            assert not limit.exceeded("a") and limit.acquire("a")


@pytest.mark.django_db(transaction=True)
def test_parallel_acquires_never_exceed_the_limit(any_cache):
    """Threads racing for one key, each with its own cache client (and database connection)."""
    limit = RateLimit(scope="race", limit=5, window=600)
    barrier = threading.Barrier(12)

    def take(_):
        barrier.wait()
        try:
            return limit.acquire("contested") is not None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=12) as pool:
        granted = sum(pool.map(take, range(12)))
    if any_cache == "database":
        # Under lock contention (SQLite) a slot insert may fail and count as taken: fewer
        # grants, never more.
        assert 1 <= granted <= 5
    else:
        assert granted == 5
    assert limit.acquire("contested") is None


@pytest.mark.parametrize(
    ("seconds", "text"), [(1, "1 minute"), (60, "1 minute"), (61, "2 minutes"), (900, "15 minutes")]
)
def test_minutes_text(seconds, text):
    assert minutes_text(seconds) == text


def test_deploy_check_warns_about_a_per_process_cache(settings):
    from accounts.checks import shared_cache_check

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [w.id for w in shared_cache_check(None)] == ["helpdesk.W001"]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t"}
    }
    assert shared_cache_check(None) == []
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": "/x",
        }
    }
    assert [w.id for w in shared_cache_check(None)] == ["helpdesk.W002"]


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",  # a counter, incremented in place
        "django.core.cache.backends.filebased.FileBasedCache",  # slots, each added with a timeout
    ],
)
def test_a_count_lives_to_the_end_of_its_window_whatever_the_default_timeout(
    backend, settings, tmp_path
):
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": str(tmp_path), "TIMEOUT": 1}}
    limit = RateLimit(scope="expiry", limit=5, window=600)
    now = 1_000_200.0  # 200 s into a window: 400 s remain
    with mock.patch.object(ratelimit.time, "time", return_value=now):
        assert all(limit.acquire("a") for _ in range(3))
    # Both backends read the (mocked) clock: the default 1 s timeout must not have applied.
    with mock.patch.object(ratelimit.time, "time", return_value=now + 390):
        assert limit.count("a") == 3


def test_the_redis_cache_reuses_its_client():
    from runtime.cache import RedisCache

    cache = RedisCache("redis://127.0.0.1:6379/15", {})
    first = cache._cache.get_client("k", write=True)
    assert cache._cache.get_client("other", write=True) is first
    assert cache._cache.get_client("k") is first  # one server: reads use the same pool


@pytest.mark.django_db(transaction=True)
def test_refused_attempts_leave_nothing_in_the_database_cache(settings, rf):
    """Rows past the database cache's MAX_ENTRIES make it cull live counters in key order, so
    a flood of refused sign-ins must not add rows (found by attacking the stack)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "ratelimit_flood_cache",
        }
    }
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "login-client": (3, 900)}
    call_command("createcachetable", verbosity=0)
    request = rf.post("/accounts/login/", REMOTE_ADDR="198.51.100.7")

    def rows() -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM ratelimit_flood_cache")
            return cursor.fetchone()[0]

    for n in range(3):
        ratelimit.password_attempt(request, f"user{n}")  # the client's allowance, used up
    before = rows()
    for n in range(3, 40):
        with pytest.raises(ratelimit.PasswordThrottled):
            ratelimit.password_attempt(request, f"user{n}")
    assert rows() == before


def test_the_production_database_cache_has_room_for_every_live_counter(tmp_path):
    from tests.deploy.test_production import run_production

    code = "from django.conf import settings as s; print(s.CACHES['default']['OPTIONS'])"
    result = run_production("shell", "--verbosity=0", "-c", code, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "'MAX_ENTRIES': 1000000" in result.stdout
