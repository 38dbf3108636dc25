"""Public pages: submit a ticket, its confirmation, and checking a ticket's status.

A department database that is down while submitting shows the form again with everything
typed (503); elsewhere ``DepartmentUnavailable`` becomes the 503 page (departments.middleware).
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from accounts.ratelimit import RateLimit, client_address
from departments.errors import DepartmentUnavailable
from departments.registry import Department
from tickets.attachments.batch import AttachmentsUnavailable, attachments_stored
from tickets.forms import StatusLookupForm, TicketSubmissionForm
from tickets.mail.addresses import customer_link_path
from tickets.models import Ticket
from tickets.references import InvalidReference, department_for_reference
from tickets.selectors import (
    ticket_find_by_reference,
    ticket_find_for_customer,
    ticket_for_submission,
)
from tickets.services import CUSTOMER, Actor, ticket_create
from tickets.views.common import SESSION_SUBMITTED, SESSION_VISIBLE, remember, too_many

logger = logging.getLogger(__name__)

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
SUBMIT_TEMPLATE = "tickets/submit.html"
STATUS_LOOKUP_TEMPLATE = "tickets/status_lookup.html"


# Service field names -> form field names, for the rare error only the service catches.
_SERVICE_FIELDS = {"customer_name": "name", "customer_email": "email", "customer_phone": "phone"}


@require_http_methods(["GET", "POST"])
def ticket_submit(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(
            request, SUBMIT_TEMPLATE, {"form": TicketSubmissionForm(initial=_follow_up(request))}
        )
    form = TicketSubmissionForm(request.POST, request.FILES)
    if not form.is_valid():
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
    uploads = data["attachments"]
    # Staff entering tickets for callers are accountable by name; the limit is for anonymous use.
    limit = None if request.user.is_authenticated else RateLimit.named("ticket-submit")
    reservation = None
    try:
        if limit:
            # The same POST again (a double click, a retry) is answered with the ticket it
            # made: it never counts against the limit, and is not refused while paused.
            earlier = ticket_for_submission(department, attachments=uploads, **sent)
            if earlier is not None:
                return _submitted(request, earlier)
            # Reserved before the insert, so parallel submissions cannot exceed the limit;
            # given back when no ticket was made.
            reservation = limit.acquire(client_address(request))
            if reservation is None:
                return too_many(
                    request, SUBMIT_TEMPLATE, {"form": form}, limit, MSG_TOO_MANY_SUBMISSIONS
                )
        # The confirmation repeats what was typed to the address typed: without a limit per
        # recipient, the form would mail anyone anything from our domain (relay spam). Past
        # it the ticket is still made, only not confirmed by email. Counted, never given back.
        confirm = True
        if limit:
            confirmations = RateLimit.named("email-confirmation")
            confirm = confirmations.acquire(data["email"].strip().casefold()) is not None
        # Stored before the ticket's transaction, removed again if it does not commit.
        with attachments_stored(department, uploads) as batch:
            ticket = ticket_create(
                department=department,
                actor=Actor.from_user(request.user) if request.user.is_authenticated else CUSTOMER,
                attachments=batch,
                confirm=confirm,
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
    except DepartmentUnavailable as exc:
        if reservation:
            reservation.release()
        logger.warning(
            "ticket not saved: department database unavailable",
            extra={"department": department.slug, "error": repr(exc.__cause__)},
        )
        response = render(
            request, SUBMIT_TEMPLATE, {"form": form, "unavailable": department}, status=503
        )
        response["Retry-After"] = "60"
        return response
    except AttachmentsUnavailable:
        if reservation:
            reservation.release()
        response = render(
            request, SUBMIT_TEMPLATE, {"form": form, "files_unavailable": True}, status=503
        )
        response["Retry-After"] = "60"
        return response
    return _submitted(request, ticket)


def _follow_up(request: HttpRequest) -> dict:
    """``?follow_up=BIL-7K3F9Q`` (from a closed ticket's page): the new ticket names the old
    one and goes to its department. Anything else in the parameter is ignored."""
    try:
        department, reference = department_for_reference(request.GET.get("follow_up", "")[:32])
    except InvalidReference:
        return {}
    return {"department": department.slug, "subject": f"Follow-up to {reference}"}


def _submitted(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    """Remember the ticket for this browser's confirmation and status pages, and go there."""
    remember(request, SESSION_VISIBLE, ticket.reference)
    remember(
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
        return too_many(
            request, STATUS_LOOKUP_TEMPLATE, {"form": form}, limit, MSG_TOO_MANY_LOOKUPS
        )

    reference = form.cleaned_data["reference"]
    try:
        found = ticket_find_for_customer(reference=reference, email=form.cleaned_data["email"])
    except DepartmentUnavailable:
        reservation.release()  # nothing was learnt: not a miss
        raise
    if found is None:
        return render(request, STATUS_LOOKUP_TEMPLATE, {"form": form, "no_match": MSG_NO_MATCH})
    reservation.release()
    remember(request, SESSION_VISIBLE, found[1].reference)
    # The same page as the link in the emails, with a fresh link bound to this address.
    return redirect(customer_link_path(found[1].reference, found[1].customer_email))


def status_detail(request: HttpRequest, reference: str) -> HttpResponse:
    """The confirmation's "follow your ticket" link: this browser submitted the ticket (or
    proved it), so it is sent on to the customer's page; anyone else proves it first."""
    if reference not in request.session.get(SESSION_VISIBLE, {}):
        return redirect(_status_lookup_url(reference))
    try:
        _, reference = department_for_reference(reference)
    except InvalidReference:  # a department removed from the configuration since
        raise Http404("No such ticket") from None
    found = ticket_find_by_reference(reference, what="show this ticket")
    if found is None:
        raise Http404("No such ticket")
    return redirect(customer_link_path(found[1].reference, found[1].customer_email))
