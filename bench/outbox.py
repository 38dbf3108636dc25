#!/usr/bin/env python
"""Benchmark the email outbox: delivery rate from a backlog, and what the outbox write costs a
submission.

    .venv/bin/python bench/outbox.py --backend sqlite
    .venv/bin/python bench/outbox.py --backend postgres --backlog 10000 --tickets 1000

1. Delivery: ``--backlog`` rows spread over the five departments, sent by ``deliver_all`` (what
   ``deliver_outbox --once`` runs) to a local aiosmtpd in its own process (a sink). Baseline, in
   the same run: the same number of prebuilt messages sent by Django's SMTP backend over one
   connection, no database at all (the transport's ceiling).
2. Submissions: ``ticket_create`` with the outbox row against the same with its enqueue call
   (``enqueue_new_ticket``) replaced by a no-op, in alternating rounds so drift hits both alike;
   then the same through the public form (the whole request, in-process).

Scratch databases (bench/dashboard.py's Scratch) are dropped at the end. Figures, never
assertions: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dashboard import Scratch  # noqa: E402  (the shared scratch-database helper)

SINK = ["-c", "aiosmtpd.handlers.Sink"]  # accepts and discards


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "mariadb"], default="sqlite")
    parser.add_argument("--backlog", type=int, default=10_000, help="rows to deliver")
    parser.add_argument("--tickets", type=int, default=1_000, help="submissions per variant")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per variant")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--no-delivery", action="store_true", help="submissions only")
    return parser.parse_args()


def start_sink(port: int) -> subprocess.Popen:
    sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", *SINK],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return sink
        except OSError:
            time.sleep(0.05)
    raise SystemExit("aiosmtpd did not start")


def make_backlog(total: int) -> None:
    from departments.registry import all_departments
    from tests.factories import TicketFactory
    from tickets.mail.addresses import new_message_id
    from tickets.mail.outbox import ticket_facts
    from tickets.models import OutboxEmail

    departments = all_departments()
    for index, department in enumerate(departments):
        ticket = TicketFactory(department=department)
        OutboxEmail.objects.using(department.alias).all().delete()
        share = total // len(departments) + (index < total % len(departments))
        facts = {**ticket_facts(ticket), "message": "Bench message.\n" * 5}
        OutboxEmail.objects.using(department.alias).bulk_create(
            [
                OutboxEmail(
                    ticket=ticket,
                    kind=OutboxEmail.Kind.RECEIVED,
                    recipient=f"customer{n}@example.com",
                    context=facts,
                    message_id=new_message_id(ticket.reference),
                )
                for n in range(share)
            ],
            batch_size=1000,
        )


def bench_delivery(args) -> None:
    from django.core.mail import EmailMultiAlternatives, get_connection

    from departments.registry import all_departments
    from tickets.mail.delivery import deliver_all
    from tickets.models import OutboxEmail

    make_backlog(args.backlog)
    started = time.perf_counter()
    totals = deliver_all(batch_size=args.batch_size)
    ours = time.perf_counter() - started
    sent = sum(t.sent for t in totals.values())
    marked = sum(
        OutboxEmail.objects.using(d.alias).filter(state="sent").count() for d in all_departments()
    )

    messages = [
        EmailMultiAlternatives(
            subject="[TEC-000000] We received your request",
            body="Bench message.\n" * 12,
            to=[f"customer{n}@example.com"],
        )
        for n in range(args.backlog)
    ]
    for message in messages:
        message.attach_alternative("<p>Bench message.</p>" * 12, "text/html")
    started = time.perf_counter()
    connection = get_connection()
    connection.open()
    for message in messages:
        connection.send_messages([message])
    connection.close()
    raw = time.perf_counter() - started

    print(f"\n## Delivery of {args.backlog:,} rows over {len(totals)} departments")
    print(f"{'':34} {'seconds':>8} {'emails/s':>10}")
    print(f"{'deliver_all (outbox, templates)':34} {ours:8.2f} {sent / ours:10.0f}")
    print(f"{'baseline: raw SMTP, prebuilt':34} {raw:8.2f} {args.backlog / raw:10.0f}")
    ratio = (sent / ours) / (args.backlog / raw)
    print(f"sent {sent:,}, marked sent {marked:,}; ours / raw rate: {ratio:.2f}")


def compare_outbox_cost(args, submit, how: str) -> None:
    """``submit(count)`` (seconds taken) with the outbox row and with ``enqueue_new_ticket``
    patched out, in alternating rounds so drift hits both alike; prints both and the ratio."""
    from tickets import services

    per_round = max(args.tickets // args.rounds, 1)
    submit(min(per_round, 50))  # warm connections and caches
    with_outbox = without = 0.0
    for _ in range(args.rounds):
        with_outbox += submit(per_round)
        with mock.patch.object(services, "enqueue_new_ticket", lambda *a, **k: None):
            without += submit(per_round)
    total = per_round * args.rounds
    print(f"\n## Submissions {how}, {total:,} per variant")
    print(f"{'':34} {'seconds':>8} {'tickets/s':>10}")
    print(f"{'with its outbox row':34} {with_outbox:8.2f} {total / with_outbox:10.0f}")
    print(f"{'baseline: enqueue patched out':34} {without:8.2f} {total / without:10.0f}")
    print(f"with / without rate: {without / with_outbox:.2f} (1.00 = no cost)")


def bench_submissions(args) -> None:
    from departments.registry import all_departments
    from tickets.services import CUSTOMER, ticket_create

    departments = all_departments()

    def submit(count: int) -> float:
        started = time.perf_counter()
        for n in range(count):
            ticket_create(
                department=departments[n % len(departments)],
                customer_name="Bench Customer",
                customer_email=f"bench{n}@example.com",
                customer_phone="",
                subject="Bench subject",
                message="Bench message.",
                priority=2,
                actor=CUSTOMER,
            )
        return time.perf_counter() - started

    compare_outbox_cost(args, submit, f"through ticket_create ({args.rounds} rounds)")


def bench_form_submissions(args) -> None:
    """The same comparison through the public form, as a visitor submits (the Django test
    client in this process: URL routing, CSRF, session, form validation, the redirect)."""
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings

    from departments.registry import all_departments
    from tickets import forms

    departments = all_departments()
    client = Client()

    def submit(count: int) -> float:
        started = time.perf_counter()
        for n in range(count):
            response = client.post(
                "/",
                {
                    "name": "Bench Customer",
                    "email": f"form{n}@example.com",
                    "phone": "",
                    "department": departments[n % len(departments)].slug,
                    "subject": "Bench subject",
                    "message": "Bench message.",
                    "submission_token": forms.submission_token_new(),
                },
            )
            assert response.status_code == 302, response.status_code
        return time.perf_counter() - started

    # Visitors' submissions are rate limited per address; the bench is one address.
    limits = {**settings.HELPDESK_RATE_LIMITS, "ticket-submit": (10**9, 60)}
    with override_settings(HELPDESK_RATE_LIMITS=limits, ALLOWED_HOSTS=["testserver"]):
        compare_outbox_cost(args, submit, "through the public form (in-process client)")


def main() -> None:
    args = parse_args()
    name = secrets.token_hex(3)
    scratch = Scratch(args.backend, name)
    scratch.create()
    port = free_port()
    os.environ.update(scratch.environ())
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    sink = start_sink(port)

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.core.management import call_command

    from departments.registry import all_departments

    print(f"# Outbox benchmark: {args.backend}, scratch set {name!r}, {os.cpu_count()} cores")
    try:
        call_command("migrate", verbosity=0)
        for department in all_departments():
            call_command("migrate", "tickets", database=department.alias, verbosity=0)
        if not args.no_delivery:
            bench_delivery(args)
        bench_submissions(args)
        bench_form_submissions(args)
    finally:
        sink.terminate()
        sink.wait(10)
        scratch.drop()


if __name__ == "__main__":
    main()
