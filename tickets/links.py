"""Links to ticket pages, in one place so the dashboard does not build other views' URLs."""

from __future__ import annotations

from django.urls import reverse

from departments.registry import Department


def ticket_url(department: Department, ticket_id: int) -> str:
    """The staff page of one ticket: ``/tickets/<department-slug>/<id>/``."""
    return reverse("ticket_detail", args=[department.slug, ticket_id])
