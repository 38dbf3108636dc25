"""Django's model backend, with the signed-in user kept per process between requests.

Every request loads its user (and, for an agent, the memberships every page checks) from the
system database. They change only when staff do, and every save or delete of a user or a
membership changes the staff version in the shared cache (``accounts.selectors``): a process
keeps what it read under a version for as long as that version stands, and never longer than
``KEEP_SECONDS``, which bounds how long a change made behind Django's back (an SQL ``UPDATE``,
``QuerySet.update()``) can go unseen. Disabling someone in the admin takes effect on their
next request. Only with a shared cache: with a per-process one (``make run``'s default) every
request reads the user, as Django does. The version read is left on the user
(``staff_version``): the rest of the request (the dashboard's assignable staff) uses it rather
than reading the cache again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from accounts.checks import PER_PROCESS_CACHES
from accounts.models import User
from accounts.selectors import staff_version

logger = logging.getLogger(__name__)
KEEP_SECONDS = 30
_KEEP_LIMIT = 1024
_FIELDS = [field.attname for field in User._meta.concrete_fields]


@dataclass(frozen=True)
class _Kept:
    version: str
    read_at: float
    values: tuple
    membership_slugs: frozenset[str] | None


_kept: dict[int, _Kept] = {}


def _shared_cache() -> bool:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    return not backend.endswith(PER_PROCESS_CACHES)


class StaffModelBackend(ModelBackend):
    def get_user(self, user_id):
        if not _shared_cache():
            # Each process would have a version of its own, which a change saved in another
            # process never bumps: read as Django does.
            return super().get_user(user_id)
        try:
            version = staff_version()
        except Exception:  # the cache is down: the database still answers for the user
            logger.warning("staff version unreadable; reading the user", exc_info=True)
            version = None
        if version is None:  # no shared version to trust: read as Django does
            return super().get_user(user_id)
        now = time.monotonic()
        kept = _kept.get(user_id)
        if kept is not None and kept.version == version and now - kept.read_at < KEEP_SECONDS:
            # A new instance per request: nothing one request sets on it reaches another.
            user = User.from_db("default", _FIELDS, kept.values)
            user.membership_slugs = kept.membership_slugs
            user.staff_version = version
            return user
        user = super().get_user(user_id)  # None for a user that is gone or disabled
        if user is None:
            _kept.pop(user_id, None)
            return None
        slugs = None if user.is_superadmin else frozenset(user.membership_slug_set())
        user.membership_slugs = slugs
        user.staff_version = version
        if len(_kept) >= _KEEP_LIMIT:
            _kept.clear()
        _kept[user_id] = _Kept(version, now, tuple(getattr(user, f) for f in _FIELDS), slugs)
        return user
