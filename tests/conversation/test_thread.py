"""The thread: staff replies and notes, customer replies, and the emails each one queues."""

from __future__ import annotations

from unittest import mock

import pytest

from tests.factories import TicketFactory, UserFactory
from tickets import conversation
from tickets.conversation import TicketClosed, customer_reply, dedupe_key
from tickets.models import (
    Channel,
    Message,
    OutboxEmail,
    Status,
    Ticket,
    TicketCount,
    TicketEvent,
    Visibility,
)
from tickets.services import Actor, ticket_update

pytestmark = pytest.mark.django_db(databases="__all__")
STAFF = Actor(id=7, name="Sam Staff")
Kind = OutboxEmail.Kind


def outbox(department) -> list[tuple[str, str, int | None]]:
    return [
        (row.kind, row.recipient, row.staff_user_id)
        for row in OutboxEmail.objects.using(department.alias).order_by("id")
    ]


def update(department, ticket, **changes) -> Ticket:
    current = Ticket.objects.using(department.alias).get(pk=ticket.pk)
    return ticket_update(
        department=department,
        ticket_id=ticket.pk,
        expected_version=current.version,
        actor=changes.pop("actor", STAFF),
        **changes,
    )


def counts(department) -> dict[tuple[str, int], int]:
    return {
        (row.status, row.priority): row.count
        for row in TicketCount.objects.using(department.alias)
        if row.count
    }


def test_a_new_ticket_queues_the_customer_confirmation_carrying_the_staff_alert(tech):
    ticket = TicketFactory(department=tech, customer_email="ada@example.com", message="Help")
    assert outbox(tech) == [(Kind.RECEIVED, "ada@example.com", None)]
    received = OutboxEmail.objects.using(tech.alias).get(kind=Kind.RECEIVED)
    assert received.context["reference"] == ticket.reference
    assert received.context["message"] == "Help"
    assert received.context["alert_staff"] is True
    assert received.message_id.startswith(f"<{ticket.reference}.")
    assert received.state == OutboxEmail.State.PENDING


