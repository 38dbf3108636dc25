"""Show where every department database stands: reachable, applied / total, pending migrations."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from departments import ops
from departments.management.base import DepartmentCommand, format_table, name_list
from departments.ops import MigrationStatus


class Command(DepartmentCommand):
    help = (
        "List every department database (or the ones selected) with its backend, whether it "
        "can be reached, how many department migrations are applied and which are pending. "
        "Exit status: 0 every selected department was reached; 2 bad usage; 3 some department "
        "could not be reached or read (it is listed as such)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--format",
            choices=["table", "json"],
            default="table",
            dest="output_format",
            help="table (default, for people) or json (for scripts).",
        )

    def handle(self, *args, aliases, slugs, parallel, output_format, **options):
        departments = self.selected_departments(aliases=aliases, slugs=slugs)
        disk = self.disk_migrations()
        statuses: list[MigrationStatus] = self.run_departments(
            ops.department_migration_status,
            departments,
            parallel=parallel,
            crashed=MigrationStatus.crashed,
            # Reading a few rows is I/O: threads do it all, no worker process is needed.
            probe=ops.department_migration_status,
            disk=disk,
        )
        if output_format == "json":
            self.write_json(statuses, disk)
        else:
            self.write_table(statuses)
        troubled = [s.department.slug for s in statuses if s.error]
        if troubled:
            raise CommandError(
                f"{len(troubled)} of {len(statuses)} department(s) could not be read: "
                f"{name_list(troubled)}.",
                returncode=ops.EXIT_SOME_FAILED,
            )

    def write_json(self, statuses: list[MigrationStatus], disk: ops.DiskMigrations) -> None:
        # Unknown is null, not an empty list: an unreachable department has not "nothing pending".
        document = {
            "migrations": list(disk.names),
            "departments": [
                {
                    "department": s.department.slug,
                    "label": s.department.label,
                    "alias": s.department.alias,
                    "backend": s.backend,
                    "reachable": s.reachable,
                    "error": s.error or None,
                    "applied": None if s.error else list(s.applied),
                    "pending": None if s.error else list(s.pending),
                    "applied_count": None if s.error else len(s.applied),
                    "total": len(disk.names) if s.error else s.total,
                }
                for s in statuses
            ],
        }
        self.stdout.write(json.dumps(document, indent=2))

    def write_table(self, statuses: list[MigrationStatus]) -> None:
        rows = []
        for s in statuses:
            if s.error:
                reachable = "yes, but unreadable" if s.reachable else "no"
                rows.append([s.department.slug, s.department.alias, s.backend, reachable, "?", "?"])
                continue
            rows.append(
                [
                    s.department.slug,
                    s.department.alias,
                    s.backend,
                    "yes",
                    f"{len(s.applied)}/{s.total}",
                    ", ".join(s.pending) or "-",
                ]
            )
        headers = ["department", "alias", "backend", "reachable", "applied", "pending"]
        for i, line in enumerate(format_table(headers, rows)):
            failed = i >= 2 and bool(statuses[i - 2].error)
            self.stdout.write(line, self.style.ERROR if failed else None)
        for s in statuses:
            if s.error:
                self.stderr.write(f"{s.department.slug}: {s.error}", self.style.ERROR)
