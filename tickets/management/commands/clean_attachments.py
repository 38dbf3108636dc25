"""Find stored attachment objects without a row and rows without their object, per department;
report them, or delete them with ``--delete``. One department failing never stops the others.

Exit status: 0 nothing found (or everything found was deleted); 1 something found and not
deleted (a report run) or a deletion failed; 3 a department's database or storage could not be
read.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from departments.errors import DepartmentUnavailable
from departments.registry import UnknownDepartment, all_departments, get_department
from tickets.attachments.audit import attachments_audit

EXIT_FOUND = 1
EXIT_SOME_FAILED = 3
_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Report stored attachment objects with no row and rows with no object, per department; "
        "--delete removes them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--department",
            action="append",
            default=[],
            metavar="SLUG",
            help="Only this department (its slug, e.g. account-billing); repeatable.",
        )
        parser.add_argument(
            "--delete",
            action="store_true",
            help="Delete objects that have no row and rows whose object is gone.",
        )
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            metavar="SECONDS",
            help="Leave objects younger than this alone: their upload may still be committing "
            f"(default {settings.HELPDESK_ATTACHMENT_ORPHAN_GRACE_SECONDS}, "
            "HELPDESK_ATTACHMENT_ORPHAN_GRACE_SECONDS).",
        )

    def handle(self, *args, department, delete, grace, verbosity, **options):
        try:
            departments = [get_department(slug) for slug in department] or all_departments()
        except UnknownDepartment as exc:
            valid = ", ".join(d.slug for d in all_departments())
            raise CommandError(f"Unknown department {exc.args[0]!r}. Valid: {valid}.") from None
        window = None if grace is None else timedelta(seconds=grace)
        failed, found, undeleted = [], 0, 0
        for dept in departments:
            try:
                result = attachments_audit(dept, delete=delete, grace=window)
            except DepartmentUnavailable as exc:
                failed.append(dept)
                self.stderr.write(self.style.ERROR(f"{dept.label}: database unavailable ({exc})"))
                continue
            except Exception as exc:  # the storage: botocore, OSError, ...
                failed.append(dept)
                self.stderr.write(self.style.ERROR(f"{dept.label}: storage failed ({exc!r})"))
                continue
            found += len(result.orphan_objects) + len(result.missing_objects)
            undeleted += len(result.failed)
            if result.rows_kept:
                undeleted += len(result.missing_objects)
                self.stderr.write(
                    self.style.ERROR(f"{dept.label}: rows without their object kept: ")
                    + result.rows_kept
                )
            self._report(result, delete=delete, verbosity=verbosity)
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(departments)} department(s) could not be checked: "
                f"{', '.join(d.label for d in failed)}. Check their databases and storage, "
                "then run again.",
                returncode=EXIT_SOME_FAILED,
            )
        if undeleted:
            raise CommandError(
                f"{undeleted} object(s) could not be deleted; see the log and run again.",
                returncode=EXIT_FOUND,
            )
        if found and not delete:
            raise CommandError(
                f"{found} problem(s) found. Run again with --delete to remove them.",
                returncode=EXIT_FOUND,
            )

    def _report(self, result, *, delete: bool, verbosity: int) -> None:
        label = result.department.label
        summary = f"{result.objects:,} objects, {result.rows:,} rows"
        if result.too_young:
            summary += f", {result.too_young:,} new objects left alone"
        if result.clean:
            self.stdout.write(self.style.SUCCESS(f"{label}: ") + f"{summary}, nothing to clean")
            return
        if delete:
            self.stdout.write(
                self.style.WARNING(f"{label}: ")
                + f"{summary}; deleted {result.deleted_objects:,} objects without a row and "
                f"{result.deleted_rows:,} rows without their object"
            )
        else:
            self.stdout.write(
                self.style.WARNING(f"{label}: ")
                + f"{summary}; {len(result.orphan_objects):,} objects without a row, "
                f"{len(result.missing_objects):,} rows without their object"
            )
        if verbosity >= 1:
            for key in result.orphan_objects[:_SHOWN]:
                self.stdout.write(f"  object without a row: {key}")
            for key in result.missing_objects[:_SHOWN]:
                self.stdout.write(f"  row without its object: {key}")