def test_nothing_is_queued_when_the_ticket_is_not_saved(tech):
    with (
        mock.patch("tickets.services.bump_counts", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        TicketFactory(department=tech)
    assert outbox(tech) == [] and not Ticket.objects.using(tech.alias).exists()


def test_a_public_reply_is_a_message_an_email_and_the_first_response(tech):
    ticket = TicketFactory(department=tech, customer_email="ada@example.com")
    OutboxEmail.objects.using(tech.alias).all().delete()
    updated = update(tech, ticket, reply="  Try turning it off and on.  ")
    message = Message.objects.using(tech.alias).get()
    assert (message.visibility, message.body, message.author_name, message.from_customer) == (
        Visibility.PUBLIC,
        "Try turning it off and on.",
        "Sam Staff",
        False,
    )
    assert updated.first_response_at == message.created_at
    row = OutboxEmail.objects.using(tech.alias).get()
    assert (row.kind, row.recipient) == (Kind.REPLY, "ada@example.com")
    assert row.context["message"] == "Try turning it off and on."
    assert row.context["status_changed"] is False
    # A second reply does not move the first response.
    later = update(tech, ticket, reply="Any luck?")
    assert later.first_response_at == updated.first_response_at
    kinds = list(TicketEvent.objects.using(tech.alias).values_list("kind", flat=True))
    assert kinds.count(TicketEvent.Kind.REPLIED) == 2


def test_an_internal_note_never_queues_a_customer_email_nor_counts_as_a_response(tech):
    ticket = TicketFactory(department=tech)
    OutboxEmail.objects.using(tech.alias).all().delete()
    updated = update(tech, ticket, note="Customer sounds annoyed", status=Status.OPEN)
    assert Message.objects.using(tech.alias).get().visibility == Visibility.INTERNAL
    assert outbox(tech) == []
    assert updated.first_response_at is None


def test_reply_and_resolve_is_one_transaction_and_one_email(tech):
    ticket = TicketFactory(department=tech)
    OutboxEmail.objects.using(tech.alias).all().delete()
    updated = update(tech, ticket, reply="Fixed: the cable was loose.", status=Status.RESOLVED)
    assert updated.status == Status.RESOLVED and updated.resolved_at is not None
    row = OutboxEmail.objects.using(tech.alias).get()
    assert row.kind == Kind.REPLY
    assert (row.context["status_changed"], row.context["status"]) == (True, Status.RESOLVED)


def test_resolving_without_a_reply_tells_the_customer(tech):
    ticket = TicketFactory(department=tech)
    OutboxEmail.objects.using(tech.alias).all().delete()
    update(tech, ticket, status=Status.RESOLVED)
    assert [kind for kind, *_ in outbox(tech)] == [Kind.RESOLVED]
    update(tech, ticket, status=Status.PENDING)  # no email for other status changes
    assert len(outbox(tech)) == 1


def test_a_failed_reply_leaves_no_message_and_no_email(tech):
    ticket = TicketFactory(department=tech)
    OutboxEmail.objects.using(tech.alias).all().delete()
    with (
        mock.patch("tickets.services.enqueue_for_customer", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        update(tech, ticket, reply="Lost?", status=Status.PENDING)
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert (stored.status, stored.version, stored.first_response_at) == (Status.NEW, 1, None)
    assert not Message.objects.using(tech.alias).exists() and outbox(tech) == []


def test_assigning_someone_else_tells_them_but_taking_it_yourself_does_not(tech):
    ticket = TicketFactory(department=tech)
    OutboxEmail.objects.using(tech.alias).all().delete()
    colleague = UserFactory(departments=[tech])
    me = UserFactory(departments=[tech])
    update(tech, ticket, assignee=colleague, actor=Actor.from_user(me))
    assert outbox(tech) == [(Kind.ASSIGNED, "", colleague.pk)]
    update(tech, ticket, assignee=me, actor=Actor.from_user(me))
    assert len(outbox(tech)) == 1


@pytest.mark.parametrize("status", [Status.PENDING, Status.RESOLVED])
def test_a_customer_reply_opens_a_waiting_or_resolved_ticket_again(tech, status):
    ticket = TicketFactory(department=tech)
    update(tech, ticket, status=status)
    message = customer_reply(department=tech, ticket_id=ticket.pk, body=" It broke again. ")
    stored = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert (stored.status, stored.resolved_at) == (Status.OPEN, None)
    assert (message.from_customer, message.visibility, message.body) == (
        True,
        Visibility.PUBLIC,
        "It broke again.",
    )
    assert message.author_name == ticket.customer_name
    assert counts(tech) == {(Status.OPEN, ticket.priority): 1}
    events = list(TicketEvent.objects.using(tech.alias).values_list("kind", "new_value"))
    assert (TicketEvent.Kind.STATUS_CHANGED, Status.OPEN) in events
    assert (TicketEvent.Kind.CUSTOMER_REPLIED, Channel.WEB) in events


def test_a_customer_reply_to_a_new_ticket_leaves_it_new_and_tells_the_assignee(tech):
    ticket = TicketFactory(department=tech)
    agent = UserFactory(departments=[tech])
    update(tech, ticket, assignee=agent)
    OutboxEmail.objects.using(tech.alias).all().delete()
    customer_reply(department=tech, ticket_id=ticket.pk, body="More detail", channel="email")
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).status == Status.NEW
    assert outbox(tech) == [(Kind.CUSTOMER_REPLIED, "", agent.pk)]
    assert Message.objects.using(tech.alias).get(from_customer=True).channel == Channel.EMAIL


def test_a_closed_ticket_takes_no_reply(tech):
    ticket = TicketFactory(department=tech)
    update(tech, ticket, status=Status.CLOSED)
    with pytest.raises(TicketClosed):
        customer_reply(department=tech, ticket_id=ticket.pk, body="Hello?")
    assert not Message.objects.using(tech.alias).filter(from_customer=True).exists()
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).status == Status.CLOSED


def test_the_same_arrival_twice_is_one_message(tech):
    ticket = TicketFactory(department=tech)
    update(tech, ticket, status=Status.PENDING)
    key = dedupe_key("email", "<abc@mail.example>")
    first = customer_reply(department=tech, ticket_id=ticket.pk, body="Hi", key=key)
    update(tech, ticket, status=Status.PENDING)  # staff set it waiting again meanwhile
    again = customer_reply(department=tech, ticket_id=ticket.pk, body="Hi", key=key)
    assert again.pk == first.pk
    assert Message.objects.using(tech.alias).filter(from_customer=True).count() == 1
    # The repeat changed nothing: the ticket still waits for the customer.
    assert Ticket.objects.using(tech.alias).get(pk=ticket.pk).status == Status.PENDING


def test_a_key_raced_by_two_deliveries_returns_the_winner(tech):
    ticket = TicketFactory(department=tech)
    key = dedupe_key("email", "<race@mail.example>")
    winner = customer_reply(department=tech, ticket_id=ticket.pk, body="Hi", key=key)
    # The loser's look-up ran before the winner committed: the unique key decides.
    real_filter = Message.objects.using(tech.alias).filter
    with mock.patch.object(conversation.Message.objects, "using") as using:
        calls = iter([mock.Mock(filter=lambda **kw: mock.Mock(first=lambda: None))])

        def pick(alias):
            try:
                return next(calls)
            except StopIteration:
                return Message._default_manager.db_manager(alias)

        using.side_effect = pick
        loser = customer_reply(department=tech, ticket_id=ticket.pk, body="Hi", key=key)
    assert loser.pk == winner.pk
    assert real_filter(dedupe_key=key).count() == 1
