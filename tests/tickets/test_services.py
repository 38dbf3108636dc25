"""Ticket services: one transaction per change, exact counts, optimistic locking."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Count

from tests.factories import SuperadminFactory, TicketFactory, UserFactory
from tickets import services
from tickets.models import Message, Priority, Status, Ticket, TicketCount, TicketEvent
from tickets.selectors import ticket_counts
from tickets.services import (
    MSG_ASSIGNEE_NOT_MEMBER,
    MSG_NOTHING_TO_SAVE,
    MSG_STALE,
    Actor,
    TicketConflict,
    ticket_change_status,
    ticket_counts_rebuild,
    ticket_create,
    ticket_delete,
    ticket_update,
)

pytestmark = pytest.mark.django_db(databases="__all__")
STAFF = Actor(id=1, name="Sam Staff")


def true_counts(department) -> dict[tuple[str, int], int]:
    rows = (
        Ticket.objects.using(department.alias)
        .order_by()
        .values("status", "priority")
        .annotate(n=Count("id"))
    )
    return {(r["status"], r["priority"]): r["n"] for r in rows}


def nonzero(counts):
    return {k: v for k, v in counts.items() if v}


def test_create_writes_ticket_event_and_count(tech):
    ticket = ticket_create(
        department=tech,
        customer_name="  Ada  ",
        customer_email="ada@example.com",
        subject="Printer on fire",
        message="Help",
    )
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert stored.customer_name == "Ada"
    assert (stored.status, stored.priority, stored.version) == (Status.NEW, Priority.NORMAL, 1)
    assert list(stored.events.values_list("kind", flat=True)) == [TicketEvent.Kind.CREATED]
    assert nonzero(ticket_counts(tech)) == {(Status.NEW, Priority.NORMAL): 1}


def test_create_validates_fields(tech):
    with pytest.raises(ValidationError) as excinfo:
        ticket_create(
            department=tech,
            customer_name="",
            customer_email="not-an-email",
            subject="x" * 201,
            message="m",
        )
    assert set(excinfo.value.message_dict) == {"customer_name", "customer_email", "subject"}
    assert Ticket.objects.using(tech.alias).count() == 0


def test_create_is_all_or_nothing(tech):
    with (
        mock.patch.object(services, "bump_counts", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        TicketFactory(department=tech)
    assert Ticket.objects.using(tech.alias).count() == 0
    assert TicketEvent.objects.using(tech.alias).count() == 0


def test_reference_clash_draws_a_new_reference(tech):
    first = TicketFactory(department=tech)
    draws = iter([first.reference, "TEC-ZZZZZZ"])
    with mock.patch.object(services, "new_reference", side_effect=lambda d: next(draws)):
        second = TicketFactory(department=tech)
    assert second.reference == "TEC-ZZZZZZ"
    # The clashing attempt left nothing behind: two tickets, one event each, exact counts.
    assert Ticket.objects.using(tech.alias).count() == 2
    assert TicketEvent.objects.using(tech.alias).filter(ticket=second).count() == 1
    assert nonzero(ticket_counts(tech)) == nonzero(true_counts(tech))


def test_status_change_with_note_in_one_transaction(tech):
    ticket = TicketFactory(department=tech)
    updated = ticket_change_status(
        department=tech,
        ticket_id=ticket.pk,
        expected_version=1,
        status=Status.RESOLVED,
        actor=STAFF,
        note="Replaced the toner.",
    )
    assert updated.version == 2
    assert updated.resolved_at is not None
    note = Message.objects.using(tech.alias).get(ticket_id=ticket.pk)
    assert (note.author_name, note.body) == ("Sam Staff", "Replaced the toner.")
    kinds = list(
        TicketEvent.objects.using(tech.alias)
        .filter(ticket_id=ticket.pk)
        .values_list("kind", "old_value", "new_value")
    )
    assert kinds == [
        (TicketEvent.Kind.CREATED, "", "new"),
        (TicketEvent.Kind.STATUS_CHANGED, "new", "resolved"),
        (TicketEvent.Kind.NOTE_ADDED, "", ""),
    ]
    # Reopening clears resolved_at.
    reopened = ticket_change_status(
        department=tech, ticket_id=ticket.pk, expected_version=2, status=Status.OPEN, actor=STAFF
    )
    assert reopened.resolved_at is None


def test_failed_note_rolls_back_the_status_change(tech):
    ticket = TicketFactory(department=tech)
    # The note is written after the ticket row; failing there must undo the ticket change too.
    with (
        mock.patch.object(Message.objects, "using", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        ticket_change_status(
            department=tech,
            ticket_id=ticket.pk,
            expected_version=1,
            status=Status.CLOSED,
            actor=STAFF,
            note="will fail",
        )
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert (stored.status, stored.version) == (Status.NEW, 1)
    assert nonzero(ticket_counts(tech)) == {(Status.NEW, Priority.NORMAL): 1}


def test_stale_version_is_refused_and_nothing_changes(tech):
    ticket = TicketFactory(department=tech)
    ticket_change_status(
        department=tech, ticket_id=ticket.pk, expected_version=1, status=Status.OPEN, actor=STAFF
    )
    with pytest.raises(TicketConflict) as excinfo:
        ticket_change_status(
            department=tech,
            ticket_id=ticket.pk,
            expected_version=1,
            status=Status.CLOSED,
            actor=STAFF,
            note="typed note",
        )
    assert excinfo.value.messages == [MSG_STALE]
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert (stored.status, stored.version) == (Status.OPEN, 2)
    assert not Message.objects.using(tech.alias).exists()


def test_nothing_to_save_is_an_error(tech):
    ticket = TicketFactory(department=tech)
    with pytest.raises(ValidationError, match=MSG_NOTHING_TO_SAVE):
        ticket_update(department=tech, ticket_id=ticket.pk, expected_version=1, actor=STAFF)


def test_assign_only_to_staff_of_the_department(tech, billing):
    ticket = TicketFactory(department=tech)
    outsider = UserFactory(departments=[billing])
    member = UserFactory(departments=[tech])
    with pytest.raises(ValidationError) as excinfo:
        ticket_update(
            department=tech,
            ticket_id=ticket.pk,
            expected_version=1,
            actor=STAFF,
            assignee=outsider,
        )
    assert excinfo.value.message_dict == {"assignee": [MSG_ASSIGNEE_NOT_MEMBER]}
    updated = ticket_update(
        department=tech, ticket_id=ticket.pk, expected_version=1, actor=STAFF, assignee=member
    )
    assert updated.assignee_id == member.pk
    boss = SuperadminFactory()
    updated = ticket_update(
        department=tech, ticket_id=ticket.pk, expected_version=2, actor=STAFF, assignee=boss
    )
    assert updated.assignee_id == boss.pk
    updated = ticket_update(
        department=tech, ticket_id=ticket.pk, expected_version=3, actor=STAFF, unassign=True
    )
    assert updated.assignee_id is None


def test_counts_stay_exact_through_creates_changes_and_deletes(tech, billing):
    tickets = [
        TicketFactory(department=tech, priority=p)
        for p in [Priority.LOW, Priority.NORMAL, Priority.NORMAL, Priority.URGENT]
    ]
    TicketFactory(department=billing)
    ticket_update(
        department=tech,
        ticket_id=tickets[0].pk,
        expected_version=1,
        actor=STAFF,
        status=Status.PENDING,
        priority=Priority.HIGH,
    )
    ticket_change_status(
        department=tech,
        ticket_id=tickets[1].pk,
        expected_version=1,
        status=Status.CLOSED,
        actor=STAFF,
    )
    ticket_delete(department=tech, ticket_id=tickets[3].pk)
    assert (
        nonzero(ticket_counts(tech))
        == true_counts(tech)
        == {
            (Status.PENDING, Priority.HIGH): 1,
            (Status.CLOSED, Priority.NORMAL): 1,
            (Status.NEW, Priority.NORMAL): 1,
        }
    )
    assert nonzero(ticket_counts(billing)) == true_counts(billing)


def test_rebuild_counts_from_scratch(tech):
    TicketFactory(department=tech)
    TicketFactory(department=tech, priority=Priority.HIGH)
    # Simulate drift, e.g. rows removed with raw SQL.
    Ticket.objects.using(tech.alias).filter(priority=Priority.HIGH).delete()
    assert nonzero(ticket_counts(tech)) != true_counts(tech)
    rebuilt = ticket_counts_rebuild(department=tech)
    assert rebuilt == true_counts(tech) == nonzero(ticket_counts(tech))
    assert len(ticket_counts(tech)) == 20


def test_create_with_the_same_submission_token_and_values_returns_the_first_ticket(tech):
    sent = {
        "department": tech,
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "subject": "Twice",
        "message": "Sent twice.",
        "submission_token": "token-1",
    }
    first = services.ticket_create(**sent)
    again = services.ticket_create(**sent)
    assert (again.pk, again.reference) == (first.pk, first.reference)
    assert first.submission_key and len(first.submission_key) == 64
    assert TicketEvent.objects.using(tech.alias).count() == 1
    assert true_counts(tech) == nonzero(ticket_counts(tech)) == {("new", Priority.NORMAL): 1}
    # Another token, or other values with the same token, is another ticket.
    services.ticket_create(**{**sent, "submission_token": "token-2"})
    services.ticket_create(**{**sent, "subject": "Twice, corrected"})
    assert Ticket.objects.using(tech.alias).count() == 3
    # Tickets made without a token (staff tools, seeding) never collide with each other.
    TicketFactory.create_batch(2, department=tech)
    assert Ticket.objects.using(tech.alias).filter(submission_key=None).count() == 2


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_first_tickets_written_at_once_into_an_emptied_count_table_all_count(tech):
    """With no count row yet (a table emptied by hand), writers racing to create it once
    deadlocked on InnoDB (duplicate INSERT, then UPDATE): each must succeed and count."""
    import threading

    from django.db import connections

    TicketCount.objects.using(tech.alias).all().delete()
    barrier = threading.Barrier(6)
    failures = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            TicketFactory(department=tech, subject=f"Racing {n}")
        except Exception as exc:
            failures.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    counted = TicketCount.objects.using(tech.alias).get(status="new", priority=Priority.NORMAL)
    assert counted.count == 6
