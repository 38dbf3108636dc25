"""Per-client counters in Django's cache: rate limits for public forms and sign-in throttling.

Limits are fixed windows aligned to the clock (``settings.HELPDESK_RATE_LIMITS`` names them).
The cache must be shared by every worker process for the numbers to mean anything; see the
``CACHES`` comment in settings.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's address, trusting X-Forwarded-For only as far as configured proxies go.

    IPv6 clients are grouped by their /64 network: one subscriber usually holds a whole /64, so
    counting single addresses would let them step around any limit.
    """
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.HELPDESK_TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class RateLimit:
    """``limit`` events per ``window`` seconds for each key, e.g. a client address."""

    scope: str
    limit: int
    window: int

    @classmethod
    def named(cls, scope: str) -> RateLimit:
        limit, window = settings.HELPDESK_RATE_LIMITS[scope]
        return cls(scope=scope, limit=limit, window=window)

    def _cache_key(self, key: str, now: float) -> str:
        # Hashed: usernames and addresses may hold characters some cache backends refuse.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"ratelimit:{self.scope}:{digest}:{int(now // self.window)}"

    def count(self, key: str) -> int:
        return cache.get(self._cache_key(key, time.time()), 0)

    def exceeded(self, key: str) -> bool:
        """True when ``key`` has used up this window's allowance."""
        return self.count(key) >= self.limit

    def hit(self, key: str) -> int:
        """Count one event for ``key``; returns the count in the current window."""
        now = time.time()
        cache_key = self._cache_key(key, now)
        remaining = self.retry_after(now=now) + 1
        # Increment first: after the window's first event that is the only write (one or two
        # cache round trips instead of four on Redis).
        try:
            count = cache.incr(cache_key)
        except ValueError:  # the window's first event (or its key just expired)
            if cache.add(cache_key, 1, timeout=remaining):
                return 1
            try:
                count = cache.incr(cache_key)  # another request added it first
            except ValueError:  # expired between add and incr
                cache.set(cache_key, 1, timeout=remaining)
                return 1
        if _incr_resets_expiry():
            # The generic incr (database and file caches) is get + set with the default
            # timeout; the window's expiry is put back.
            cache.touch(cache_key, timeout=remaining)
        return count

    def reset(self, key: str) -> None:
        cache.delete(self._cache_key(key, time.time()))

    def retry_after(self, *, now: float | None = None) -> int:
        """Seconds until the current window ends and the allowance is back."""
        now = time.time() if now is None else now
        return max(1, int(self.window - (now % self.window)))


def _incr_resets_expiry() -> bool:
    """Whether the default cache's incr() rewrites the key with the default timeout.

    Redis, Memcached and the local-memory cache increment in place and keep the expiry; backends
    that inherit ``BaseCache.incr`` (database, file) store the value again and lose it.
    """
    return type(caches["default"]).incr is BaseCache.incr


def minutes_text(seconds: int) -> str:
    """``"1 minute"`` / ``"14 minutes"``, rounded up: people read a wait, not a timestamp."""
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _login_limits(request: HttpRequest, username: str) -> list[tuple[RateLimit, str]]:
    # Usernames are matched case-insensitively so that "Pat" and "pat" share one allowance.
    # A few failures lock a username only for the client that made them: anyone who knows a
    # staff username could otherwise lock that person out from anywhere. Guessing one username
    # from many addresses meets the much larger allowance across all of them.
    name, client = username.strip().casefold(), client_address(request)
    return [
        (RateLimit.named("login-username"), f"{name}\n{client}"),
        (RateLimit.named("login-username-total"), name),
        (RateLimit.named("login-client"), client),
    ]


def login_lockout_seconds(request: HttpRequest, username: str) -> int:
    """Seconds this sign-in must wait (0: go ahead), by username and by client address."""
    waits = [
        limit.retry_after()
        for limit, key in _login_limits(request, username)
        if limit.exceeded(key)
    ]
    return max(waits, default=0)


def login_failed(request: HttpRequest, username: str) -> None:
    for limit, key in _login_limits(request, username):
        limit.hit(key)


def login_succeeded(request: HttpRequest, username: str) -> None:
    # The person knows the password: their earlier typos from this client no longer count. The
    # username's count across clients stays (a success must not wipe out others' guessing), and
    # so does the client's, so one address cannot alternate a known account with guesses.
    limit, key = _login_limits(request, username)[0]
    limit.reset(key)
