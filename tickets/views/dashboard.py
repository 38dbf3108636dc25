"""Staff: the dashboard over every department the user works in, and its CSV export.

``DashboardView`` is django-tables2's ``SingleTableMixin`` on the cross-department engine:
``get_table_data()`` is a ``DashboardData`` (never more than a page of rows) and the paginator
reads the page the request's position names.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import cached_property

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.generic import TemplateView
from django_tables2 import RequestConfig, SingleTableMixin

from tickets.dashboard import TicketRow
from tickets.filters import DashboardFilterForm
from tickets.tables import (
    MSG_POSITION_RESET,
    DashboardData,
    DashboardPaginator,
    Position,
    TicketTable,
    page_count_label,
)
from tickets.templatetags.dashboard import query_string

MSG_EXPORT_INVALID_FILTERS = (
    "Nothing was exported: the dashboard would not apply these filters. Correct them on the "
    "dashboard, then export again."
)
# Jinja2: tickets/jinja2/ (the page extends the Jinja2 site layout, templates/jinja2/base.html)
DASHBOARD_PAGE = "tickets/dashboard.html"
DASHBOARD_BLOCK = "tickets/_dashboard.html"
EXPORT_BATCH = 1000
# Spreadsheets run cells that start like a formula; a leading apostrophe keeps them text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def is_partial(request: HttpRequest) -> bool:
    """An htmx swap gets only the dashboard block; history restores need the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def dashboard_parts(request: HttpRequest) -> tuple[DashboardFilterForm, DashboardData, TicketTable]:
    """The filters, the engine-backed data and the (not yet sorted or paginated) table."""
    filter_form = DashboardFilterForm(
        request.GET or None, departments=request.user.departments(), user=request.user
    )
    data = DashboardData(
        departments=filter_form.selected_departments(), filters=filter_form.ticket_filters()
    )
    return filter_form, data, TicketTable(data)


class DashboardView(LoginRequiredMixin, SingleTableMixin, TemplateView):
    table_class = TicketTable

    @cached_property
    def parts(self) -> tuple[DashboardFilterForm, DashboardData, TicketTable]:
        return dashboard_parts(self.request)

    def get_table_data(self) -> DashboardData:
        return self.parts[1]

    def get_table(self, **kwargs) -> TicketTable:
        table = self.parts[2]
        RequestConfig(self.request, paginate=self.get_table_pagination(table)).configure(table)
        return table

    def get_table_pagination(self, table) -> dict:
        size = self.parts[0].page_size()
        return {
            "paginator_class": DashboardPaginator,
            "per_page": size,
            "page_size": size,
            "position": Position.from_params(self.request.GET),
        }

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)  # the table, all reads done
        filter_form, data, table = self.parts
        context.update(
            filter_form=filter_form,
            count_label=page_count_label(table.paginator, table.page),
            position_reset=MSG_POSITION_RESET if table.paginator.position_reset else "",
            unavailable=data.unavailable,
            has_departments=bool(filter_form.departments),
            partial=is_partial(self.request),
        )
        return context

    def render_to_response(self, context, **kwargs) -> HttpResponse:
        # Jinja2, where rendering cost is measured: an htmx swap gets the block with the filters
        # and the table alone, a full page the same block in the site's layout.
        template = DASHBOARD_BLOCK if context["partial"] else DASHBOARD_PAGE
        response = render(self.request, template, context)
        patch_vary_headers(response, ["HX-Request"])
        return response


def dashboard_table(request: HttpRequest) -> tuple[DashboardFilterForm, DashboardData, TicketTable]:
    """The filters and the sorted, paginated table a dashboard request asks for (all reads done).

    The view and bench/dashboard.py both go through here.
    """
    view = DashboardView()
    view.setup(request)
    table = view.get_table()
    return view.parts[0], view.parts[1], table


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    return f"'{value}" if value and value.startswith(_FORMULA_PREFIXES) else value


@login_required
def dashboard_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The current filtered, sorted view as CSV, streamed one keyset batch at a time.

    The rows are the dashboard's for the same query string: filters the dashboard would not
    apply are a 400 page naming them, never an export of more than the user asked for.
    """
    filter_form, data, table = dashboard_parts(request)
    problems = filter_form.problems()
    if problems:
        context = {
            "problems": problems,
            "message": MSG_EXPORT_INVALID_FILTERS,
            "dashboard_query": query_string(request.GET),
        }
        return render(request, "tickets/export_invalid.html", context, status=400)
    # Sorted exactly as the dashboard sorts; no pagination, the export streams every row.
    RequestConfig(request, paginate=False).configure(table)
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
