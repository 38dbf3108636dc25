"""Send the email every department's outbox holds, and keep sending as more arrives.

Exit status with --once: 0 everything due was tried; 3 at least one department's database
could not be read (its mail waits; the others were sent). Stopped by SIGTERM or SIGINT after
the batch in hand.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from departments.errors import DepartmentUnavailable
from departments.management.base import positive_int
from departments.registry import UnknownDepartment, all_departments, get_department
from tickets.mail.delivery import (
    DEFAULT_BATCH,
    BatchResult,
    deliver_all,
    deliver_pass,
    prune_sent,
)

EXIT_SOME_FAILED = 3
# Sent mail past HELPDESK_OUTBOX_KEEP_DAYS is deleted this often by the running worker.
PRUNE_EVERY_SECONDS = 60 * 60


class Command(BaseCommand):
    help = (
        "Send due email from every department's outbox (retrying failures with backoff) and keep "
        "running; --once sends what is due and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help="Send everything due now, report per department and exit (cron, tests).",
        )
        parser.add_argument(
            "--department",
            action="append",
            default=[],
            metavar="SLUG",
            help="Only this department (its slug, e.g. account-billing); repeatable.",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=DEFAULT_BATCH,
            help=f"Rows claimed and sent over one mail connection at a time "
            f"(default {DEFAULT_BATCH}).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=2.0,
            help="Seconds to wait when nothing is due before looking again (default 2).",
        )
        parser.add_argument(
            "--heartbeat-file",
            default="",
            metavar="PATH",
            help="Touch this file after every pass, for a health check that the worker is alive.",
        )

    def handle(self, *args, once, department, batch_size, interval, heartbeat_file, **options):
        self.verbosity = options["verbosity"]
        try:
            departments = [get_department(slug) for slug in department] or all_departments()
        except UnknownDepartment as exc:
            valid = ", ".join(d.slug for d in all_departments())
            raise CommandError(f"Unknown department {exc.args[0]!r}. Valid: {valid}.") from None
        if once:
            self.report(list(deliver_all(departments, batch_size=batch_size).values()))
            return
        self.run_forever(departments, batch_size, interval, Path(heartbeat_file or "."))

    def run_forever(self, departments, batch_size, interval, heartbeat) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        if self.verbosity:
            self.stdout.write(f"Delivering email for {len(departments)} department(s)...")
        down: set[str] = set()
        pruned_at = 0.0
        while not stop.is_set():
            if time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                pruned_at = time.monotonic()
                self.prune(departments)
            results = deliver_pass(departments, batch_size=batch_size)
            for result in results:
                if result.claimed and self.verbosity:
                    self.stdout.write(self.describe(result))
                # Say so once when a department goes down and once when it is back.
                if result.error and result.department.slug not in down:
                    down.add(result.department.slug)
                    self.stderr.write(self.describe(result))
                elif not result.error and result.department.slug in down:
                    down.discard(result.department.slug)
                    self.stdout.write(self.style.SUCCESS(f"{result.department.label}: back"))
            if heartbeat.name:
                heartbeat.touch()
            if not any(r.claimed >= batch_size for r in results):
                stop.wait(interval)
                # Between passes, like between requests: connections past CONN_MAX_AGE or
                # broken by an outage are dropped and made afresh.
                close_old_connections()

    def prune(self, departments) -> None:
        """Sent mail past its keeping time goes; a department that is down waits a turn."""
        for department in departments:
            try:
                deleted = prune_sent(department)
            except DepartmentUnavailable:
                continue  # reported by the delivery pass that follows
            if deleted and self.verbosity:
                self.stdout.write(f"{department.label}: {deleted} sent email(s) pruned")

    def describe(self, result: BatchResult) -> str:
        label = result.department.label
        if result.error:
            return self.style.ERROR(f"{label}: database unavailable, mail waits ({result.error})")
        parts = [f"{result.sent} sent"]
        if result.retrying:
            parts.append(f"{result.retrying} to retry")
        if result.failed:
            parts.append(self.style.ERROR(f"{result.failed} failed"))
        if result.no_recipients:
            parts.append(f"{result.no_recipients} with no recipients")
        return self.style.SUCCESS(f"{label}: ") + ", ".join(parts)

    def report(self, results: list[BatchResult]) -> None:
        for result in results:
            if result.error:
                self.stderr.write(self.describe(result))
            elif self.verbosity and (result.claimed or self.verbosity > 1):
                self.stdout.write(self.describe(result))
        down = [r.department.label for r in results if r.error]
        if down:
            raise CommandError(
                f"Could not read the outbox of {', '.join(down)}; their mail waits. Check the "
                f"database(s) (/healthz) and run again.",
                returncode=EXIT_SOME_FAILED,
            )
