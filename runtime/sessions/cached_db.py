"""Database sessions read through the cache (see the package docstring)."""

from django.contrib.sessions.backends import cached_db

from runtime.sessions import SingleStatementUpdate


class SessionStore(cached_db.SessionStore, SingleStatementUpdate):
    """cached_db's reads and cache writes around the single-statement database writes."""
