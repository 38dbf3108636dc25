"""Reading many department databases at once: which departments one statement can reach
(``planning``), every backend difference (``dialects``), and running one statement per group
on worker threads with a deadline, one failing department never hiding the others
(``execution``). Nothing here knows about tickets.
"""

from departments.fanout.dialects import Dialect, MariaDBDialect, dialect_for, dialect_of
from departments.fanout.execution import (
    Runner,
    department_timeout,
    each_group,
    shutdown_workers,
)
from departments.fanout.planning import Group, plan_groups
from departments.fanout.sql import UnionAll

__all__ = [
    "Dialect",
    "Group",
    "MariaDBDialect",
    "Runner",
    "UnionAll",
    "department_timeout",
    "dialect_for",
    "dialect_of",
    "each_group",
    "plan_groups",
    "shutdown_workers",
]
