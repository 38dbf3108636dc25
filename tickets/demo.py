"""A little believable demo data for `make run`."""

from __future__ import annotations

import random

from departments.registry import Department
from tickets.conversation import customer_reply
from tickets.models import Priority, Status, Ticket
from tickets.services import CUSTOMER, Actor, ticket_create, ticket_update

_PEOPLE = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.org"),
    ("Alan Turing", "alan@example.net"),
    ("Katherine Johnson", "katherine@example.com"),
    ("Linus Pauling", "linus@example.org"),
    ("Margaret Hamilton", "margaret@example.com"),
]
_SUBJECTS = [
    "Cannot sign in after password change",
    "Invoice shows the wrong amount",
    "Feature request: export to PDF",
    "App crashes when uploading a photo",
    "Question about delivery times",
    "Great support last week, thank you",
    "Charged twice for one order",
    "Where do I change my email address?",
]


def create_demo_tickets(department: Department, *, count: int, seed: int | None = None) -> int:
    """Add ``count`` tickets to an empty department; returns how many were made."""
    if count <= 0 or Ticket.objects.using(department.alias).exists():
        return 0
    rng = random.Random(seed if seed is not None else department.code)
    system = Actor(id=None, name="Demo data")
    for _ in range(count):
        name, email = rng.choice(_PEOPLE)
        ticket = ticket_create(
            department=department,
            customer_name=name,
            customer_email=email,
            subject=rng.choice(_SUBJECTS),
            message="This is demo data created by `make run`.\n\nFeel free to change or close it.",
            priority=rng.choice(Priority.values),
            actor=CUSTOMER,
        )
        status = rng.choice(Status.values)
        if status != Status.NEW:
            ticket = ticket_update(
                department=department,
                ticket_id=ticket.pk,
                expected_version=ticket.version,
                actor=system,
                status=Status.PENDING if status != Status.CLOSED else status,
                note="Demo: moved along the workflow.",
                reply="Thanks for writing in. Could you tell us a little more?",
            )
            if status in (Status.OPEN, Status.RESOLVED):
                customer_reply(
                    department=department,
                    ticket_id=ticket.pk,
                    body="Of course: it happens every morning.",
                )
            if status == Status.RESOLVED:
                ticket = Ticket.objects.using(department.alias).get(pk=ticket.pk)
                ticket_update(
                    department=department,
                    ticket_id=ticket.pk,
                    expected_version=ticket.version,
                    actor=system,
                    status=status,
                    reply="That is sorted now. Reply if anything is still wrong.",
                )
    return count
