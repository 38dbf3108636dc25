"""Jinja2 at run time: moments as the dashboard shows them, and the form renderer of the hot forms.

The environment itself is configuration (``config/jinja2.py``). Django's Jinja2 backend adds
``request``, ``csrf_input`` and ``csrf_token`` to every context; autoescaping is on, as in
Django's own templates.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.forms.renderers import Jinja2 as Jinja2FormRenderer
from django.utils import timezone


def localtime(value: datetime, zone: tzinfo | None = None) -> datetime:
    """As Django's templates show an aware datetime: in ``zone`` (the current time zone)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    # A template showing many moments looks the zone up once (it is a context-local read).
    return value.astimezone(zone or timezone.get_current_timezone())


def minute(value: datetime) -> str:
    """``{{ value|date:"Y-m-d H:i" }}`` of Django's templates, for a value already local."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"


# Django's Jinja2 form renderer for the hot forms (the dashboard filters, the ticket forms): their
# widgets render through Jinja2 instead of the template language. One instance, so its engine is
# built once per process (a renderer class on a form would be instantiated per form).
form_renderer = Jinja2FormRenderer()
