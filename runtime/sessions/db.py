"""Database sessions (see the package docstring)."""

from runtime.sessions import SingleStatementUpdate


class SessionStore(SingleStatementUpdate):
    pass
