"""The failed-email page under /manage/: list what the sender gave up on, and retry it."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from departments.errors import DepartmentUnavailable
from tickets.mail.delivery import outbox_retry
from tickets.mail.failed import failed_mail


@require_http_methods(["GET", "HEAD", "POST"])
def outbox_failed(request: HttpRequest) -> HttpResponse:
    # Only the departments this person works in: rows name customers and their addresses.
    departments = {d.slug: d for d in request.user.departments()}
    if request.method == "POST":
        return _retry(request, departments)
    context = {
        **admin.site.each_context(request),
        "title": "Failed email",
        "groups": failed_mail(departments.values()),
        "max_attempts": settings.HELPDESK_OUTBOX_MAX_ATTEMPTS,
    }
    return render(request, "admin/outbox_failed.html", context)


def _retry(request: HttpRequest, departments) -> HttpResponseRedirect:
    here = HttpResponseRedirect(reverse("admin:outbox_failed"))
    department = departments.get(request.POST.get("department", ""))
    if department is None:
        messages.error(request, "Choose a department you work in.")
        return here
    if request.POST.get("action") == "all":
        [group] = failed_mail([department])
        ids = [row.pk for row in group.rows]
    else:
        ids = [int(v) for v in request.POST.getlist("id") if v.isascii() and v.isdigit()]
        ids = [i for i in ids if i < 2**63]
    if not ids:
        messages.warning(request, "Nothing was selected.")
        return here
    try:
        count = outbox_retry(department=department, ids=ids)
    except DepartmentUnavailable:
        messages.error(request, f"The {department.label} database is unavailable; try again later.")
        return here
    messages.success(request, f"{count} email{'s' if count != 1 else ''} will be sent again.")
    return here


admin.site.register_page(
    "outbox/failed/", outbox_failed, name="outbox_failed", title="Failed email"
)
