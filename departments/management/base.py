"""What the ``*_departments`` commands share: selection, confirmation, parallel runs, reports."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.migrations.loader import MigrationLoader

from departments import ops
from departments.ops import DepartmentResult, DiskMigrations, Outcome
from departments.registry import Department, is_department_alias, registry

EXIT_CODES_HELP = (
    "Exit status: 0 every selected department succeeded (or had nothing to do); 1 cancelled at "
    "the confirmation prompt; 2 bad usage (unknown department, alias or migration name); "
    "3 at least one department failed (the others still ran); 4 --check found unapplied "
    "migrations."
)


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return number


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain aligned columns (the last one unpadded, so long error messages do not widen it)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        return "  ".join([*padded, cells[-1]]).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def name_list(names: Sequence[str], *, limit: int = 10) -> str:
    """``a, b, c`` or, for a hundred departments, ``a, b, ... and 90 more``."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


def seconds(duration: float) -> str:
    return f"{duration:.2f} s"


class DepartmentCommand(BaseCommand):
    """Base for commands that act on every department database or on the ones selected."""

    verbosity = 1

    def execute(self, *args, **options):
        self.verbosity = options.get("verbosity", 1)
        return super().execute(*args, **options)

    def add_arguments(self, parser):
        parser.add_argument(
            "--database",
            action="append",
            dest="aliases",
            default=[],
            metavar="ALIAS",
            help="Only this department database alias, e.g. account_billing_department "
            "(repeatable; combines with --department).",
        )
        parser.add_argument(
            "--department",
            action="append",
            dest="slugs",
            default=[],
            metavar="SLUG",
            help="Only this department, e.g. account-billing (repeatable).",
        )
        parser.add_argument(
            "--parallel",
            type=positive_int,
            default=ops.default_parallel(),
            metavar="N",
            help="Work on N departments at once, each in its own process "
            "(default: the number of CPU cores, %(default)s here; 1 runs them one by one).",
        )

    def add_change_arguments(self, parser) -> None:
        """Options of the commands that change databases (migrate, rollback)."""
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Never prompt (with DEBUG off the command otherwise asks for confirmation).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run without asking for confirmation even with DEBUG off (same as --noinput).",
        )
        parser.add_argument(
            "--plan",
            action="store_true",
            help="Only show, per department, which migrations would run; change nothing.",
        )
        parser.add_argument(
            "--fake",
            action="store_true",
            help="Record the migrations as applied (or unapplied) without running their SQL.",
        )

    # --- selection ------------------------------------------------------------------------

    def selected_departments(self, *, aliases: list[str], slugs: list[str]) -> list[Department]:
        """The departments named by --database / --department, or all of them, in config order."""
        departments = registry()
        if not len(departments):
            raise CommandError(
                "No department databases are configured: set <NAME>_DEPARTMENT_DATABASE_URL "
                "(see .env.example).",
                returncode=ops.EXIT_USAGE,
            )
        problems = []
        for alias in dict.fromkeys(aliases):
            if alias in departments.by_alias:
                continue
            if alias in settings.DATABASES and not is_department_alias(alias):
                problems.append(
                    f"{alias!r} is not a department database (use 'manage.py migrate' for it)."
                )
            else:
                problems.append(f"Unknown department database {alias!r}.")
        unknown_slugs = [slug for slug in dict.fromkeys(slugs) if slug not in departments.by_slug]
        problems += [f"Unknown department {slug!r}." for slug in unknown_slugs]
        if problems:
            valid_aliases = ", ".join(departments.aliases)
            valid_slugs = ", ".join(d.slug for d in departments)
            raise CommandError(
                " ".join(problems)
                + f" Valid --database aliases: {valid_aliases}. "
                + f"Valid --department slugs: {valid_slugs}.",
                returncode=ops.EXIT_USAGE,
            )
        if not aliases and not slugs:
            return list(departments)
        wanted = set(aliases) | {departments.get(slug).alias for slug in slugs}
        return [d for d in departments if d.alias in wanted]

    def disk_migrations(self) -> DiskMigrations:
        """The department migrations on disk, read once (``self.loader`` keeps the graph)."""
        self.loader = MigrationLoader(None, ignore_no_migrations=True)
        try:
            return ops.disk_migrations(self.loader)
        except ops.MigrationConflict as exc:
            raise CommandError(str(exc), returncode=ops.EXIT_USAGE) from None

    # --- confirmation ---------------------------------------------------------------------

    def confirm(
        self, *, question: str, departments: Sequence[Department], interactive: bool, force: bool
    ) -> None:
        """With DEBUG off (production), ask before changing databases unless told not to."""
        if settings.DEBUG or force or not interactive:
            return
        self.stdout.write(self.style.WARNING(question))
        for department in departments:
            self.stdout.write(f"  {department.label} ({department.alias})")
        try:
            answer = input("Type 'yes' to continue, anything else to cancel: ")
        except EOFError:  # no terminal (a deploy script): not a yes
            answer = ""
        if answer.strip().lower() != "yes":
            raise CommandError(
                "Cancelled; nothing was changed. Use --noinput or --force to run without asking.",
                returncode=ops.EXIT_CANCELLED,
            )

    # --- running and reporting ------------------------------------------------------------

    def run_departments(
        self,
        task: Callable[..., Any],
        departments: Sequence[Department],
        *,
        parallel: int,
        crashed: Callable[[Department, str], Any],
        progress_line: Callable[[Any], tuple[str, bool]] | None = None,
        probe: Callable[..., Any] | None = None,
        **task_kwargs: Any,
    ) -> list[Any]:
        """Run ``task`` per department; with ``progress_line`` print one line as each finishes."""
        width = len(str(len(departments)))

        def report(result: Any, done: int, total: int) -> None:
            if progress_line is None:
                return
            text, failed = progress_line(result)
            if failed:
                self.stderr.write(f"[{done:>{width}}/{total}] {text}", self.style.ERROR)
            elif self.verbosity >= 1:
                self.stdout.write(f"[{done:>{width}}/{total}] {text}")
                self.stdout.flush()

        return ops.departments_run(
            task,
            departments,
            parallel=parallel,
            crashed=crashed,
            on_result=report,
            probe=probe,
            **task_kwargs,
        )


