"""Session engines: Django's, saving an existing session with one UPDATE statement.

Django wraps every session save in ``transaction.atomic``. Creating a session needs it (a key
collision is detected and retried); updating one is a single UPDATE, atomic by itself, and the
transaction only added a BEGIN and a COMMIT round trip to every request that changes its
session (each ticket submission remembers its reference there). ``SESSION_ENGINE`` is
``runtime.sessions.db`` or, with a shared Redis cache, ``runtime.sessions.cached_db``. The stores
keep the class name ``SessionStore``: Django salts the session signature with it, so sessions
written by Django's own engines stay valid.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import UpdateError
from django.db import router


class SingleStatementUpdate(db.SessionStore):
    def save(self, must_create=False):
        if must_create or self.session_key is None:
            return super().save(must_create)
        using = router.db_for_write(self.model)
        updated = (
            self.model.objects.using(using)
            .filter(session_key=self.session_key)
            .update(
                session_data=self.encode(self._get_session()),
                expire_date=self.get_expiry_date(),
            )
        )
        if not updated:
            # Deleted meanwhile (signed out elsewhere): not re-created, as in Django, whose
            # middleware then reports the lost session.
            raise UpdateError
