"""The one place a department outage becomes a page: 503, naming the department, nothing lost."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from departments.errors import DepartmentUnavailable

logger = logging.getLogger(__name__)
UNAVAILABLE_TEMPLATE = "unavailable.html"


class DepartmentUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, DepartmentUnavailable):
            return None
        logger.warning(
            "department database unavailable",
            extra={"department": exc.department.slug, "error": repr(exc.__cause__)},
        )
        response = render(
            request,
            UNAVAILABLE_TEMPLATE,
            {"department": exc.department, "what": exc.what, "unsaved_note": exc.unsaved_note},
            status=503,
        )
        response["Retry-After"] = "60"
        return response
