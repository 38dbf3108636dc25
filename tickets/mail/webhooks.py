"""Email providers' inbound webhooks (django-anymail, ``/anymail/<esp>/inbound/``): each
received email goes through the same ``tickets.mail.inbound`` service as ``ingest_email``.

anymail checks the shared secret (``ANYMAIL_WEBHOOK_SECRET``, HTTP basic auth) before the
signal is sent. A department database that is down answers 503 (``departments.middleware``),
so the provider delivers the email again later; every other outcome answers 200, because
sending the same email again would give the same outcome.
"""

from __future__ import annotations

from email import policy

from anymail.signals import AnymailInboundEvent, inbound
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import receiver

from departments.errors import DepartmentUnavailable
from tickets.mail.inbound import Kind, Outcome, ingest_email, log

WHAT = "take in an email"


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
    outcome = ingest_email(
        raw,
        envelope_recipients=[recipient] if recipient else [],
        envelope_sender=getattr(message, "envelope_sender", None),
    )
    log(outcome)
    if outcome.kind == Kind.DEFERRED:
        if outcome.department is None:
            raise ImproperlyConfigured(outcome.reason)
        raise DepartmentUnavailable(outcome.department, what=WHAT)
    return outcome
