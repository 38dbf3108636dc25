"""Pages: submit a ticket and check its status (anyone), work a ticket (staff), the overview.

Views stay thin: forms validate, ``tickets.services`` writes, ``tickets.selectors`` reads. Every
department read or write here can meet a database that is down; that is a 503 page naming the
department, never a 500, and never a lost form.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import DatabaseError, InterfaceError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods
from django_tables2 import RequestConfig

from accounts.ratelimit import RateLimit, client_address, minutes_text
from accounts.selectors import staff_for_department, users_by_id
from departments.registry import Department, UnknownDepartment, get_department
from tickets import forms, selectors
from tickets.dashboard import TicketRow
from tickets.filters import DashboardFilter
from tickets.forms import (
    FindTicketForm,
    StatusLookupForm,
    TicketSubmissionForm,
    TicketUpdateForm,
)
from tickets.models import Priority, Status, Ticket
from tickets.references import InvalidReference, department_for_reference
from tickets.selectors import (
    ticket_customer_history,
    ticket_find_by_reference,
    ticket_find_for_customer,
    ticket_for_submission,
)
from tickets.services import (
    CUSTOMER,
    MSG_STALE,
    Actor,
    TicketConflict,
    ticket_create,
    ticket_update,
)
from tickets.tables import (
    MSG_POSITION_RESET,
    DashboardData,
    DashboardPaginator,
    Position,
    TicketTable,
    page_count_label,
)
from tickets.templatetags.dashboard import query_string

logger = logging.getLogger(__name__)

# A department database that cannot be reached or fails mid-query. InterfaceError is not a
# DatabaseError in Django's hierarchy but means the same here (a dropped connection).
DATABASE_ERRORS = (DatabaseError, InterfaceError)

MSG_NO_MATCH = (
    "No ticket matches that reference and email address. Check both against your confirmation "
    "and try again."
)
MSG_TOO_MANY_SUBMISSIONS = (
    "You have sent several tickets in a short time, so we have paused new tickets from this "
    "connection. Your message is still below: please try again in %(wait)s."
)
MSG_TOO_MANY_LOOKUPS = (
    "Too many status checks did not match a ticket, so checks from this connection are paused. "
    "Please try again in %(wait)s."
)
MSG_NOT_IN_YOUR_DEPARTMENTS = "No ticket with reference %(reference)s in your departments."
MSG_EXPORT_INVALID_FILTERS = (
    "Nothing was exported: the dashboard would not apply these filters. Correct them on the "
    "dashboard, then export again."
)

# References this browser may see on the status page: ones it submitted or proved with the
# email address. Kept in the (server-side) session, so a reference alone shows nothing.
SESSION_VISIBLE = "tickets_visible"
SESSION_SUBMITTED = "tickets_submitted"
_SESSION_KEEP = 20

SUBMIT_TEMPLATE = "tickets/submit.html"
STATUS_LOOKUP_TEMPLATE = "tickets/status_lookup.html"


def _remember(request: HttpRequest, key: str, reference: str, value=True) -> None:
    entries = dict(request.session.get(key, {}))
    entries.pop(reference, None)
    entries[reference] = value
    request.session[key] = dict(list(entries.items())[-_SESSION_KEEP:])


def _too_many(
    request: HttpRequest, template: str, context: dict, limit: RateLimit, message: str
) -> HttpResponse:
    wait = limit.retry_after()
    context = {**context, "rate_limited": message % {"wait": minutes_text(wait)}}
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(wait)
    return response


def _unavailable(
    request: HttpRequest,
    department: Department,
    *,
    what: str,
    exc: Exception,
    unsaved_note: str = "",
) -> HttpResponse:
    logger.warning(
        "department database unavailable",
        extra={"department": department.slug, "error": repr(exc)},
    )
    response = render(
        request,
        "tickets/unavailable.html",
        {"department": department, "what": what, "unsaved_note": unsaved_note},
        status=503,
    )
    response["Retry-After"] = "60"
    return response


# --- Public: submit a ticket ---------------------------------------------------------------------

# Service field names -> form field names, for the rare error only the service catches.
_SERVICE_FIELDS = {"customer_name": "name", "customer_email": "email", "customer_phone": "phone"}


@require_http_methods(["GET", "POST"])
def ticket_submit(request: HttpRequest) -> HttpResponse:
    form = TicketSubmissionForm(request.POST if request.method == "POST" else None)
    if request.method != "POST" or not form.is_valid():
        return render(request, SUBMIT_TEMPLATE, {"form": form})

    data = form.cleaned_data
    department: Department = data["department"]
    sent = {
        "customer_name": data["name"],
        "customer_email": data["email"],
        "customer_phone": data["phone"],
        "subject": data["subject"],
        "message": data["message"],
        "submission_token": data["submission_token"],
    }
    # Staff entering tickets for callers are accountable by name; the limit is for anonymous use.
    limit = None if request.user.is_authenticated else RateLimit.named("ticket-submit")
    reservation = None
    try:
        if limit:
            # The same POST again (a double click, a retry) is answered with the ticket it
            # made: it never counts against the limit, and is not refused while paused.
            earlier = ticket_for_submission(department, **sent)
            if earlier is not None:
                return _submitted(request, earlier)
            # Reserved before the insert, so parallel submissions cannot exceed the limit;
            # given back when no ticket was made.
            reservation = limit.acquire(client_address(request))
            if reservation is None:
                return _too_many(
                    request, SUBMIT_TEMPLATE, {"form": form}, limit, MSG_TOO_MANY_SUBMISSIONS
                )
        ticket = ticket_create(
            department=department,
            actor=Actor.from_user(request.user) if request.user.is_authenticated else CUSTOMER,
            **sent,
        )
    except ValidationError as exc:
        if reservation:
            reservation.release()
        errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
        for field, field_errors in errors.items():
            field = _SERVICE_FIELDS.get(field, field)
            form.add_error(field if field in form.fields else None, field_errors)
        return render(request, SUBMIT_TEMPLATE, {"form": form})
    except DATABASE_ERRORS as exc:
        if reservation:
            reservation.release()
        logger.warning(
            "ticket not saved: department database unavailable",
            extra={"department": department.slug, "error": repr(exc)},
        )
        response = render(
            request, SUBMIT_TEMPLATE, {"form": form, "unavailable": department}, status=503
        )
        response["Retry-After"] = "60"
        return response
    return _submitted(request, ticket)


def _submitted(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    """Remember the ticket for this browser's confirmation and status pages, and go there."""
    _remember(request, SESSION_VISIBLE, ticket.reference)
    _remember(
        request,
        SESSION_SUBMITTED,
        ticket.reference,
        {"email": ticket.customer_email, "subject": ticket.subject},
    )
    return redirect("ticket_submitted", reference=ticket.reference)


