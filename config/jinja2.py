"""The Jinja2 environment (settings: TEMPLATES): Django's ``url`` and ``static``, the time zone,
the dashboard's ``query_string``, and the ``localtime`` and ``minute`` filters."""

from __future__ import annotations

from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from jinja2 import Environment

from runtime.jinja2 import localtime, minute
from tickets.templatetags.dashboard import query_string


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
