"""Which departments one SQL statement can reach.

SQLite files ATTACHed to one connection, MySQL/MariaDB databases on one server as ``db.table``,
PostgreSQL schemas of one database. Departments no statement can share (separate servers,
separate PostgreSQL databases) form groups of one, read concurrently and merged by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connections

from departments.fanout.dialects import planning_dialect
from departments.registry import Department


@dataclass(frozen=True)
class Group:
    """Departments one statement on one connection can read."""

    vendor: str
    departments: tuple[Department, ...]
    alias: str  # the Django connection the statement runs on (unused for SQLite)
    prefixes: tuple[str, ...]  # table qualifier per department, e.g. '"d0".' or '`db`.'
    sqlite_files: tuple[str, ...] = ()

    def split(self) -> list[Group]:
        """One group per department, to read them apart after the shared statement failed."""
        dialect = planning_dialect(self.alias)
        return [
            Group(
                self.vendor,
                (d,),
                d.alias,
                (dialect.single_prefix(self.prefixes[i], i),),
                (self.sqlite_files[i],) if self.sqlite_files else (),
            )
            for i, d in enumerate(self.departments)
        ]


def plan_groups(departments: Sequence[Department], *, single_statement: bool = True) -> list[Group]:
    """Group departments by what one statement can reach (see the module docstring)."""
    groups: list[Group] = []
    pending: dict[tuple, list[Department]] = {}
    for department in departments:
        if single_statement:
            config = connections.settings[department.alias]
            key = planning_dialect(department.alias).group_key(config, department.alias)
        else:
            key = ("alone", department.alias)
        pending.setdefault(key, []).append(department)
    for key, members in pending.items():
        first = members[0].alias
        vendor = connections[first].vendor
        if key[0] == "alone":
            groups += [Group(vendor, (d,), d.alias, ("",)) for d in members]
            continue
        dialect = planning_dialect(first)
        size = dialect.max_group_size() or len(members)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            configs = [connections.settings[d.alias] for d in chunk]
            groups.append(
                Group(
                    vendor,
                    tuple(chunk),
                    chunk[0].alias,
                    dialect.group_prefixes(configs),
                    dialect.group_files(configs),
                )
            )
    return groups