def ticket_submitted(request: HttpRequest, reference: str) -> HttpResponse:
    """The confirmation: only for the browser that submitted the ticket."""
    submitted = request.session.get(SESSION_SUBMITTED, {}).get(reference)
    if submitted is None:
        return redirect(_status_lookup_url(reference))
    try:
        department, reference = department_for_reference(reference)
    except InvalidReference:  # its department was removed from the configuration since
        raise Http404("No such ticket") from None
    ticket_url = None
    if request.user.is_authenticated and request.user.can_access(department):
        ticket_url = reverse("ticket_by_reference", args=[reference])
    return render(
        request,
        "tickets/submitted.html",
        {
            "reference": reference,
            "department": department,
            "email": submitted["email"],
            "subject": submitted["subject"],
            "ticket_url": ticket_url,
        },
    )


# --- Public: check status ------------------------------------------------------------------------


def _status_lookup_url(reference: str = "") -> str:
    url = reverse("status_lookup")
    return f"{url}?{urlencode({'reference': reference})}" if reference else url


@require_http_methods(["GET", "POST"])
def status_lookup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        initial = {"reference": request.GET.get("reference", "")[:32]}
        return render(request, STATUS_LOOKUP_TEMPLATE, {"form": StatusLookupForm(initial=initial)})

    form = StatusLookupForm(request.POST)
    if not form.is_valid():
        return render(request, STATUS_LOOKUP_TEMPLATE, {"form": form})
    limit = RateLimit.named("status-miss")
    # Every look is reserved as a miss before looking, so parallel guesses cannot exceed the
    # limit, and while paused even a right guess is not confirmed; a match gives it back.
    reservation = limit.acquire(client_address(request))
    if reservation is None:
        return _too_many(
            request, STATUS_LOOKUP_TEMPLATE, {"form": form}, limit, MSG_TOO_MANY_LOOKUPS
        )

    reference = form.cleaned_data["reference"]
    try:
        found = ticket_find_for_customer(reference=reference, email=form.cleaned_data["email"])
    except DATABASE_ERRORS as exc:
        reservation.release()
        # Only a real department's database can fail, so the code names one.
        department, _ = department_for_reference(reference)
        return _unavailable(request, department, what="check this ticket", exc=exc)
    if found is None:
        return render(request, STATUS_LOOKUP_TEMPLATE, {"form": form, "no_match": MSG_NO_MATCH})
    reservation.release()
    _remember(request, SESSION_VISIBLE, found[1].reference)
    return redirect("status_detail", reference=found[1].reference)


