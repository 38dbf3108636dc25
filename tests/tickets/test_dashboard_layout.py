"""The dashboard's Jinja2 site layout is the same page as every other page's (templates/base.html).

The dashboard renders in Jinja2 throughout (templates/jinja2/base.html); the other pages use
Django's template language. A link or header added to one layout and not the other fails here.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib import messages
from django.contrib.messages.storage.session import SessionStorage
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import SuperadminFactory, UserFactory
from tickets.views.dashboard import DashboardView

pytestmark = pytest.mark.django_db(databases="__all__")


class _Parts(HTMLParser):
    """The tags and text of the page's header, footer and <head> assets, as comparable tuples.

    Where each page differs on purpose is left out: the current page's ``aria-current``, the
    per-response CSRF token, the title and the page's own head and script tags.
    """

    KEPT = {"header", "footer"}

    def __init__(self):
        super().__init__()
        self.found: dict[str, list] = {"header": [], "footer": [], "assets": []}
        self.inside: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = sorted(
            (name, "" if name == "value" and ("name", "csrfmiddlewaretoken") in attrs else value)
            for name, value in attrs
            if name != "aria-current"
        )
        if tag in self.KEPT:
            self.inside.append(tag)
        if self.inside:
            self.found[self.inside[0]].append(("start", tag, attrs))
        elif tag in {"link", "script"} and "htmx" not in str(attrs):
            self.found["assets"].append((tag, attrs))

    def handle_endtag(self, tag):
        if self.inside:
            self.found[self.inside[0]].append(("end", tag))
            if tag == self.inside[-1]:
                self.inside.pop()

    def handle_data(self, data):
        if self.inside and data.strip():
            self.found[self.inside[0]].append(("text", " ".join(data.split())))


def parts(html: str) -> dict[str, list]:
    parser = _Parts()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("make_user", [SuperadminFactory, UserFactory])
def test_dashboard_layout_is_the_site_layout(client, make_user):
    client.force_login(make_user())
    dashboard = parts(client.get(reverse("dashboard")).content.decode())
    other = parts(client.get(reverse("accounts:notifications")).content.decode())
    assert dashboard["header"] and dashboard["footer"] and dashboard["assets"]
    assert dashboard == other


def test_dashboard_shows_the_pending_messages():
    request = RequestFactory().get(reverse("dashboard"))
    request.user = SuperadminFactory()
    request.session = SessionStore()
    request._messages = SessionStorage(request)
    messages.success(request, "Saved <for> you")
    response = DashboardView.as_view()(request)
    page = response.content.decode()
    assert '<div class="notice notice-success" role="status">Saved &lt;for&gt; you</div>' in page
    assert request._messages.used  # so the middleware drops them: shown once, as on every page
