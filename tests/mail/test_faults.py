"""Faults on the way out: the mail server down, a department database down, a sender killed
mid-batch, two senders at once. Time is passed in (``clock``), never slept through."""

from __future__ import annotations

import re
import signal
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TicketFactory
from tests.mail.conftest import worker_command
from tickets.mail.delivery import (
    backoff,
    claim_due,
    deliver_all,
    deliver_pass,
    lease,
)
from tickets.models import OutboxEmail

State = OutboxEmail.State


def outbox(department):
    return OutboxEmail.objects.using(department.alias)


def customer_rows(department) -> list[OutboxEmail]:
    return list(outbox(department).filter(kind=OutboxEmail.Kind.RECEIVED).order_by("id"))


@pytest.mark.django_db(databases="__all__")
def test_mail_server_down_then_up_loses_nothing_and_waits_for_the_backoff(smtp_server, tech):
    tickets = [TicketFactory(department=tech) for _ in range(3)]
    now = timezone.now()
    smtp_server.stop()

    totals = deliver_all([tech], clock=lambda: now)

    assert (totals[tech.slug].retrying, totals[tech.slug].no_recipients) == (3, 0)
    for row in customer_rows(tech):
        assert (row.state, row.attempts, row.claim) == (State.PENDING, 1, "")
        assert row.next_attempt_at == now + backoff(1) == now + timedelta(seconds=30)
        assert "Connection refused" in row.last_error or "Errno" in row.last_error

    smtp_server.start()
    assert deliver_all([tech], clock=lambda: now + timedelta(seconds=29))[tech.slug].claimed == 0
    later = now + timedelta(seconds=31)
    assert deliver_all([tech], clock=lambda: later)[tech.slug].sent == 3

    arrived = {r.message["Subject"].split("]")[0][1:] for r in smtp_server.received}
    assert arrived == {t.reference for t in tickets}
    assert {r.message_id for r in smtp_server.received} == {
        r.message_id for r in customer_rows(tech)
    }
    assert set(outbox(tech).values_list("state", flat=True)) == {State.SENT}


def test_backoff_doubles_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(8) == backoff(30) == timedelta(hours=1)


@pytest.mark.django_db(databases="__all__")
def test_after_the_last_attempt_a_message_is_failed_and_left_alone(smtp_server, tech, settings):
    settings.HELPDESK_OUTBOX_MAX_ATTEMPTS = 2
    TicketFactory(department=tech)
    smtp_server.stop()
    now = timezone.now()

    deliver_all([tech], clock=lambda: now)
    totals = deliver_all([tech], clock=lambda: now + timedelta(minutes=5))

    assert totals[tech.slug].failed == 1
    [row] = customer_rows(tech)
    assert (row.state, row.attempts) == (State.FAILED, 2)
    smtp_server.start()
    assert deliver_all([tech], clock=lambda: now + timedelta(days=1))[tech.slug].claimed == 0


@pytest.mark.django_db(databases="__all__")
def test_a_department_that_is_down_delays_only_its_own_mail(
    smtp_server, tech, billing, database_down
):
    TicketFactory(department=tech)
    billing_ticket = TicketFactory(department=billing)

    with database_down(tech):
        results = {r.department.slug: r for r in deliver_pass([tech, billing])}

    assert results[tech.slug].error and results[tech.slug].claimed == 0
    assert results[billing.slug].sent == 1
    assert [r.message["Subject"].split("]")[0][1:] for r in smtp_server.received] == [
        billing_ticket.reference
    ]
    assert [r.state for r in customer_rows(tech)] == [State.PENDING]
    assert deliver_all([tech])[tech.slug].sent == 1  # back up: sent


