"""The dashboard table: django-tables2 on top of the cross-department engine.

``DashboardData`` is the table's data source (length = the count, ``order_by`` = the engine's
sort, slicing = one page) and ``DashboardPaginator`` turns the request's position (page number,
``after``/``before`` cursor or the last page) into one engine read, so RequestConfig sorting and
pagination work and no more than a page of rows is ever held.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import django_tables2 as tables
from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.utils import timezone
from django_tables2.data import TableData
from django_tables2.rows import BoundRows

from departments.registry import Department
from runtime.jinja2 import localtime, minute
from tickets.dashboard import (
    DEFAULT_SORT,
    SORT_KEYS,
    Count,
    Cursor,
    Result,
    TicketFilters,
    TicketQuery,
    TicketRow,
    run,
)
from tickets.filters import DEFAULT_PAGE_SIZE, PAGE_SIZES
from tickets.links import ticket_urls
from tickets.models import Priority, Status

# Pages up to this number are read together with the count (see DashboardPaginator).
NEAR_PAGES = 10
# A page number past this is treated as "go to the last page" (and keeps offsets sane).
MAX_PAGE_NUMBER = 10_000_000
MSG_POSITION_RESET = (
    "The page link you followed was out of date or damaged, so the list was shown from the "
    "page number alone, or from the start."
)
# ASCII only: str.isdigit() also accepts "²" and "٣", which int() refuses or reads as 3.
_DIGITS = re.compile(r"[0-9]+")


def parse_page_number(raw: str) -> int | None:
    """The number in ``raw`` (ASCII digits only), or None; any number past MAX_PAGE_NUMBER is
    MAX_PAGE_NUMBER + 1, without int() on thousands of digits (which Python refuses)."""
    if not _DIGITS.fullmatch(raw):
        return None
    digits = raw.lstrip("0")
    if len(digits) > len(str(MAX_PAGE_NUMBER)):
        return MAX_PAGE_NUMBER + 1
    return int(digits or "0")


@dataclass(frozen=True)
class Position:
    """Where the requested page is: a page number, the last page, or next to a cursor."""

    page: int | None = 1  # None: unknown (reached from the end of an uncounted result)
    last: bool = False
    after: str = ""
    before: str = ""

    @classmethod
    def from_params(cls, params) -> Position:
        raw = (params.get("page") or "").strip()
        after = (params.get("after") or "")[:1200]
        before = (params.get("before") or "")[:1200]
        if raw == "last":
            return cls(page=None, last=True)
        number = parse_page_number(raw)
        if number is not None and number > MAX_PAGE_NUMBER:
            return cls(page=None, last=True)
        if number:
            page: int | None = number
        else:
            page = None if (after or before) else 1
        if after:
            return cls(page=page, after=after)
        if before:
            return cls(page=page, before=before)
        return cls(page=page or 1)


class DashboardData(TableData):
    """Table data backed by the engine: never holds more than one page of rows."""

    def __init__(
        self,
        *,
        departments: list[Department],
        filters: TicketFilters,
        single_statement: bool | None = None,
    ):
        super().__init__(data=[])
        self.departments = list(departments)
        self.filters = filters
        self.single_statement = single_statement
        self.sort = DEFAULT_SORT
        self.descending = True
        self.unavailable: list[Department] = []
        self._count: Count | None = None

    # -- what django-tables2 asks of a data source --
    def order_by(self, aliases) -> None:
        for alias in aliases:
            name = alias.lstrip("-")
            if name in SORT_KEYS:
                self.sort, self.descending = name, alias.startswith("-")
                return
        self.sort, self.descending = DEFAULT_SORT, True

    @property
    def ordering(self):
        return [("-" if self.descending else "") + self.sort]

    @property
    def verbose_name(self) -> str:
        return "ticket"

    @property
    def verbose_name_plural(self) -> str:
        return "tickets"

    def __len__(self) -> int:
        return self.count().value

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, _ = key.indices(len(self))
            if stop <= start:
                return []
            return self.read(limit=stop - start, offset=start).rows
        return self.read(limit=1, offset=key).rows[0]

    def __iter__(self) -> Iterator[TicketRow]:
        return self.iterate()

    # -- engine access --
    @property
    def query(self) -> TicketQuery:
        return TicketQuery(
            departments=tuple(self.departments),
            filters=self.filters,
            sort=self.sort,
            descending=self.descending,
        )

    def read(self, *, query: TicketQuery | None = None, count: bool = False, **kwargs) -> Result:
        result = run(
            query or self.query,
            count=count and self._count is None,
            single_statement=self.single_statement,
            **kwargs,
        )
        for department in result.unavailable:
            if department not in self.unavailable:
                self.unavailable.append(department)
        if result.count is not None:
            self._count = result.count
        return result

    @property
    def counted(self) -> bool:
        return self._count is not None

    def count(self) -> Count:
        if self._count is None:
            self.read(count=True)
        return self._count or Count(0, True)

    def iterate(self, batch: int = 1000) -> Iterator[TicketRow]:
        """Every row in order, one keyset batch at a time (constant memory)."""
        query = self.query
        cursor = None
        while True:
            result = self.read(query=query, limit=batch, after=cursor)
            yield from result.rows
            if not result.has_more or not result.rows:
                return
            cursor = Cursor.for_row(result.rows[-1], query)


class DashboardPage(Page):
    """One page, with the links a keyset page needs (numbers may be unknown near the end)."""

    def __init__(self, rows, number, paginator, *, has_next, has_previous, cursors=("", "")):
        super().__init__(rows, number or 1, paginator)
        self.known_number = number
        self._has_next = has_next
        self._has_previous = has_previous
        # Keyset tokens: "before the first row" and "after the last row" of this page.
        self.previous_cursor, self.next_cursor = cursors

    @cached_property
    def links(self) -> list:
        """Page numbers to offer (elided); none when this page's number is unknown."""
        if not self.known_number:
            return []
        return list(
            self.paginator.get_elided_page_range(self.known_number, on_each_side=2, on_ends=1)
        )

    def has_next(self) -> bool:
        return self._has_next

    def has_previous(self) -> bool:
        return self._has_previous

    def start_index(self) -> int:
        if not self.known_number or not len(self.object_list):
            return 0
        return (self.known_number - 1) * self.paginator.per_page + 1

    def end_index(self) -> int:
        start = self.start_index()
        return start + len(self.object_list) - 1 if start else 0


