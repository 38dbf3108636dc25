"""The Jinja2 environment for templates where rendering cost is measured (the dashboard table).

Django's Jinja2 backend adds ``request``, ``csrf_input`` and ``csrf_token`` to every context;
this adds what those templates use of Django: ``url``, ``static``, ``current_timezone``, the
dashboard's ``query_string``, and the filters ``localtime`` and ``minute`` (to the minute).
Autoescaping is on, as in Django's own templates.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.forms.renderers import Jinja2 as Jinja2FormRenderer
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from jinja2 import Environment

from tickets.templatetags.dashboard import query_string


def localtime(value: datetime, zone: tzinfo | None = None) -> datetime:
    """As Django's templates show an aware datetime: in ``zone`` (the current time zone)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    # A template showing many moments looks the zone up once (it is a context-local read).
    return value.astimezone(zone or timezone.get_current_timezone())


def minute(value: datetime) -> str:
    """``{{ value|date:"Y-m-d H:i" }}`` of Django's templates, for a value already local."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"


def environment(**options) -> Environment:
    env = Environment(**options)
    env.globals.update(
        {
            "url": reverse,
            "static": static,
            "query_string": query_string,
            "current_timezone": timezone.get_current_timezone,
        }
    )
    env.filters.update({"localtime": localtime, "minute": minute})
    return env


# Django's Jinja2 form renderer for the hot forms (the dashboard filters, the ticket forms): their
# widgets render through Jinja2 instead of the template language. One instance, so its engine is
# built once per process (a renderer class on a form would be instantiated per form).
form_renderer = Jinja2FormRenderer()
