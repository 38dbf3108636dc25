"""Query-string links for the dashboard: every state is a shareable URL."""

from __future__ import annotations

from django import template

register = template.Library()

# A link that changes the order or the filters starts again at the first page.
POSITION_PARAMS = ("page", "after", "before")


@register.simple_tag(takes_context=True)
def query_with(context, keep_position=False, **changes) -> str:
    """The current query string with ``changes`` applied; a change to None/"" removes it."""
    params = context["request"].GET.copy()
    if not keep_position:
        for name in POSITION_PARAMS:
            params.pop(name, None)
    for name, value in changes.items():
        params.pop(name, None)
        if value not in (None, ""):
            params[name] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
