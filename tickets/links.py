"""Links to ticket pages, in one place so the dashboard does not build other views' URLs."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse

from departments.registry import Department


def ticket_url(department: Department, ticket_id: int) -> str:
    """The staff page of one ticket: ``/tickets/<department-slug>/<id>/``."""
    return reverse("ticket_detail", args=[department.slug, ticket_id])


def ticket_urls(department: Department) -> Callable[[int], str]:
    """``ticket_url`` for many tickets of one department, without a reverse() per ticket.

    A dashboard page links 25-100 tickets, and resolving the URL pattern is the same work for
    each of one department's tickets. The id is the path's last segment; should the URL
    configuration ever put it elsewhere, this falls back to reverse() per ticket rather than
    build wrong links.
    """
    sample = ticket_url(department, 0)
    head = sample[: -len("0/")]
    if not sample.endswith("/0/") or ticket_url(department, 12345) != f"{head}12345/":
        return lambda ticket_id: ticket_url(department, ticket_id)
    return lambda ticket_id: f"{head}{int(ticket_id)}/"
