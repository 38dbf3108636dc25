"""Downloads, checked exactly like the page the file is on: staff through the ticket's
department (another department's file is the same 404 as its ticket), customers only through
their signed link and only files of their own or public messages.

Every file is sent as a download with its detected type and ``nosniff``; only raster images
(``?inline=1``, the thumbnails) are ever shown in the page, never HTML, SVG or anything
scriptable.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from departments.registry import Department
from tickets.attachments.detection import INLINE_TYPES
from tickets.attachments.selectors import attachment_for_customer, attachment_for_staff
from tickets.attachments.storage import storage_for
from tickets.mail.addresses import BadLink
from tickets.models import Attachment
from tickets.views.customer import _ticket_for_link
from tickets.views.staff import _staff_department

logger = logging.getLogger(__name__)

UNAVAILABLE_TEMPLATE = "tickets/attachment_unavailable.html"


def _file_response(request: HttpRequest, department: Department, attachment: Attachment):
    inline = request.GET.get("inline") == "1" and attachment.content_type in INLINE_TYPES
    try:
        stream = storage_for(department).open(attachment.storage_key, "rb")
    except FileNotFoundError:
        missing = True
    except Exception:  # the storage is down or refused: say so, do not pretend it is gone
        logger.warning(
            "attachment not read: storage failed",
            exc_info=True,
            extra={"department": department.slug, "key": attachment.storage_key},
        )
        missing = False
    else:
        response = FileResponse(
            stream,
            as_attachment=not inline,
            filename=attachment.name,
            content_type=attachment.content_type,
        )
        # Where the server cannot sendfile (runserver, S3 objects), stream in larger reads.
        response.block_size = 64 * 1024
        response["Content-Length"] = str(attachment.size)
        response["X-Content-Type-Options"] = "nosniff"
        # Should anything ever render it anyway: no scripts, no plugins, no same origin.
        response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
        return response
    if missing:
        logger.error(
            "attachment row without its object",
            extra={"department": department.slug, "key": attachment.storage_key},
        )
    response = render(
        request,
        UNAVAILABLE_TEMPLATE,
        {"attachment": attachment, "missing": missing},
        status=404 if missing else 503,
    )
    if not missing:
        response["Retry-After"] = "60"
    return response


@login_required
@require_GET
def attachment_staff(
    request: HttpRequest, department: str, ticket_id: int, attachment_id: int
) -> HttpResponse:
    dept = _staff_department(request.user, department)
    try:
        attachment = attachment_for_staff(dept, ticket_id=ticket_id, attachment_id=attachment_id)
    except Attachment.DoesNotExist:
        raise Http404("No such file") from None
    return _file_response(request, dept, attachment)


@require_GET
def attachment_customer(request: HttpRequest, token: str, attachment_id: int) -> HttpResponse:
    try:
        found = _ticket_for_link(token)
    except BadLink:  # expired links too (ExpiredLink is a BadLink): the page explains those
        found = None
    if found is None:
        raise Http404("No such file")
    department, ticket = found
    try:
        attachment = attachment_for_customer(department, ticket=ticket, attachment_id=attachment_id)
    except Attachment.DoesNotExist:
        raise Http404("No such file") from None
    return _file_response(request, department, attachment)
