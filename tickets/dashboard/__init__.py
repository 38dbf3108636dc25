"""The dashboard's cross-department ticket query: what views, tables and exports use.

``run(TicketQuery(...), limit=..., after=Cursor | None, count=True)`` reads one page (and the
count) over every department the query names; see ``engine`` for how, ``locator`` for deep
pages, ``search`` for the search box and ``departments.fanout`` for the per-backend parts.
"""

from tickets.dashboard.cursor import Cursor
from tickets.dashboard.engine import run
from tickets.dashboard.limits import COUNT_CAP
from tickets.dashboard.query import (
    DEFAULT_SORT,
    SELECT_COLUMNS,
    SORT_KEYS,
    STATUS_ORDER,
    TICKET_TABLE,
    Count,
    Result,
    SortKey,
    TicketFilters,
    TicketQuery,
    TicketRow,
)
from tickets.dashboard.search import search_shape, text_search_index

__all__ = [
    "COUNT_CAP",
    "DEFAULT_SORT",
    "SELECT_COLUMNS",
    "SORT_KEYS",
    "STATUS_ORDER",
    "TICKET_TABLE",
    "Count",
    "Cursor",
    "Result",
    "SortKey",
    "TicketFilters",
    "TicketQuery",
    "TicketRow",
    "run",
    "search_shape",
    "text_search_index",
]
