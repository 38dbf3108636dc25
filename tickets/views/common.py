"""What the ticket views share: session bookkeeping and the rate-limited answer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.ratelimit import RateLimit, minutes_text

# References this browser may see on the status page: ones it submitted or proved with the
# email address. Kept in the (server-side) session, so a reference alone shows nothing.
SESSION_VISIBLE = "tickets_visible"
SESSION_SUBMITTED = "tickets_submitted"
_SESSION_KEEP = 20


def remember(request: HttpRequest, key: str, reference: str, value=True) -> None:
    entries = dict(request.session.get(key, {}))
    entries.pop(reference, None)
    entries[reference] = value
    request.session[key] = dict(list(entries.items())[-_SESSION_KEEP:])


def too_many(
    request: HttpRequest, template: str, context: dict, limit: RateLimit, message: str
) -> HttpResponse:
    """429 with the form as typed and how long to wait."""
    wait = limit.retry_after()
    context = {**context, "rate_limited": message % {"wait": minutes_text(wait)}}
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(wait)
    return response
