"""Per-client counters in Django's cache: rate limits for public forms and sign-in throttling.

Limits are fixed windows aligned to the clock (``settings.HELPDESK_RATE_LIMITS`` names them).
The cache must be shared by every worker process for the numbers to mean anything; see the
``CACHES`` comment in settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac


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
class Reservation:
    """One event taken from a window's allowance; ``release()`` gives it back."""

    cache_key: str
    # True: a slot key of its own (deleted to give back); False: one unit of a shared counter.
    slot: bool

    def release(self) -> None:
        if self.slot:
            cache.delete(self.cache_key)
            return
        # Expired with its window, the allowance is back anyway.
        with contextlib.suppress(ValueError):
            cache.decr(self.cache_key)


@dataclass(frozen=True)
class RateLimit:
    """``limit`` events per ``window`` seconds for each key, e.g. a client address.

    Events are reserved before the work they limit (a password hash, a ticket insert), with an
    atomic cache operation, so N parallel requests can never take more than ``limit`` between
    them; work that turns out not to count gives its reservation back.
    """

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

    def _slot_keys(self, counter: str) -> list[str]:
        return [f"{counter}:{n}" for n in range(1, self.limit + 1)]

    def acquire(self, key: str) -> Reservation | None:
        """Take one event of this window's allowance for ``key``; None when none is left."""
        now = time.time()
        counter = self._cache_key(key, now)
        remaining = self.retry_after(now=now) + 1
        if self.limit <= 0:
            return None
        if _incr_is_atomic():
            return self._acquire_counted(counter, remaining)
        return self._acquire_slot(counter, remaining)

    def _acquire_counted(self, counter: str, remaining: int) -> Reservation | None:
        # Redis, Memcached and the local-memory cache increment atomically: every caller gets
        # its own number, and only the first ``limit`` numbers pass.
        try:
            count = cache.incr(counter)
        except ValueError:  # the window's first event (or its key just expired)
            if cache.add(counter, 1, timeout=remaining):
                count = 1
            else:  # another request added it first
                try:
                    count = cache.incr(counter)
                except ValueError:  # expired between add and incr: a new window
                    cache.add(counter, 0, timeout=remaining)
                    count = cache.incr(counter)
        reservation = Reservation(cache_key=counter, slot=False)
        if count <= self.limit:
            return reservation
        reservation.release()  # over the limit: not counted, so a refusal never adds up
        return None

    def _acquire_slot(self, counter: str, remaining: int) -> Reservation | None:
        # Backends whose incr is a get and a set (database, file) would lose increments under
        # concurrency, but their add() is atomic (the database's primary key refuses a second
        # insert): each event claims one of ``limit`` slot keys. Where to start looking is a
        # hint kept in this process: written to the cache, every attempt refused at a later
        # limit would still leave a row behind, and rows past the database cache's
        # MAX_ENTRIES make it cull live keys (the limits themselves) in key order.
        slots = self._slot_keys(counter)
        start = min(_slot_hints.get(counter, 0), self.limit)
        for index in [*range(start, self.limit), *range(start)]:
            if cache.add(slots[index], 1, timeout=remaining):
                _remember_hint(counter, index + 1)
                return Reservation(cache_key=slots[index], slot=True)
        return None

    def count(self, key: str) -> int:
        """Events counted for ``key`` in the current window."""
        counter = self._cache_key(key, time.time())
        if _incr_is_atomic():
            return min(cache.get(counter, 0), self.limit)
        return len(cache.get_many(self._slot_keys(counter)))

    def exceeded(self, key: str) -> bool:
        """True when ``key`` has used up this window's allowance (a look, not a reservation)."""
        return self.count(key) >= self.limit

    def reset(self, key: str) -> None:
        counter = self._cache_key(key, time.time())
        cache.delete_many([counter, *self._slot_keys(counter)])

    def retry_after(self, *, now: float | None = None) -> int:
        """Seconds until the current window ends and the allowance is back."""
        now = time.time() if now is None else now
        return max(1, int(self.window - (now % self.window)))


_slot_hints: dict[str, int] = {}
_HINT_LIMIT = 10_000


def _remember_hint(counter: str, taken: int) -> None:
    if len(_slot_hints) >= _HINT_LIMIT:
        _slot_hints.clear()  # hints only: losing them costs a few more add() calls
    _slot_hints[counter] = taken


def _incr_is_atomic() -> bool:
    """Whether the default cache increments in place, atomically.

    Redis, Memcached and the local-memory cache do (and keep the key's expiry); backends that
    inherit ``BaseCache.incr`` (database, file) read and write the value again.
    """
    return type(caches["default"]).incr is not BaseCache.incr