class DashboardPaginator(Paginator):
    """Reads the page a :class:`Position` names, counting in the same engine call."""

    def __init__(
        self,
        object_list,
        per_page,
        position: Position | None = None,
        page_size: int | None = None,
        **kwargs,
    ):
        # ``page_size`` is the filter form's validated choice. django-tables2 passes int() of
        # the raw ?per_page= as ``per_page``, which also reads Arabic-Indic or "5_0" digits as 50.
        per_page = per_page if page_size is None else page_size
        if per_page not in PAGE_SIZES:
            per_page = DEFAULT_PAGE_SIZE
        super().__init__(object_list, per_page, allow_empty_first_page=True)
        self.rows = object_list
        self.data: DashboardData = object_list.data
        self.position = position or Position()
        # A cursor in the request that did not decode for this view: shown as a notice.
        self.position_reset = False

    @cached_property
    def count(self) -> int:
        return self.data.count().value

    @property
    def exact(self) -> bool:
        return self.data.count().exact

    def validate_number(self, number):
        return max(1, min(int(number), self.num_pages))

    def page(self, number=None) -> DashboardPage:
        data, position = self.data, self.position
        query = data.query
        if position.after or position.before:
            cursor = Cursor.decode(position.after or position.before, query)
            if cursor is not None:
                page = self._page_at_cursor(query, cursor, forward=bool(position.after))
                if page is not None:
                    return page
                return self._page_number(1)
            # A stale or mangled cursor: the page number alone still names a page.
            self.position_reset = True
            return self._page_number(position.page or 1)
        if position.last:
            return self._last_page(query)
        return self._page_number(position.page or 1)

    def _bound(self, rows: list[TicketRow]) -> BoundRows:
        _attach_assignee_names(self.data, rows)
        return BoundRows(data=rows, table=self.rows.table)

    def _make(self, rows, number, *, has_next, has_previous) -> DashboardPage:
        query = self.data.query
        cursors = (
            (Cursor.for_row(rows[0], query).encode(), Cursor.for_row(rows[-1], query).encode())
            if rows
            else ("", "")
        )
        return DashboardPage(
            self._bound(rows),
            number,
            self,
            has_next=has_next and bool(rows),
            has_previous=has_previous,
            cursors=cursors,
        )

    def _page_number(self, number: int) -> DashboardPage:
        data, size = self.data, self.per_page
        query = data.query
        if number <= 1:
            result = data.read(limit=size, count=True)
            return self._make(result.rows, 1, has_next=result.has_more, has_previous=False)
        if number <= NEAR_PAGES and not data.counted:
            # A page near the start: read it and count in one engine call (one statement per
            # server) rather than counting first; reading from the far end could only save
            # a few pages here. A number past the end is clamped below, as for any page.
            result = data.read(limit=size, offset=(number - 1) * size, count=True)
            count = data.count()
            if not count.exact or number <= self.num_pages:
                has_next = number < self.num_pages or (not count.exact and result.has_more)
                return self._make(result.rows, number, has_next=has_next, has_previous=True)
        number = self.validate_number(number)  # counts first: the nearer end depends on it
        count = data.count()
        if number == 1:
            return self._page_number(1)
        if count.exact and number - 1 > self.num_pages - number:
            # Nearer the end: read backwards so a jump costs at most min(k, pages - k) pages.
            end = min(number * size, count.value)
            rows = data.read(
                query=query.reversed(), limit=end - (number - 1) * size, offset=count.value - end
            ).rows[::-1]
            has_next = number < self.num_pages
        else:
            result = data.read(limit=size, offset=(number - 1) * size)
            rows = result.rows
            has_next = number < self.num_pages or (not count.exact and result.has_more)
        return self._make(rows, number, has_next=has_next, has_previous=True)

    def _last_page(self, query: TicketQuery) -> DashboardPage:
        data, size = self.data, self.per_page
        result = data.read(query=query.reversed(), limit=size, count=True)
        rows = result.rows[::-1]
        count = data.count()
        if count.exact:
            last_size = count.value - (self.num_pages - 1) * size if count.value else 0
            rows = rows[len(rows) - last_size :] if last_size < len(rows) else rows
            number = self.num_pages
            return self._make(rows, number, has_next=False, has_previous=number > 1)
        return self._make(rows, None, has_next=False, has_previous=result.has_more)

    def _page_at_cursor(self, query, cursor: Cursor, *, forward: bool) -> DashboardPage | None:
        data, size = self.data, self.per_page
        known = self.position.page
        if forward:
            result = data.read(limit=size, after=cursor, count=True)
            number = self._clamp(known)
            return self._make(result.rows, number, has_next=result.has_more, has_previous=True)
        flipped = Cursor(
            cursor.sort, not cursor.descending, cursor.department, cursor.id, cursor.value
        )
        result = data.read(query=query.reversed(), limit=size, after=flipped, count=True)
        if len(result.rows) < size or not result.has_more:
            return None  # at (or past) the start: the first page is the honest answer
        number = self._clamp(known)
        return self._make(result.rows[::-1], number, has_next=True, has_previous=True)

    def _clamp(self, number: int | None) -> int | None:
        if number is None:
            return None
        return max(2, min(number, self.num_pages)) if self.exact else max(2, number)


