"""Apply the shared department migrations to every department database (or the ones selected).

One department failing never stops the others; the exit status says whether all succeeded.
"""

from __future__ import annotations

from functools import partial

from django.core.management.base import CommandError

from departments import ops
from departments.management.base import EXIT_CODES_HELP, DepartmentChangeCommand, name_list
from departments.ops import DepartmentResult, Outcome


class Command(DepartmentChangeCommand):
    help = (
        "Apply migrations_departments/ to every department database, or to the ones selected "
        "with --database / --department. Departments already up to date are skipped. "
        + EXIT_CODES_HELP
    )
    done_verb = "applied"
    plan_verb = "would apply"
    outcome_words = {
        Outcome.DONE: "migrated",
        Outcome.NOTHING_TO_DO: "up to date",
        Outcome.PENDING: "with unapplied migrations",
    }

    def add_arguments(self, parser):
        super().add_arguments(parser)
        self.add_change_arguments(parser)
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; exit with status 4 if any selected department has unapplied "
            "migrations (for CI and deploy gates).",
        )
        parser.add_argument(
            "--create-missing",
            action="store_true",
            help="Create department databases that do not exist yet (the SQLite file and its "
            "folder, the PostgreSQL database, the MySQL/MariaDB database in utf8mb4), then "
            "migrate them. Without it a missing database is reported as a failure.",
        )

    def handle(self, *args, aliases, slugs, parallel, interactive, force, plan, check, **options):
        departments = self.selected_departments(aliases=aliases, slugs=slugs)
        disk = self.disk_migrations()
        read_only = plan or check
        if not read_only:
            self.confirm(
                question=f"Apply department migrations to {len(departments)} department "
                f"database(s) with DEBUG off:",
                departments=departments,
                interactive=interactive,
                force=force,
            )
        results: list[DepartmentResult] = self.run_departments(
            ops.department_migrate,
            departments,
            parallel=parallel,
            crashed=DepartmentResult.crashed,
            progress_line=self.progress_line,
            probe=partial(ops.department_migrate, probe=True),
            disk=disk,
            fake=options["fake"],
            plan_only=read_only,
            create_missing=options["create_missing"],
        )
        if read_only:
            self.write_plan_details(results)
        self.write_summary(results, heading="to apply" if read_only else "applied")
        self.raise_for_failures(results, action="be checked" if read_only else "be migrated")
        pending = [r for r in results if r.outcome is Outcome.PENDING]
        if check and pending:
            to_create = " --create-missing" if any(r.notice for r in pending) else ""
            raise CommandError(
                f"{len(pending)} department(s) have unapplied migrations: "
                f"{name_list([r.department.slug for r in pending])}. "
                f"Run 'python manage.py migrate_departments{to_create}' to apply them.",
                returncode=ops.EXIT_PENDING,
            )