def status_detail(request: HttpRequest, reference: str) -> HttpResponse:
    if reference not in request.session.get(SESSION_VISIBLE, {}):
        return redirect(_status_lookup_url(reference))
    try:
        department, reference = department_for_reference(reference)
    except InvalidReference:  # a department removed from the configuration since
        raise Http404("No such ticket") from None
    try:
        found = ticket_find_by_reference(reference)
        if found is None:
            raise Http404("No such ticket")
        ticket = found[1]
        history = ticket_customer_history(department, ticket)
    except DATABASE_ERRORS as exc:
        return _unavailable(request, department, what="show this ticket", exc=exc)
    return render(
        request,
        "tickets/status_detail.html",
        {"ticket": ticket, "department": department, "history": history},
    )


# --- Staff: one ticket ---------------------------------------------------------------------------


def _staff_department(user, slug: str) -> Department:
    """The department if it exists and ``user`` works in it; otherwise 404, never 403.

    A 403 would confirm that the other department's ticket exists.
    """
    try:
        department = get_department(slug)
    except UnknownDepartment:
        raise Http404("No such department") from None
    if not user.can_access(department):
        raise Http404("No such ticket")
    return department


def _update_form(ticket: Ticket, department: Department, *, data=None, initial=None):
    current = users_by_id([ticket.assignee_id]).get(ticket.assignee_id)
    return TicketUpdateForm(
        data,
        initial=initial or TicketUpdateForm.initial_for(ticket),
        staff=staff_for_department(department),
        current_assignee=current,
    )


def _unsaved_choices(data: dict, latest: Ticket) -> list[str]:
    """What the person chose that the latest version does not have, to choose again."""
    lost = []
    if data["status"] != latest.status:
        lost.append(f"status {Status(data['status']).label}")
    if data["priority"] != latest.priority:
        lost.append(f"priority {Priority(data['priority']).label}")
    assignee = data["assignee"]
    if (assignee.pk if assignee else None) != latest.assignee_id:
        lost.append(f"assigned to {Actor.from_user(assignee).name}" if assignee else "unassigned")
    return lost


def _saved_summary(before: Ticket, after: Ticket, note: str) -> str:
    parts = []
    if before.status != after.status:
        parts.append(f"status is now {after.get_status_display()}")
    if before.priority != after.priority:
        parts.append(f"priority is now {after.get_priority_display()}")
    if before.assignee_id != after.assignee_id:
        parts.append("assignee changed" if after.assignee_id else "ticket unassigned")
    if note:
        parts.append("note added")
    return f"Saved {after.reference}: " + ", ".join(parts) + "."


def _load_detail(department: Department, ticket_id: int) -> selectors.TicketDetail:
    try:
        return selectors.ticket_detail(department, ticket_id)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket") from None


