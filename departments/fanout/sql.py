"""The one place statements for several departments are joined into one."""

from __future__ import annotations

from typing import Any


class UnionAll:
    """Parts of one statement, each a complete SELECT read as a derived table.

    ``tag`` prefixes a part's rows with a constant column ``which`` (0 or 1, say), so two reads
    of one arm can share the statement and still be told apart.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, params: list[Any], *, tag: int | None = None) -> None:
        alias = f"u{len(self.parts)}"
        head = "SELECT *" if tag is None else f"SELECT {tag} AS which, {alias}.*"
        self.parts.append(f"{head} FROM ({sql}) {alias}")
        self.params += params

    def __len__(self) -> int:
        return len(self.parts)

    @property
    def sql(self) -> str:
        return " UNION ALL ".join(self.parts)
