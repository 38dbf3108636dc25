"""Query-string links for the dashboard: every state is a shareable URL."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template

register = template.Library()

# A link that changes the order or the filters starts again at the first page.
POSITION_PARAMS = ("page", "after", "before")


@register.simple_tag(takes_context=True)
def query_with(context, keep_position=False, **changes) -> str:
    """The current query string with ``changes`` applied; a change to None/"" removes it."""
    # A plain dict of the GET lists rather than GET.copy(): a page makes ~16 of these links,
    # and copying a QueryDict deep-copies it. Same order and encoding as QueryDict.urlencode.
    params = dict(context["request"].GET.lists())
    if not keep_position:
        for name in POSITION_PARAMS:
            params.pop(name, None)
    for name, value in changes.items():
        params.pop(name, None)
        if value not in (None, ""):
            params[name] = [value]
    encoded = urlencode([(name, value) for name, values in params.items() for value in values])
    return f"?{encoded}" if encoded else "?"