def minutes_text(seconds: int) -> str:
    """``"1 minute"`` / ``"14 minutes"``, rounded up: people read a wait, not a timestamp."""
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


# --- Passwords ------------------------------------------------------------------------------------


class PasswordThrottled(Exception):
    """No password may be checked for this username from this client for ``wait`` seconds."""

    def __init__(self, wait: int):
        super().__init__(wait)
        self.wait = wait


# A browser that signed in as someone gets a signed "device" cookie for that username (OWASP's
# device cookies): its attempts for that username count against its own allowance, not against
# the username's or the address's, which strangers can use up from anywhere. The cookie carries
# a key derived from the user's current password hash: a password change voids every cookie
# issued before it, so cookies gathered while the password was known give no extra guesses.
DEVICE_COOKIE = "helpdesk_device"
DEVICE_MAX_AGE = 365 * 24 * 60 * 60
_DEVICE_SALT = "accounts.ratelimit.device"


def _username_key(username: str) -> str:
    return username.strip().casefold()


def _password_key(user) -> str:
    return salted_hmac(_DEVICE_SALT, user.get_session_auth_hash()).hexdigest()[:24]


def device_cookie_value(user) -> str:
    """A new signed device token for ``user``, for the browser that just signed in."""
    token = {
        "user": _username_key(user.get_username()),
        "device": secrets.token_urlsafe(16),
        "key": _password_key(user),
    }
    return signing.dumps(token, salt=_DEVICE_SALT, compress=True)


def trusted_device(request: HttpRequest, username: str) -> str | None:
    """The device id if this browser signed in as ``username`` under its current password."""
    raw = request.COOKIES.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        token = signing.loads(raw, salt=_DEVICE_SALT, max_age=DEVICE_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(token, dict) or token.get("user") != _username_key(username):
        return None
    device, key = token.get("device"), token.get("key")
    if not (isinstance(device, str) and device and isinstance(key, str)):
        return None
    user_model = get_user_model()
    try:
        user = user_model._default_manager.get_by_natural_key(username.strip())
    except user_model.DoesNotExist:
        return None
    return device if constant_time_compare(key, _password_key(user)) else None


def _login_limits(request: HttpRequest, username: str) -> list[tuple[RateLimit, str]]:
    name = _username_key(username)
    device = trusted_device(request, username)
    if device is not None:
        return [(RateLimit.named("login-device"), f"{name}\n{device}")]
    # Usernames are matched case-insensitively so that "Pat" and "pat" share one allowance.
    # A few failures lock a username only for the client that made them: anyone who knows a
    # staff username could otherwise lock that person out from anywhere. Guessing one username
    # from many addresses meets the much larger allowance across all of them (which does not
    # bind browsers the person signed in with before). The order matters: a client already
    # locked out of one username is refused at the first limit and takes nothing from the
    # username's total.
    client = client_address(request)
    return [
        (RateLimit.named("login-username"), f"{name}\n{client}"),
        (RateLimit.named("login-client"), client),
        (RateLimit.named("login-username-total"), name),
    ]


@dataclass
class PasswordAttempt:
    """One password check, paid for in advance; a wrong password simply keeps the payment."""

    request: HttpRequest
    username: str
    reservations: list[Reservation]

    def succeeded(self) -> None:
        # The person knows the password: their earlier typos from this client no longer count,
        # and the right password is not a failure. The username's count across clients and
        # the client's own count keep earlier failures, so a success never wipes out guessing.
        (limit, key), *_ = _login_limits(self.request, self.username)
        limit.reset(key)
        for reservation in self.reservations[1:]:
            reservation.release()

    def abandoned(self) -> None:
        """Nothing was learnt (the database failed, say): the attempt is given back."""
        for reservation in self.reservations:
            reservation.release()


def password_attempt(request: HttpRequest, username: str) -> PasswordAttempt:
    """Reserve one password check for ``username`` from this client, before hashing anything.

    Raises ``PasswordThrottled`` when any limit has no allowance left. Every view that checks a
    password goes through here (``tests/accounts/test_password_paths.py`` walks the URLs).
    """
    taken: list[Reservation] = []
    for limit, key in _login_limits(request, username):
        reservation = limit.acquire(key)
        if reservation is None:
            for earlier in taken:
                earlier.release()
            raise PasswordThrottled(limit.retry_after())
        taken.append(reservation)
    return PasswordAttempt(request=request, username=username, reservations=taken)
