"""A small committed data set for the dashboard tests, and a brute-force reference for it.

The dashboard reads on worker threads with their own connections, which never see a test's
uncommitted rows, so these rows are committed (and removed again) around a test module.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

from django.conf import settings

from departments.registry import Department, all_departments
from tickets.dashboard import STATUS_ORDER, TicketFilters
from tickets.models import Priority, Status, Ticket, TicketEvent
from tickets.services import ticket_counts_rebuild

BASE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
# Few distinct values so that ties (across and within departments) are everywhere.
MOMENTS = [BASE + timedelta(hours=h, microseconds=m) for h in (0, 5, 30) for m in (0, 250)]
SUBJECTS = ["Printer jam", "printer jam", "Refund", "Login fails", "Zebra crossing", "apple pie"]
NAMES = ["Ada King", "ada king", "Bob Stone", "Zoe Hart", "Émile Roux"]
EMAILS = ["ada@example.com", "bob@example.org", "zoe@example.net", "emile@example.com"]
ASSIGNEES = [None, None, 7, 9, 12]
PER_DEPARTMENT = 24


def make_tickets(seed: int = 5) -> list[tuple[Department, Ticket]]:
    rng = random.Random(seed)
    made = []
    for department in all_departments():
        batch = []
        for n in range(PER_DEPARTMENT):
            created = rng.choice(MOMENTS)
            batch.append(
                Ticket(
                    reference=f"{department.code}-{_body(rng)}",
                    customer_name=rng.choice(NAMES),
                    customer_email=rng.choice(EMAILS),
                    subject=rng.choice(SUBJECTS),
                    message=f"ticket {n}",
                    status=rng.choice(Status.values),
                    priority=rng.choice(Priority.values),
                    assignee_id=rng.choice(ASSIGNEES),
                    created_at=created,
                    updated_at=created + timedelta(minutes=rng.choice([0, 0, 10])),
                )
            )
        created = Ticket.objects.using(department.alias).bulk_create(batch)
        if not created or created[0].pk is None:  # MariaDB/SQLite may not return ids
            created = list(Ticket.objects.using(department.alias).order_by("id"))
        made += [(department, t) for t in created]
        ticket_counts_rebuild(department=department)
    return made


def clear_tickets() -> None:
    for department in all_departments():
        TicketEvent.objects.using(department.alias).all().delete()
        Ticket.objects.using(department.alias).all().delete()
        ticket_counts_rebuild(department=department)


def _body(rng: random.Random) -> str:
    return "".join(rng.choice("23456789ABCDEFGHJKMNPQRSTWXYZ") for _ in range(6))


def all_rows() -> list[dict]:
    """Every ticket of every department, read plainly through the ORM."""
    rows = []
    for department in all_departments():
        for ticket in Ticket.objects.using(department.alias).all():
            rows.append({"department": department, "ticket": ticket})
    return rows


def text_key(value: str) -> str | tuple:
    """The text order each backend's dashboard uses (see departments.fanout.dialects)."""
    if getattr(settings, "TEST_BACKEND", "") == "mariadb":
        # utf8mb4_unicode_ci: case- and accent-insensitive; the test data keeps to letters,
        # spaces, '.', '@' where that equals this key.
        import unicodedata

        folded = unicodedata.normalize("NFKD", value.casefold())
        return "".join(c for c in folded if not unicodedata.combining(c))
    return value


def text_matches(term: str, fields: tuple[str, ...]) -> bool:
    """Free-text search semantics per backend (tickets.dashboard.search.text_search_sql).

    MariaDB's FULLTEXT path is word-prefix (every word starts a word of some field); where it
    does not apply, and on the other backends, a case-insensitive substring match.
    """
    from tickets.dashboard.search import fulltext_query as _fulltext_query

    if getattr(settings, "TEST_BACKEND", "") == "mariadb":
        if _fulltext_query(term, 3):
            tokens = [w for f in fields for w in re.findall(r"\w+", text_key(f))]
            return all(any(t.startswith(w) for t in tokens) for w in text_key(term).split())
        return any(text_key(term) in text_key(f) for f in fields)
    return any(term.lower() in f.lower() for f in fields)


def reference_order(rows: list[dict], sort: str, descending: bool) -> list[dict]:
    """Sort in Python: the order the engine must produce, ending in (department slug, id)."""

    def key(row):
        d, t = row["department"], row["ticket"]
        tail = (d.slug, t.pk)
        if sort == "created":
            head = (t.created_at,)
        elif sort == "updated":
            head = (t.updated_at,)
        elif sort in {"reference", "subject", "customer", "email"}:
            column = {
                "reference": "reference",
                "subject": "subject",
                "customer": "customer_name",
                "email": "customer_email",
            }[sort]
            head = (text_key(getattr(t, column)),)
        elif sort == "priority":
            head = (t.priority,)
        elif sort == "assignee":
            head = ((0, 0) if t.assignee_id is None else (1, t.assignee_id),)
        elif sort == "status":
            head = (STATUS_ORDER.index(t.status),)
        elif sort == "department":
            head = (d.label.casefold(), d.label)
        else:
            raise AssertionError(sort)
        return (*head, *tail)

    return sorted(rows, key=key, reverse=descending)


def reference_filter(rows: list[dict], filters: TicketFilters, departments) -> list[dict]:
    slugs = {d.slug for d in departments}
    out = []
    for row in rows:
        t = row["ticket"]
        if row["department"].slug not in slugs:
            continue
        if filters.statuses and t.status not in filters.statuses:
            continue
        if filters.priorities and t.priority not in filters.priorities:
            continue
        if filters.unassigned and t.assignee_id is not None:
            continue
        if filters.assignee_id is not None and t.assignee_id != filters.assignee_id:
            continue
        if filters.created_from and t.created_at < filters.created_from:
            continue
        if filters.created_before and t.created_at >= filters.created_before:
            continue
        if filters.search:
            term = filters.search.lower()
            fields = (t.reference, t.customer_email, t.customer_name, t.subject)
            if "@" in term:
                if t.customer_email.lower() != term:
                    continue
            elif len(term) == 10 and term[3] == "-":
                if t.reference.lower() != term:
                    continue
            elif not text_matches(filters.search.strip(), fields):
                continue
        out.append(row)
    return out
