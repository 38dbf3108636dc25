"""Database sessions (see the package docstring)."""

from config.sessions import SingleStatementUpdate


class SessionStore(SingleStatementUpdate):
    pass
