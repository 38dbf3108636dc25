"""/healthz: the overall status for anyone, the per-database detail for operators."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.db import DatabaseError, InterfaceError
from django.http import HttpRequest, JsonResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from departments.health import as_json, as_public_json, health_report

logger = logging.getLogger(__name__)

HEALTHZ_TOKEN_HEADER = "X-Healthz-Token"
_BEARER = "Bearer "


def _presented_token(request: HttpRequest) -> str:
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith(_BEARER):
        return authorization.removeprefix(_BEARER).strip()
    return request.headers.get(HEALTHZ_TOKEN_HEADER, "").strip()


def _has_token(request: HttpRequest) -> bool:
    configured = settings.HELPDESK_HEALTHZ_TOKEN
    presented = _presented_token(request)
    # No token configured means no token access: an empty header must not match an empty setting.
    if not configured or not presented:
        return False
    return secrets.compare_digest(presented.encode(), configured.encode())


def _is_superadmin(request: HttpRequest) -> bool:
    try:
        return request.user.is_authenticated and request.user.is_superadmin
    except (DatabaseError, InterfaceError) as exc:
        # Sessions and staff live in the system database: when it is the thing that is down,
        # the probe must still answer (with the public status), not fail with a 500.
        logger.warning("healthz could not read the session", extra={"error": repr(exc)})
        return False


@never_cache
@require_safe  # GET, and HEAD for load balancers that probe with it
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the system database and every department are reachable and migrated, else 503.

    Only the status for the public; the per-database report with the configured token or for a
    signed-in superadmin.
    """
    report = health_report()
    # The token first: it needs no database, so a probe with it never touches the session.
    detail = _has_token(request) or _is_superadmin(request)
    body = as_json(report) if detail else as_public_json(report)
    response = JsonResponse(body, status=200 if body["status"] == "ok" else 503)
    patch_vary_headers(response, ["Authorization", HEALTHZ_TOKEN_HEADER, "Cookie"])
    return response
