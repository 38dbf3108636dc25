"""Two copies of one ticket form POSTed at the same moment, to a live server: one ticket.

A double click, or a proxy retrying while the first request is still running, sends the same
form twice in parallel. Both requests must end at the same confirmation and the department must
hold one ticket, on every backend (the unique key decides, not a look-up first).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest

from devtools.loadgen import Browser
from tickets.models import Ticket, TicketCount, TicketEvent

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def test_two_parallel_posts_of_one_form_make_one_ticket(live_server, billing):
    first = Browser(live_server.url)
    form = {
        **first.hidden_fields("/"),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "",
        "department": billing.slug,
        "subject": "Clicked twice",
        "message": "The button did not react, so I clicked it again.",
    }
    second = Browser(live_server.url)
    second.cookies = dict(first.cookies)  # the same browser: one session, one CSRF cookie

    # Hold each request at its insert until the other has arrived too, so the two inserts
    # really overlap (after anything either request might look up first) instead of depending
    # on how the server's threads happen to be scheduled. SQLite's BEGIN IMMEDIATE keeps the
    # second request out of its transaction while the first waits here, so the wait is bounded:
    # the first then goes on, and the second was held back after any look-up of its own.
    arrivals = threading.Condition()
    arrived = []
    real_save = Ticket.save

    def save_when_both_arrived(ticket, *args, **kwargs):
        with arrivals:
            arrived.append(ticket)
            arrivals.notify_all()
            arrivals.wait_for(lambda: len(arrived) == 2, timeout=2)
        return real_save(ticket, *args, **kwargs)

    with (
        mock.patch.object(Ticket, "save", save_when_both_arrived),
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        answers = list(pool.map(lambda b: b.request("POST", "/", form), [first, second]))
    for browser in (first, second):
        browser.close()

    assert [status for status, _, _ in answers] == [302, 302], answers
    [location] = {headers["Location"] for _, headers, _ in answers}
    ticket = Ticket.objects.using(billing.alias).get()
    assert location.endswith(f"/submitted/{ticket.reference}/")
    assert TicketEvent.objects.using(billing.alias).count() == 1
    assert sum(TicketCount.objects.using(billing.alias).values_list("count", flat=True)) == 1
    # Both requests remembered the ticket in the session: the confirmation opens.
    status, _, page = first.request("GET", location)
    assert status == 200 and ticket.reference in page
    first.close()