@pytest.mark.django_db(databases="__all__")
def test_only_the_claim_holder_marks_a_row_sent(smtp_server, tech):
    """A sender whose lease ran out cannot mark the row: the one that took it over does."""
    TicketFactory(department=tech)
    now = timezone.now()
    first = claim_due(tech, now=now, limit=10)
    assert claim_due(tech, now=now, limit=10).rows == []  # leased: nobody else gets them
    after_lease = now + lease() + timedelta(seconds=1)
    second = claim_due(tech, now=after_lease, limit=10)
    assert {r.pk for r in second.rows} == {r.pk for r in first.rows}

    from tickets.mail.delivery import _mark_sent

    _mark_sent(first, [r.pk for r in first.rows], now)
    assert set(outbox(tech).values_list("state", flat=True)) == {State.PENDING}
    _mark_sent(second, [r.pk for r in second.rows], after_lease)
    assert set(outbox(tech).values_list("state", flat=True)) == {State.SENT}


# --- separate processes, on committed rows ---------------------------------------------------


class _Stall:
    """Makes the SMTP server hold its answer to the ``after``-th message until released."""

    def __init__(self, server, after: int):
        self.reached = threading.Event()
        self.release = threading.Event()
        handler = server.handler
        original = handler.handle_DATA

        async def handle_DATA(smtp, session, envelope):
            answer = await original(smtp, session, envelope)
            if len(server.received) == after:
                self.reached.set()
                # Blocks the server's loop: the sender waits for the 250 it will never get.
                self.release.wait(30)
            return answer

        handler.handle_DATA = handle_DATA


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_sender_killed_mid_batch_loses_nothing_and_repeats_only_message_ids(smtp_server, tech):
    for _ in range(30):
        TicketFactory(department=tech)
    stall = _Stall(smtp_server, after=25)
    worker = worker_command("--once", "--department", tech.slug, smtp=smtp_server)
    try:
        assert stall.reached.wait(60), worker.communicate(timeout=5)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        stall.release.set()
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL

    rows = customer_rows(tech)
    marked = [r for r in rows if r.state == State.SENT]
    assert 0 < len(marked) < 30  # it died with some marked sent and some not
    # Its lease runs out (time passed in, not waited for); another run sends the rest.
    later = timezone.now() + lease() + timedelta(seconds=1)
    deliver_all([tech], clock=lambda: later)

    rows = customer_rows(tech)
    assert {r.state for r in rows} == {State.SENT}
    arrived = Counter(r.message_id for r in smtp_server.received)
    assert set(arrived) == {r.message_id for r in rows}  # every row at least once
    assert sum(arrived.values()) > len(rows)  # the unmarked ones again, same Message-ID
    for marked_row in marked:
        assert arrived[marked_row.message_id] == 1  # what was marked is never resent


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_senders_at_once_never_send_a_row_twice(smtp_server, tech, billing):
    for department in (tech, billing):
        for _ in range(20):
            TicketFactory(department=department)
    # The server answers nobody until both are connected: they overlap for certain.
    smtp_server.handler.wait_for_connections = 2
    args = ("--once", "--batch-size", "3")
    workers = [worker_command(*args, smtp=smtp_server) for _ in range(2)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs

    rows = customer_rows(tech) + customer_rows(billing)
    arrived = Counter(r.message_id for r in smtp_server.received)
    assert set(arrived) == {r.message_id for r in rows}
    assert max(arrived.values()) == 1
    # Both worked: each sent some of them.
    for out, _ in outputs:
        assert sum(int(n) for n in re.findall(r"(\d+) sent", out)) > 0, outputs


@pytest.mark.django_db(databases="__all__")
def test_the_worker_bounds_how_long_a_departments_statements_may_take(tech, settings):
    """One department holding a lock for minutes must not hold up the others' mail: the
    worker's session gets a statement timeout on the server backends."""
    from django.db import connections

    connection = connections[tech.alias]
    # The test's transaction rolled back the setting an earlier test's pass made on this
    # session (a worker runs in autocommit, where it stays): set it afresh.
    connection._outbox_bounded = None
    deliver_pass([tech])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "10s"
        elif connection.vendor == "mysql":
            name = "max_statement_time" if connection.mysql_is_mariadb else "max_execution_time"
            cursor.execute(f"SELECT @@SESSION.{name}")
            assert float(cursor.fetchone()[0]) in (10, 10_000)
        else:
            pytest.skip("SQLite: its busy timeout bounds waits; no statement timeout exists")
