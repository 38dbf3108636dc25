"""Links to ticket pages, in one place so the dashboard does not guess other views' URLs."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from departments.registry import Department


def ticket_url(department: Department, ticket_id: int) -> str:
    """The staff page of one ticket: ``/tickets/<department-slug>/<id>/``."""
    try:
        return reverse("ticket_detail", args=[department.slug, ticket_id])
    except NoReverseMatch:
        # The detail view is built in parallel; until it is wired up, its agreed path.
        return f"/tickets/{department.slug}/{ticket_id}/"
