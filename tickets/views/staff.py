"""Staff pages for one ticket: read and work it, open one by reference."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.selectors import staff_for_department, users_by_id
from departments.errors import DepartmentUnavailable
from departments.registry import Department, UnknownDepartment, get_department
from tickets import forms, selectors
from tickets.attachments.batch import AttachmentsUnavailable, attachments_stored
from tickets.forms import FindTicketForm, TicketUpdateForm
from tickets.models import Priority, Status, Ticket
from tickets.references import InvalidReference, department_for_reference
from tickets.selectors import ticket_find_by_reference
from tickets.services import MSG_STALE, Actor, TicketConflict, ticket_update

logger = logging.getLogger(__name__)

MSG_NOT_IN_YOUR_DEPARTMENTS = "No ticket with reference %(reference)s in your departments."


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


def _update_form(ticket: Ticket, department: Department, *, data=None, files=None, initial=None):
    current = users_by_id([ticket.assignee_id]).get(ticket.assignee_id)
    return TicketUpdateForm(
        data,
        files,
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


def _saved_summary(before: Ticket, after: Ticket, note: str, reply: str) -> str:
    parts = []
    if reply:
        parts.append(f"reply sent to {after.customer_email}")
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
    try:
        return _work_ticket(request, dept, ticket_id)
    except DepartmentUnavailable as exc:
        # If the database fails before the form can be shown again, the note is handed back.
        exc.unsaved_note = request.POST.get("body", "")[: forms.NOTE_MAX]
        raise


def _work_ticket(request: HttpRequest, dept: Department, ticket_id: int) -> HttpResponse:
    posted = request.POST if request.method == "POST" else None
    detail = _load_detail(dept, ticket_id)
    form = _update_form(
        detail.ticket, dept, data=posted, files=request.FILES if posted is not None else None
    )
    status = 200
    conflict: list[str] | None = None
    save_failed = files_failed = False
    if posted is not None and form.is_valid():
        data = form.cleaned_data
        try:
            # The files' bytes are stored first and removed again if the save fails.
            with attachments_stored(dept, data["attachments"]) as batch:
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
                    reply=data["reply"],
                    attachments=batch,
                )
        except TicketConflict:
            # Show the latest version, and start the form from it so that saving again cannot
            # undo the other person's change by accident. The typed text stays, and nothing
            # was sent: the person reads the latest thread before sending again.
            detail = _load_detail(dept, ticket_id)
            conflict = _unsaved_choices(data, detail.ticket)
            chosen = form.chosen_files
            form = _update_form(
                detail.ticket,
                dept,
                initial=TicketUpdateForm.initial_for(detail.ticket, body=data["body"]),
            )
            form.chosen_files = chosen  # not kept by the browser: asked for again
            status = 409
        except Ticket.DoesNotExist:
            raise Http404("No such ticket") from None
        except ValidationError as exc:
            form.add_error(None, exc)
        except DepartmentUnavailable as exc:
            # The page was read a moment ago; show it with the form as typed.
            logger.warning(
                "ticket not saved: department database unavailable",
                extra={"department": dept.slug, "error": repr(exc.__cause__)},
            )
            save_failed = True
            status = 503
        except AttachmentsUnavailable:
            files_failed = True
            status = 503
        else:
            messages.success(
                request, _saved_summary(detail.ticket, updated, data["note"], data["reply"])
            )
            return redirect(ticket_url(dept, updated))
    ticket = detail.ticket
    response = render(
        request,
        "tickets/detail.html",
        {
            "department": dept,
            "ticket": ticket,
            "thread": detail.messages,
            "first_files": detail.files,
            "events": detail.events,
            "assignee": users_by_id([ticket.assignee_id]).get(ticket.assignee_id),
            "form": form,
            "conflict": conflict,
            "stale_message": MSG_STALE,
            "save_failed": save_failed,
            "files_unavailable": files_failed,
        },
        status=status,
    )
    if save_failed or files_failed:
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
    found = ticket_find_by_reference(reference)
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
