"""Reads about mail that needs a person: failed rows for the admin page, counts for /healthz."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from departments.errors import DATABASE_ERRORS
from departments.registry import Department
from tickets.models import OutboxEmail

State = OutboxEmail.State
PAGE_LIMIT = 200  # failed rows listed per department (the count says if there are more)


@dataclass
class DepartmentFailures:
    department: Department
    rows: list[OutboxEmail] = field(default_factory=list)
    total: int = 0
    unavailable: bool = False


def failed_mail(departments: Iterable[Department]) -> list[DepartmentFailures]:
    """Failed rows per department, newest first; a department that is down is marked, not
    raised, so the page shows the others."""
    found = []
    for department in departments:
        failed = OutboxEmail.objects.using(department.alias).filter(state=State.FAILED)
        try:
            rows = list(failed.order_by("-id")[:PAGE_LIMIT])
            total = len(rows) if len(rows) < PAGE_LIMIT else failed.count()
        except DATABASE_ERRORS:
            found.append(DepartmentFailures(department, unavailable=True))
            continue
        found.append(DepartmentFailures(department, rows=rows, total=total))
    return found


def outbox_health(department: Department) -> dict[str, int]:
    """For operators (/healthz detail): mail given up on, and mail still waiting to be sent."""
    outbox = OutboxEmail.objects.using(department.alias)
    return {
        "failed": outbox.filter(state=State.FAILED).count(),
        "pending": outbox.filter(state=State.PENDING).count(),
    }
