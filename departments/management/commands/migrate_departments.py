"""Apply the shared department migrations to every department database.

One department failing never stops the others; the exit code says whether all succeeded.
"""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from departments.registry import all_departments, registry

EXIT_SOME_FAILED = 3


class Command(BaseCommand):
    help = "Apply migrations_departments/ to every department database (or the ones named)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--database",
            action="append",
            dest="aliases",
            default=[],
            metavar="ALIAS",
            help="Only this department alias (repeatable).",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not prompt.",
        )

    def handle(self, *args, aliases, verbosity, **options):
        if aliases:
            unknown = sorted(set(aliases) - set(registry().aliases))
            if unknown:
                raise CommandError(
                    f"Unknown department database {', '.join(unknown)}. "
                    f"Valid: {', '.join(registry().aliases)}."
                )
            departments = [registry().for_alias(alias) for alias in aliases]
        else:
            departments = all_departments()

        failed = []
        for department in departments:
            out = StringIO()
            try:
                call_command(
                    "migrate",
                    "tickets",
                    database=department.alias,
                    interactive=False,
                    verbosity=1,
                    stdout=out,
                )
            except Exception as exc:  # one department's failure must not stop the others
                failed.append(department)
                self.stderr.write(self.style.ERROR(f"{department.label}: {exc}"))
                continue
            applied = out.getvalue().count("Applying ")
            self.stdout.write(
                self.style.SUCCESS(f"{department.label}: ")
                + (f"applied {applied} migration(s)" if applied else "up to date")
            )
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(departments)} department(s) failed: "
                f"{', '.join(d.label for d in failed)}.",
                returncode=EXIT_SOME_FAILED,
            )
