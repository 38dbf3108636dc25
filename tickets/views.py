from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django_tables2 import RequestConfig

from departments.aggregate import TicketRow
from tickets.filters import DashboardFilter
from tickets.tables import (
    DashboardData,
    DashboardPaginator,
    Position,
    TicketTable,
    page_count_label,
)

EXPORT_BATCH = 1000
# Spreadsheets run cells that start like a formula; a leading apostrophe keeps them text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/home.html")


def _is_partial(request: HttpRequest) -> bool:
    """An htmx swap gets only the dashboard block; history restores need the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def _dashboard_parts(request: HttpRequest) -> tuple[DashboardFilter, DashboardData, TicketTable]:
    filterset = DashboardFilter(
        request.GET or None, departments=request.user.departments(), user=request.user
    )
    data = DashboardData(
        departments=filterset.selected_departments(), filters=filterset.ticket_filters()
    )
    return filterset, data, TicketTable(data)


def dashboard_table(request: HttpRequest) -> tuple[DashboardFilter, DashboardData, TicketTable]:
    """The filters and the sorted, paginated table a dashboard request asks for (all reads done).

    The view and bench/dashboard.py both go through here.
    """
    filterset, data, table = _dashboard_parts(request)
    RequestConfig(
        request,
        paginate={
            "paginator_class": DashboardPaginator,
            "per_page": filterset.page_size(),
            "position": Position.from_params(request.GET),
        },
    ).configure(table)
    return filterset, data, table


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    filterset, data, table = dashboard_table(request)
    context = {
        "filter": filterset,
        "table": table,
        "count_label": page_count_label(table.paginator, table.page),
        "unavailable": data.unavailable,
        "has_departments": bool(filterset.departments),
    }
    partial = _is_partial(request)
    template = "tickets/_dashboard.html" if partial else "tickets/dashboard.html"
    response = render(request, template, {**context, "partial": partial})
    patch_vary_headers(response, ["HX-Request"])
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    return f"'{value}" if value and value.startswith(_FORMULA_PREFIXES) else value


@login_required
def dashboard_export(request: HttpRequest) -> StreamingHttpResponse:
    """The current filtered, sorted view as CSV, streamed one keyset batch at a time."""
    _filterset, data, table = _dashboard_parts(request)
    table.order_by = request.GET.getlist(table.prefixed_order_by_field) or table.order_by
    writer = csv.writer(_Echo())
    names: dict[int, str] = {}

    def rows() -> Iterator[str]:
        yield writer.writerow([column.header for column in table.columns])
        for row in data.iterate(batch=EXPORT_BATCH):
            yield writer.writerow(_export_row(table, row, names))
        if data.unavailable:
            missing = ", ".join(d.label for d in data.unavailable)
            yield writer.writerow([f"Incomplete export: {missing} could not be read."])

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="tickets-{stamp}.csv"'
    return response


def _export_row(table: TicketTable, row: TicketRow, names: dict[int, str]) -> list[str]:
    if row.assignee_id is not None and row.assignee_id not in names:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(pk=row.assignee_id).first()
        names[row.assignee_id] = (
            (user.get_full_name() or user.get_username()) if user else f"Staff #{row.assignee_id}"
        )
    values = [
        row.reference,
        row.department.label,
        row.subject,
        row.customer_name,
        row.customer_email,
        row.status_label,
        row.priority_label,
        names.get(row.assignee_id, "") if row.assignee_id is not None else "",
        timezone.localtime(row.created_at).strftime("%Y-%m-%d %H:%M"),
        timezone.localtime(row.updated_at).strftime("%Y-%m-%d %H:%M"),
    ]
    return [_cell(str(value)) for value in values]
