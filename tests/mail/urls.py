"""The project's URLs plus a stand-in for the customer ticket page where it does not exist yet.

TODO(lead): once ``customer_ticket`` (tickets/views/public.py) is merged, the stand-in is never
added and the mail tests GET the real page instead (see ``customer_page_exists``).
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns
from tickets.mail.addresses import read_customer_link


def _names(patterns) -> set[str]:
    names: set[str] = set()
    for entry in patterns:
        if hasattr(entry, "url_patterns"):
            names |= _names(entry.url_patterns)
        elif entry.name:
            names.add(entry.name)
    return names


CUSTOMER_PAGE_EXISTS = "customer_ticket" in _names(project_urlpatterns)


def _stand_in(request, token: str) -> HttpResponse:
    link = read_customer_link(token)
    return HttpResponse(f"{link.reference} {link.email}", content_type="text/plain")


urlpatterns = list(project_urlpatterns)
if not CUSTOMER_PAGE_EXISTS:
    urlpatterns.insert(0, path("c/<str:token>/", _stand_in, name="customer_ticket"))
