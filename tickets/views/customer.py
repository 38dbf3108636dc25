"""The customer's ticket page, opened by the signed link in every email (or after proving the
ticket with its reference and email address on /status/): the public thread and a reply form.
No account: the token is bound to the reference and the address, and expires.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.ratelimit import RateLimit, client_address, minutes_text
from departments.errors import DepartmentUnavailable
from departments.registry import Department
from tickets import forms
from tickets.attachments.batch import AttachmentsUnavailable, attachments_stored
from tickets.conversation import TicketClosed, customer_link_send, customer_reply, dedupe_key
from tickets.forms import CustomerReplyForm, LinkRequestForm
from tickets.mail.addresses import BadLink, ExpiredLink, read_customer_link
from tickets.models import Channel, Status, Ticket
from tickets.references import InvalidReference, department_for_reference
from tickets.selectors import (
    message_with_key,
    ticket_customer_files,
    ticket_customer_history,
    ticket_find_by_reference,
    ticket_find_for_customer,
    ticket_public_thread,
)
from tickets.views.common import too_many

logger = logging.getLogger(__name__)

TICKET_TEMPLATE = "tickets/customer_ticket.html"
BAD_LINK_TEMPLATE = "tickets/customer_link_invalid.html"
LINK_REQUEST_TEMPLATE = "tickets/customer_link_request.html"

MSG_REPLY_SENT = "Your reply was added to %(reference)s. We will answer by email."
MSG_TOO_MANY_REPLIES = (
    "You have sent several replies in a short time, so replies from this connection are paused. "
    "Your reply is still below: please send it again in %(wait)s."
)
MSG_TOO_MANY_LINK_REQUESTS = (
    "Too many link requests from this connection, so they are paused. Please try again in %(wait)s."
)


def _ticket_for_link(token: str) -> tuple[Department, Ticket] | None:
    """The ticket a link opens, or None when the link is not (or no longer) good for one.

    An unknown reference and another address look the same as a forged token, so a link
    reveals nothing it was not made for.
    """
    link = read_customer_link(token)
    try:
        department, reference = department_for_reference(link.reference)
    except InvalidReference:  # its department was removed from the configuration
        return None
    found = ticket_find_by_reference(reference, what="show your ticket")
    if found is None or found[1].customer_email.strip().casefold() != link.email:
        return None
    return department, found[1]


def _bad_link(request: HttpRequest, *, expired: bool) -> HttpResponse:
    return render(
        request,
        BAD_LINK_TEMPLATE,
        {
            "expired": expired,
            "form": LinkRequestForm(),
            "link_days": settings.HELPDESK_CUSTOMER_LINK_DAYS,
        },
        status=410 if expired else 404,
    )


@require_http_methods(["GET", "POST"])
def customer_ticket(request: HttpRequest, token: str) -> HttpResponse:
    try:
        return _customer_ticket(request, token)
    except DepartmentUnavailable as exc:
        # The database failed before the form could be shown again: the reply is handed back.
        exc.unsaved_note = request.POST.get("body", "")[: forms.NOTE_MAX]
        raise


def _customer_ticket(request: HttpRequest, token: str) -> HttpResponse:
    try:
        found = _ticket_for_link(token)
    except ExpiredLink:
        return _bad_link(request, expired=True)
    except BadLink:
        return _bad_link(request, expired=False)
    if found is None:
        return _bad_link(request, expired=False)
    department, ticket = found

    posted = request.method == "POST"
    form = CustomerReplyForm(request.POST if posted else None, request.FILES if posted else None)
    status = 200
    context: dict = {}
    if request.method == "POST" and form.is_valid():
        response = _reply(request, department, ticket, form, context)
        if response is not None:
            return response
        status = context.pop("status")
    context.update(
        {
            "ticket": ticket,
            "department": department,
            "thread": ticket_public_thread(department, ticket),
            "first_files": ticket_customer_files(department, ticket),
            "link_token": token,
            "history": ticket_customer_history(department, ticket),
            "form": form,
            "closed": ticket.status == Status.CLOSED,
        }
    )
    response = render(request, TICKET_TEMPLATE, context, status=status)
    if status == 503:
        response["Retry-After"] = "60"
    elif status == 429:
        response["Retry-After"] = str(RateLimit.named("customer-reply").retry_after())
    return response


def _reply(
    request: HttpRequest, department: Department, ticket: Ticket, form, context: dict
) -> HttpResponse | None:
    """Add the reply and redirect; or fill ``context`` (with its "status") to show the page
    again with the reply as typed."""
    body = form.cleaned_data["body"]
    token = form.cleaned_data["reply_token"]
    uploads = form.cleaned_data["attachments"]
    # One token, one text, the same files: a double click or a resent POST adds the reply once.
    files = [part for upload in uploads for part in upload.identity]
    key = dedupe_key("web", ticket.reference, token, body.strip(), *files) if token else None
    # A reply already saved is answered as saved before the limit is asked, as the ticket form
    # does: a repeat neither counts nor is refused.
    if key and message_with_key(department, key) is not None:
        messages.success(request, MSG_REPLY_SENT % {"reference": ticket.reference})
        return redirect(request.path)
    limit = RateLimit.named("customer-reply")
    reservation = limit.acquire(client_address(request))
    if reservation is None:
        context["rate_limited"] = MSG_TOO_MANY_REPLIES % {"wait": minutes_text(limit.retry_after())}
        context["status"] = 429
        return None
    try:
        with attachments_stored(department, uploads) as batch:
            customer_reply(
                department=department,
                ticket_id=ticket.pk,
                body=body,
                channel=Channel.WEB,
                key=key,
                attachments=batch,
            )
    except AttachmentsUnavailable:
        reservation.release()
        context["files_unavailable"] = True
        context["status"] = 503
        return None
    except TicketClosed:
        reservation.release()
        # Closed meanwhile: the text is handed back to copy into a new ticket.
        context["unsent_reply"] = body
        context["status"] = 409
        return None
    except DepartmentUnavailable as exc:
        reservation.release()
        logger.warning(
            "customer reply not saved: department database unavailable",
            extra={"department": department.slug, "error": repr(exc.__cause__)},
        )
        context["unavailable"] = True
        context["status"] = 503
        return None
    messages.success(request, MSG_REPLY_SENT % {"reference": ticket.reference})
    return redirect(request.path)


@require_http_methods(["GET", "POST"])
def customer_link_request(request: HttpRequest) -> HttpResponse:
    """Ask for a fresh link by email. The answer is the same whether or not the reference and
    address match a ticket, so this page cannot be used to find out either."""
    if request.method != "POST":
        return render(request, LINK_REQUEST_TEMPLATE, {"form": LinkRequestForm()})
    form = LinkRequestForm(request.POST)
    if not form.is_valid():
        return render(request, LINK_REQUEST_TEMPLATE, {"form": form})
    limit = RateLimit.named("link-request")
    if limit.acquire(client_address(request)) is None:
        return too_many(
            request, LINK_REQUEST_TEMPLATE, {"form": form}, limit, MSG_TOO_MANY_LINK_REQUESTS
        )
    found = ticket_find_for_customer(
        reference=form.cleaned_data["reference"], email=form.cleaned_data["email"]
    )
    if found is not None:
        customer_link_send(department=found[0], ticket=found[1])
    return render(
        request,
        LINK_REQUEST_TEMPLATE,
        {"sent_to": form.cleaned_data["email"], "form": LinkRequestForm()},
    )
