"""Recount the dashboard's per-(status, priority) ticket counts from the tickets themselves.

The counts are kept exact by every service write; this repairs them after hand edits, restores
or bulk loads. One department failing never stops the others.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from departments.registry import UnknownDepartment, all_departments, get_department
from tickets.services import ticket_counts_rebuild

EXIT_SOME_FAILED = 3


class Command(BaseCommand):
    help = "Rebuild the ticket counts the dashboard reads, in every department (or those named)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--department",
            action="append",
            default=[],
            metavar="SLUG",
            help="Only this department (its slug, e.g. account-billing); repeatable.",
        )

    def handle(self, *args, department, verbosity, **options):
        try:
            departments = [get_department(slug) for slug in department] or all_departments()
        except UnknownDepartment as exc:
            valid = ", ".join(d.slug for d in all_departments())
            raise CommandError(f"Unknown department {exc.args[0]!r}. Valid: {valid}.") from None
        failed = []
        for dept in departments:
            try:
                counts = ticket_counts_rebuild(department=dept)
            except DatabaseError as exc:
                failed.append(dept)
                self.stderr.write(self.style.ERROR(f"{dept.label}: {exc}"))
                continue
            total = sum(counts.values())
            self.stdout.write(
                self.style.SUCCESS(f"{dept.label}: ")
                + f"{total:,} ticket{'s' if total != 1 else ''} recounted"
            )
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(departments)} department(s) could not be recounted: "
                f"{', '.join(d.label for d in failed)}. Check their databases and run again.",
                returncode=EXIT_SOME_FAILED,
            )