@login_required
@require_http_methods(["GET", "POST"])
def ticket_detail(request: HttpRequest, department: str, ticket_id: int) -> HttpResponse:
    dept = _staff_department(request.user, department)
    posted = request.POST if request.method == "POST" else None
    # If the database fails before the form can be shown again, the note is handed back.
    unsaved_note = (posted or {}).get("note", "")[: forms.NOTE_MAX]
    try:
        detail = _load_detail(dept, ticket_id)
    except DATABASE_ERRORS as exc:
        return _unavailable(
            request, dept, what="open this ticket", exc=exc, unsaved_note=unsaved_note
        )
    form = _update_form(detail.ticket, dept, data=posted)
    status = 200
    conflict: list[str] | None = None
    save_failed = False
    if posted is not None and form.is_valid():
        data = form.cleaned_data
        try:
            updated = ticket_update(
                department=dept,
                ticket_id=detail.ticket.pk,
                expected_version=data["version"],
                actor=Actor.from_user(request.user),
                status=data["status"],
                priority=data["priority"],
                assignee=data["assignee"],
                unassign=data["assignee"] is None,
                note=data["note"],
            )
        except TicketConflict:
            # Show the latest version, and start the form from it so that saving again cannot
            # undo the other person's change by accident. The typed note stays.
            try:
                detail = _load_detail(dept, ticket_id)
            except DATABASE_ERRORS as exc:
                return _unavailable(
                    request, dept, what="open this ticket", exc=exc, unsaved_note=unsaved_note
                )
            conflict = _unsaved_choices(data, detail.ticket)
            form = _update_form(
                detail.ticket,
                dept,
                initial=TicketUpdateForm.initial_for(detail.ticket, note=data["note"]),
            )
            status = 409
        except Ticket.DoesNotExist:
            raise Http404("No such ticket") from None
        except ValidationError as exc:
            form.add_error(None, exc)
        except DATABASE_ERRORS as exc:
            # The page was read a moment ago; show it with the form as typed.
            logger.warning(
                "ticket not saved: department database unavailable",
                extra={"department": dept.slug, "error": repr(exc)},
            )
            save_failed = True
            status = 503
        else:
            messages.success(request, _saved_summary(detail.ticket, updated, data["note"]))
            return redirect(ticket_url(dept, updated))
    ticket = detail.ticket
    response = render(
        request,
        "tickets/detail.html",
        {
            "department": dept,
            "ticket": ticket,
            "notes": detail.notes,
            "events": detail.events,
            "assignee": users_by_id([ticket.assignee_id]).get(ticket.assignee_id),
            "form": form,
            "conflict": conflict,
            "stale_message": MSG_STALE,
            "save_failed": save_failed,
        },
        status=status,
    )
    if save_failed:
        response["Retry-After"] = "60"
    return response


def ticket_url(department: Department, ticket: Ticket) -> str:
    return reverse("ticket_detail", args=[department.slug, ticket.pk])


def _open_reference(request: HttpRequest, reference: str) -> HttpResponse | None:
    """Redirect to the ticket if it exists in one of the user's departments, else None."""
    department, reference = department_for_reference(reference)
    # Decided from the code alone: no query ever reaches a department the user is not in.
    if not request.user.can_access(department):
        return None
    try:
        found = ticket_find_by_reference(reference)
    except DATABASE_ERRORS as exc:
        return _unavailable(request, department, what="open this ticket", exc=exc)
    return redirect(ticket_url(*found)) if found else None


@login_required
def ticket_by_reference(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        response = _open_reference(request, reference)
    except InvalidReference:
        response = None
    if response is None:
        raise Http404("No such ticket")
    return response


@login_required
def ticket_find(request: HttpRequest) -> HttpResponse:
    """The header's "open a reference" box: straight to the ticket, or say why not."""
    form = FindTicketForm(request.GET or None)
    status = 200
    not_found = ""
    if form.is_valid():
        reference = form.cleaned_data["reference"]
        try:
            response = _open_reference(request, reference)
        except InvalidReference:  # shaped right, but no department has that code
            response = None
        if response is not None:
            return response
        not_found = MSG_NOT_IN_YOUR_DEPARTMENTS % {"reference": reference}
        status = 404
    return render(
        request, "tickets/find.html", {"form": form, "not_found": not_found}, status=status
    )


# --- Staff: overview -----------------------------------------------------------------------------


# --- Staff: the aggregated dashboard -------------------------------------------------------------

EXPORT_BATCH = 1000
# Spreadsheets run cells that start like a formula; a leading apostrophe keeps them text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
            "page_size": filterset.page_size(),
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
        "position_reset": MSG_POSITION_RESET if table.paginator.position_reset else "",
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
def dashboard_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The current filtered, sorted view as CSV, streamed one keyset batch at a time.

    The rows are the dashboard's for the same query string: filters the dashboard would not
    apply are a 400 page naming them, never an export of more than the user asked for.
    """
    filterset, data, table = _dashboard_parts(request)
    problems = filterset.problems()
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
