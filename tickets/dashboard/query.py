"""What can be asked of the dashboard query and what it answers: sorts, filters, rows, counts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from departments.registry import Department
from tickets.models import Priority, Status, Ticket, TicketCount

TICKET_TABLE = Ticket._meta.db_table
COUNT_TABLE = TicketCount._meta.db_table
# Labels by value, without building an enum member per row (translated when shown).
_STATUS_LABELS = dict(Status.choices)
_PRIORITY_LABELS = dict(Priority.choices)
STATUS_ORDER = tuple(Status.values)  # the workflow order: new, open, pending, resolved, closed


@dataclass(frozen=True)
class SortKey:
    """A whitelisted sort: the column it orders by and how values are typed."""

    name: str
    column: str | None  # None: the order comes from per-arm constants only (department, status)
    kind: str = "text"  # text | int | datetime | status | department | nullable_int
    unique: bool = False  # the column alone is unique within a department


SORT_KEYS: dict[str, SortKey] = {
    key.name: key
    for key in (
        SortKey("created", "created_at", "datetime"),
        SortKey("updated", "updated_at", "datetime"),
        SortKey("reference", "reference", "text", unique=True),
        SortKey("subject", "subject", "text"),
        SortKey("customer", "customer_name", "text"),
        SortKey("email", "customer_email", "text"),
        SortKey("priority", "priority", "int"),
        # Unassigned tickets sort before assigned ones (by staff id) in ascending order.
        SortKey("assignee", "assignee_id", "nullable_int"),
        # Workflow order (new .. closed), not alphabetical: one arm per status.
        SortKey("status", None, "status"),
        # By department name: one arm per department, so its order is free.
        SortKey("department", None, "department"),
    )
}

DEFAULT_SORT = "created"

SELECT_COLUMNS = (
    "id",
    "reference",
    "customer_name",
    "customer_email",
    "subject",
    "status",
    "priority",
    "assignee_id",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class TicketFilters:
    """Row filters; every value ends up as a bound parameter."""

    statuses: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    assignee_id: int | None = None
    unassigned: bool = False
    created_from: datetime | None = None  # inclusive, aware
    created_before: datetime | None = None  # exclusive, aware
    search: str = ""

    @property
    def countable(self) -> bool:
        """True when the maintained (status, priority) counts answer exactly."""
        return not (
            self.assignee_id is not None
            or self.unassigned
            or self.created_from
            or self.created_before
            or self.search
        )


@dataclass(frozen=True)
class TicketQuery:
    departments: tuple[Department, ...]
    filters: TicketFilters = field(default_factory=TicketFilters)
    sort: str = DEFAULT_SORT
    descending: bool = True

    def __post_init__(self) -> None:
        if self.sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {self.sort!r}")
        unknown = set(self.filters.statuses) - set(STATUS_ORDER)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)!r}")

    def reversed(self) -> TicketQuery:
        return replace(self, descending=not self.descending)


@dataclass(frozen=True, slots=True)
class TicketRow:
    department: Department
    id: int
    reference: str
    customer_name: str
    customer_email: str
    subject: str
    status: str
    priority: int
    assignee_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def status_label(self) -> str:
        return _STATUS_LABELS[self.status]

    @property
    def priority_label(self) -> str:
        return _PRIORITY_LABELS[self.priority]


@dataclass(frozen=True)
class Count:
    value: int  # exact, or a lower bound when not exact
    exact: bool


@dataclass
class Result:
    rows: list[TicketRow] = field(default_factory=list)
    count: Count | None = None
    unavailable: list[Department] = field(default_factory=list)
    has_more: bool = False  # more rows exist beyond ``rows`` in the direction read
    # Rows the databases stepped over to place a deep page (an upper bound; 0 for shallow pages).
    examined: int = 0
