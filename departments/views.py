from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from departments.health import as_json, health_report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the system database and every department are reachable and migrated, else 503."""
    body = as_json(health_report())
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
