"""Per-client counters in the cache."""

from __future__ import annotations

from unittest import mock

import pytest
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


def test_limit_counts_per_key_and_window():
    limit = RateLimit(scope="test", limit=2, window=60)
    with mock.patch.object(ratelimit.time, "time", return_value=1_000_040.0):
        assert not limit.exceeded("a")
        assert limit.hit("a") == 1 and limit.hit("a") == 2
        assert limit.exceeded("a") and not limit.exceeded("b")
        assert limit.retry_after() == 40
    # The next window starts afresh.
    with mock.patch.object(ratelimit.time, "time", return_value=1_000_080.0):
        assert not limit.exceeded("a")
    with mock.patch.object(ratelimit.time, "time", return_value=1_000_041.0):
        limit.reset("a")
        assert not limit.exceeded("a")


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


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",  # incr keeps the expiry
        "django.core.cache.backends.filebased.FileBasedCache",  # incr resets it (get + set)
    ],
)
def test_a_counter_lives_to_the_end_of_its_window_whatever_the_default_timeout(
    backend, settings, tmp_path
):
    import pickle

    from django.core.cache import caches

    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": str(tmp_path), "TIMEOUT": 1}}
    limit = RateLimit(scope="expiry", limit=5, window=600)
    now = 1_000_200.0  # 200 s into a window: 400 s remain
    with mock.patch.object(ratelimit.time, "time", return_value=now):
        assert [limit.hit("a") for _ in range(3)] == [1, 2, 3]
        key = caches["default"].make_key(limit._cache_key("a", now))
        store = caches["default"]
        if backend.endswith("LocMemCache"):
            expires = store._expire_info[key]
        else:
            with open(store._key_to_file(limit._cache_key("a", now)), "rb") as f:
                expires = pickle.load(f)
    # Both backends took the (mocked) clock too: the key must outlive the default 1 s timeout.
    assert expires >= now + 400


def test_the_redis_cache_reuses_its_client():
    from config.cache import RedisCache

    cache = RedisCache("redis://127.0.0.1:6379/15", {})
    first = cache._cache.get_client("k", write=True)
    assert cache._cache.get_client("other", write=True) is first
    assert cache._cache.get_client("k") is first  # one server: reads use the same pool
