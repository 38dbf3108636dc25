"""Reads of staff users (system database) that other apps need."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from accounts.models import Role, User
from departments.registry import Department


def staff_for_department(department: Department) -> QuerySet[User]:
    """Active people who may work this department's tickets: its members and all superadmins."""
    return (
        User.objects.filter(is_active=True)
        .filter(Q(role=Role.SUPERADMIN) | Q(memberships__department=department.slug))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def users_by_id(ids: Iterable[int | None]) -> dict[int, User]:
    """Users for the ids department rows store (no foreign key can cross databases)."""
    wanted = {i for i in ids if i is not None}
    return User.objects.in_bulk(wanted) if wanted else {}
