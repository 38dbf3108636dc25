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
    return query_string(context["request"].GET, keep_position=keep_position, **changes)


def query_string(params, keep_position=False, **changes) -> str:
    """``params`` (a QueryDict) as a query string, with ``changes`` applied as query_with does."""
    # A plain dict of the GET lists rather than GET.copy(): a page makes ~16 of these links,
    # and copying a QueryDict deep-copies it. Same order and encoding as QueryDict.urlencode.
    lists = dict(params.lists())
    if not keep_position:
        for name in POSITION_PARAMS:
            lists.pop(name, None)
    for name, value in changes.items():
        lists.pop(name, None)
        if value not in (None, ""):
            lists[name] = [value]
    encoded = urlencode([(name, value) for name, values in lists.items() for value in values])
    return f"?{encoded}" if encoded else "?"
