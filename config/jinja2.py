"""The Jinja2 environment (settings: TEMPLATES): Django's ``url``, ``static`` and messages, and the
dashboard's ``query_string``."""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.templatetags.static import static
from django.urls import reverse
from jinja2 import Environment

from tickets.templatetags.dashboard import query_string


def environment(**options) -> Environment:
    env = Environment(**options)
    env.globals.update(
        {
            "url": reverse,
            "static": static,
            "query_string": query_string,
            # The site layout shows them as templates/base.html does (Jinja2 runs no context
            # processors).
            "get_messages": get_messages,
        }
    )
    return env
