"""Email providers' inbound webhooks (django-anymail, ``/anymail/<esp>/inbound/``): each
received email goes through the same ``tickets.mail.inbound`` service as ``ingest_email``.

anymail checks the shared secret (``ANYMAIL_WEBHOOK_SECRET``, HTTP basic auth) before the
signal is sent; without a secret the webhooks do not exist (404). A department database that
is down answers 503 (``departments.middleware``), so the provider delivers the email again
later; every other outcome answers 200, because the same email again would give the same
outcome, and a payload anymail cannot read is a 400, not a 500 the provider would retry.
"""

from __future__ import annotations

import functools
import io
import logging
from email import policy

from anymail import urls as anymail_urls
from anymail.signals import AnymailInboundEvent, inbound
from django.conf import settings
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern
from django.views.decorators.csrf import csrf_exempt

from departments.errors import DepartmentUnavailable
from tickets.mail.inbound import Kind, Outcome, ingest_email, log

WHAT = "take in an email"
logger = logging.getLogger(__name__)
# What anymail's parsers raise on a payload that is not the provider's format.
_UNREADABLE_PAYLOAD = (ValueError, KeyError, TypeError, AttributeError, IndexError)


class TakeInFailed(Exception):
    """Our side failed to take in a readable email: the provider must deliver it again."""


def _body_limit() -> int:
    # A payload carries the email base64-encoded (4/3 of its size) with some JSON around it.
    return settings.HELPDESK_INBOUND_MAX_BYTES * 4 // 3 + 1024 * 1024


def _read_body(request: HttpRequest) -> bool:
    """Read the body under the inbound email limit instead of Django's form limit
    (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB): a 3 MB attachment must not be refused with a 400,
    which tells the provider to drop the email. False: larger than the limit."""
    limit = _body_limit()
    body = request.read(limit + 1)
    if len(body) > limit:
        return False
    request._body = body  # what request.body returns; the form parser reads it from here
    request._stream = io.BytesIO(body)
    return True


def _guarded(view):
    @csrf_exempt
    @functools.wraps(view)
    def webhook(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            # anymail would only warn; an open endpoint would let anyone post mail as anyone.
            raise Http404("Inbound email webhooks are off until ANYMAIL_WEBHOOK_SECRET is set.")
        if request.method == "POST" and not _read_body(request):
            return HttpResponse("Email larger than this help desk accepts.", status=413)
        try:
            return view(request, *args, **kwargs)
        except TakeInFailed:
            # Not the payload's fault: 503, so the provider delivers it again later.
            response = HttpResponse("Could not take in the email now; retry later.", status=503)
            response["Retry-After"] = "60"
            return response
        except _UNREADABLE_PAYLOAD as exc:
            logger.warning("unreadable inbound webhook payload", extra={"error": repr(exc)})
            return HttpResponseBadRequest("Unreadable inbound email payload.")

    return webhook


def inbound_urlpatterns() -> list[URLPattern]:
    """anymail's inbound webhook URLs (``<esp>/inbound/``), each behind the secret check.
    Its tracking webhooks are not included: nothing here reads delivery events."""
    return [
        URLPattern(entry.pattern, _guarded(entry.callback), entry.default_args, entry.name)
        for entry in anymail_urls.urlpatterns
        if isinstance(entry, URLPattern) and str(entry.name).endswith("_inbound_webhook")
    ]


@receiver(inbound, dispatch_uid="tickets.mail.webhooks.take_in")
def take_in(sender, event: AnymailInboundEvent, esp_name: str, **kwargs) -> Outcome:
    message = event.message
    try:
        # anymail parsed it with the modern policy; the service reads the bytes leniently,
        # exactly as if a mail server had piped them.
        raw = message.as_bytes(policy=policy.compat32)
    except Exception:  # a message the generator cannot write is one the service rejects
        raw = b""
    recipient = getattr(message, "envelope_recipient", None)
    try:
        outcome = ingest_email(
            raw,
            envelope_recipients=[recipient] if recipient else [],
            envelope_sender=getattr(message, "envelope_sender", None),
        )
    except Exception as exc:
        # A failure of ours (a bug, the cache or the system database down) must not look like
        # an unreadable payload (400: the provider would drop the email).
        logger.exception("inbound email not taken in")
        raise TakeInFailed(str(exc)) from exc
    log(outcome)
    if outcome.kind == Kind.DEFERRED:
        if outcome.department is None:
            raise TakeInFailed(outcome.reason)
        raise DepartmentUnavailable(outcome.department, what=WHAT)
    return outcome