class DepartmentChangeCommand(DepartmentCommand):
    """migrate_departments and rollback_departments: same reporting, different verbs."""

    done_verb = "applied"  # "applied 0001_initial, 0002_..."
    plan_verb = "would apply"
    outcome_words = {Outcome.DONE: "migrated", Outcome.NOTHING_TO_DO: "up to date"}

    def result_text(self, result: DepartmentResult) -> str:
        names = ", ".join(result.migrations)
        outcome = result.outcome
        if outcome is Outcome.DONE:
            text = f"{self.done_verb} {names}"
            if result.notice:
                text += f" ({result.notice})"
        elif outcome is Outcome.PENDING:
            text = f"{self.plan_verb} {names}"
            if result.notice:
                text = f"{result.notice}; {text}"
        elif outcome is Outcome.NOTHING_TO_DO:
            text = result.notice or "nothing to do"
        elif outcome is Outcome.FAILED and result.failed_migration:
            text = f"FAILED at {result.failed_migration}: {result.error}"
            if result.migrations:
                text += f" ({self.done_verb} before that: {names})"
        else:
            text = f"{outcome.value.upper()}: {result.error}"
        if result.created:
            text = f"created the database; {text}"
        return text

    def progress_line(self, result: DepartmentResult) -> tuple[str, bool]:
        department = result.department
        text = f"{department.label} ({department.slug}): {self.result_text(result)}"
        return f"{text} [{seconds(result.duration)}]", result.outcome.is_failure

    def write_plan_details(
        self, results: Sequence[DepartmentResult], *, undo: bool = False
    ) -> None:
        """At verbosity 2, the operations of every migration a plan would run."""
        if self.verbosity < 2:
            return
        nodes = {ops.label(key): node for key, node in self.loader.graph.nodes.items()}
        planned = (r for r in results if r.outcome is Outcome.PENDING)
        for name in dict.fromkeys(name for r in planned for name in r.migrations):
            migration = nodes.get(name)
            if migration is None:
                continue
            self.stdout.write(self.style.MIGRATE_HEADING(name))
            for operation in migration.operations:
                self.stdout.write(f"    {'Undo ' if undo else ''}{operation.describe()}")

    def write_summary(self, results: Sequence[DepartmentResult], *, heading: str) -> None:
        if self.verbosity < 1 or not results:
            return
        rows = []
        for result in results:
            if result.outcome.is_failure:
                status = self.result_text(result)
            elif result.outcome is Outcome.DONE:
                status = "ok" + (" (created)" if result.created else "")
            else:
                status = result.notice or result.outcome.value
                if result.created:
                    status = f"created; {status}"
            rows.append(
                [
                    result.department.slug,
                    ", ".join(result.migrations) or "-",
                    seconds(result.duration),
                    status,
                ]
            )
        self.stdout.write("")
        for i, line in enumerate(format_table(["department", heading, "time", "result"], rows)):
            failed = i >= 2 and results[i - 2].outcome.is_failure
            self.stdout.write(line, self.style.ERROR if failed else None)
        counts: dict[str, int] = {}
        for result in results:
            word = self.outcome_words.get(result.outcome, result.outcome.value)
            counts[word] = counts.get(word, 0) + 1
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        self.stdout.write(f"{len(results)} department(s): {summary}.")

    def raise_for_failures(self, results: Sequence[DepartmentResult], *, action: str) -> None:
        failed = [r for r in results if r.outcome.is_failure]
        if not failed:
            return
        others = len(results) - len(failed)
        raise CommandError(
            f"{len(failed)} of {len(results)} department(s) could not {action}: "
            f"{name_list([r.department.slug for r in failed])} (details above)."
            + (f" The other {others} ran." if others else "")
            + " Fix the cause and run the command again; departments already done are skipped.",
            returncode=ops.EXIT_SOME_FAILED,
        )
