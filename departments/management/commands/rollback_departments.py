"""Undo department migrations on every department database (or the ones selected).

Rolling back deletes what the undone migrations created (tables and their tickets): the prompt
with DEBUG off says so. A department with nothing to undo is a no-op, not an error.
"""

from __future__ import annotations

from django.core.management.base import CommandError

from departments import ops
from departments.management.base import EXIT_CODES_HELP, DepartmentChangeCommand, positive_int
from departments.ops import DepartmentResult, Outcome


class Command(DepartmentChangeCommand):
    help = (
        "Undo department migrations: the latest applied one (default), the latest N with "
        "--steps N, back to a named migration with --to, or all with --all. Same selection, "
        "parallelism, confirmation and report as migrate_departments. " + EXIT_CODES_HELP
    )
    done_verb = "rolled back"
    plan_verb = "would roll back"
    outcome_words = {
        Outcome.DONE: "rolled back",
        Outcome.NOTHING_TO_DO: "nothing to roll back",
        Outcome.PENDING: "to roll back",
    }

    def add_arguments(self, parser):
        super().add_arguments(parser)
        self.add_change_arguments(parser)
        target = parser.add_mutually_exclusive_group()
        target.add_argument(
            "--steps",
            type=positive_int,
            metavar="N",
            help="Undo the latest N applied department migrations (default 1).",
        )
        target.add_argument(
            "--to",
            metavar="MIGRATION",
            help="Undo every migration after this one, e.g. --to 0001_initial (a unique prefix "
            "such as 0001 works; 'zero' is the same as --all).",
        )
        target.add_argument(
            "--all",
            action="store_true",
            dest="everything",
            help="Undo every department migration (drops all ticket tables).",
        )

    def handle(self, *args, aliases, slugs, parallel, interactive, force, plan, **options):
        departments = self.selected_departments(aliases=aliases, slugs=slugs)
        disk = self.disk_migrations()
        steps, to = options["steps"], options["to"]
        if to == "zero" or options["everything"]:
            steps = to = None
            what = "every department migration (all ticket tables and their data are dropped)"
        elif to is not None:
            try:
                to = disk.resolve(to)
            except LookupError as exc:
                raise CommandError(f"--to {exc}", returncode=ops.EXIT_USAGE) from None
            what = f"the migrations after {to} (what they created is dropped)"
        else:
            steps = steps or 1
            what = f"the latest {steps} applied migration(s) (what they created is dropped)"
        if not plan:
            self.confirm(
                question=f"Roll back {what} in {len(departments)} department database(s) "
                f"with DEBUG off:",
                departments=departments,
                interactive=interactive,
                force=force,
            )
        results: list[DepartmentResult] = self.run_departments(
            ops.department_rollback,
            departments,
            parallel=parallel,
            crashed=DepartmentResult.crashed,
            progress_line=self.progress_line,
            disk=disk,
            steps=steps,
            to=to,
            fake=options["fake"],
            plan_only=plan,
        )
        if plan:
            self.write_plan_details(results, undo=True)
        self.write_summary(results, heading="to roll back" if plan else "rolled back")
        self.raise_for_failures(results, action="be checked" if plan else "be rolled back")
