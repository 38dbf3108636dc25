"""``manage.py deliver_outbox``: --once reports per department and fails usefully; without it,
a worker that keeps sending, touches its heartbeat and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories import TicketFactory
from tests.mail.conftest import worker_command
from tickets.management.commands.deliver_outbox import EXIT_SOME_FAILED


@pytest.mark.django_db(databases="__all__")
def test_once_sends_and_reports_per_department(smtp_server, tech):
    TicketFactory(department=tech)
    out = StringIO()
    call_command("deliver_outbox", "--once", stdout=out)
    assert "Technical Issues: 1 sent" in out.getvalue()
    assert len(smtp_server.received) == 1


@pytest.mark.django_db(databases="__all__")
def test_once_with_a_department_down_sends_the_others_and_exits_3(
    smtp_server, tech, billing, database_down
):
    TicketFactory(department=tech)
    TicketFactory(department=billing)
    out, err = StringIO(), StringIO()
    with database_down(tech), pytest.raises(CommandError) as excinfo:
        call_command("deliver_outbox", "--once", stdout=out, stderr=err)
    assert excinfo.value.returncode == EXIT_SOME_FAILED
    assert "Technical Issues" in str(excinfo.value) and "run again" in str(excinfo.value)
    assert "Account & Billing: 1 sent" in out.getvalue()
    assert "Technical Issues: database unavailable" in err.getvalue()
    assert len(smtp_server.received) == 1


@pytest.mark.django_db(databases="__all__")
def test_an_unknown_department_is_refused_with_the_valid_ones():
    with pytest.raises(CommandError, match=r"Unknown department 'nope'\. Valid: technical-issues"):
        call_command("deliver_outbox", "--once", "--department", "nope")


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_worker_keeps_sending_and_stops_on_sigterm(smtp_server, tech, tmp_path):
    heartbeat = tmp_path / "outbox.ok"
    worker = worker_command(
        "--interval", "0.1", "--heartbeat-file", str(heartbeat), smtp=smtp_server
    )
    try:
        TicketFactory(department=tech)  # written while the worker runs
        deadline = time.monotonic() + 30
        while not (smtp_server.received and heartbeat.exists()) and time.monotonic() < deadline:
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.05)
        assert len(smtp_server.received) == 1 and heartbeat.exists()
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert "Technical Issues: 1 sent" in out