def _attach_assignee_names(data: DashboardData, rows: list[TicketRow]) -> None:
    ids = {row.assignee_id for row in rows if row.assignee_id is not None}
    names = {}
    if ids:
        for user in get_user_model().objects.filter(pk__in=ids):
            names[user.pk] = user.get_full_name() or user.get_username()
    data.assignee_names = names


class RowCells(NamedTuple):
    """One dashboard row as the text of its cells (escaped by the template, like any value)."""

    link: str
    reference: str
    department: str
    subject: str
    customer: str
    email: str
    status: str
    status_label: str
    priority: str
    assignee: str
    created_iso: str
    created: str
    updated_iso: str
    updated: str


class TicketTable(tables.Table):
    """Every column is a whitelisted engine sort key; the order ends in (department, id).

    The columns give headers, sorting and export values; the Jinja2 template
    tickets/jinja2/tickets/_dashboard_table.html writes the page (cell by cell rendering through
    django-tables2's columns cost more than the query).
    """

    reference = tables.Column(verbose_name="Reference")
    department = tables.Column(verbose_name="Department", accessor="department__label")
    subject = tables.Column(verbose_name="Subject")
    customer = tables.Column(verbose_name="Customer", accessor="customer_name")
    email = tables.Column(verbose_name="Email", accessor="customer_email")
    status = tables.Column(verbose_name="Status", accessor="status_label")
    priority = tables.Column(verbose_name="Priority", accessor="priority_label")
    assignee = tables.Column(verbose_name="Assignee", accessor="assignee_id", default="Unassigned")
    created = tables.Column(verbose_name="Created", accessor="created_at")
    updated = tables.Column(verbose_name="Updated", accessor="updated_at")

    class Meta:
        order_by = ("-created",)
        template_name = "tickets/_dashboard_table.html"
        empty_text = "No tickets match these filters."
        attrs = {"class": "table dashboard-table"}

    def render_assignee(self, value) -> str:
        names = getattr(self.data, "assignee_names", {})
        return names.get(value, f"Staff #{value}")

    def cells(self) -> list[RowCells]:
        """The page's rows as cell text, worked out once a page: the time zone, labels and
        links are looked up once rather than per cell through template filters and calls."""
        zone = timezone.get_current_timezone()
        status_labels, priority_labels = self.labels()
        found = []
        for t in self.paginated_rows.data:
            created, updated = localtime(t.created_at, zone), localtime(t.updated_at, zone)
            found.append(
                RowCells(
                    link=self.ticket_link(t),
                    reference=t.reference,
                    department=t.department.label,
                    subject=t.subject,
                    customer=t.customer_name,
                    email=t.customer_email,
                    status=t.status,
                    status_label=status_labels[t.status],
                    priority=priority_labels[t.priority],
                    assignee=(
                        "Unassigned"
                        if t.assignee_id is None
                        else self.render_assignee(t.assignee_id)
                    ),
                    created_iso=created.isoformat(),
                    created=minute(created),
                    updated_iso=updated.isoformat(),
                    updated=minute(updated),
                )
            )
        return found

    def labels(self) -> tuple[dict[str, str], dict[int, str]]:
        """Status and priority labels as text in the current language, looked up once a page
        (each lazy label would otherwise look up the language again, per row)."""
        return (
            {value: str(label) for value, label in Status.choices},
            {value: str(label) for value, label in Priority.choices},
        )

    def ticket_link(self, row: TicketRow) -> str:
        """The staff page of ``row``: one URL pattern per department, not a reverse() per row."""
        links = self.__dict__.setdefault("_links", {})
        link = links.get(row.department.slug)
        if link is None:
            link = links[row.department.slug] = ticket_urls(row.department)
        return link(row.id)


def page_count_label(paginator: DashboardPaginator, page: DashboardPage) -> str:
    """ "1–25 of 1,000,000", "1–25 of more than 10,000", or the same near an uncounted end."""
    from django.contrib.humanize.templatetags.humanize import intcomma

    count = paginator.data.count()
    total = intcomma(count.value) if count.exact else f"more than {intcomma(count.value)}"
    if not len(page.object_list):
        return f"0 of {total}" if count.exact else "No tickets on this page"
    if page.known_number:
        return f"{intcomma(page.start_index())}–{intcomma(page.end_index())} of {total}"
    return f"{len(page.object_list)} tickets near the end of {total}"


def num_pages_label(paginator: DashboardPaginator) -> str:
    pages = paginator.num_pages
    return f"{pages:,}" if paginator.exact else f"{pages:,}+"
