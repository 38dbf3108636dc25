"""Add N believable tickets across departments, fast (for demos and the dashboard benchmark)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.db.models import Q

from departments.registry import UnknownDepartment, all_departments, get_department
from tickets.seed import seed_tickets

EXIT_FAILED = 3


class Command(BaseCommand):
    help = (
        "Add --tickets N generated tickets spread evenly over every department (or those "
        "named), with their events and exact counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--tickets", type=int, required=True, help="How many tickets to add in total."
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="Random seed, for repeatable data."
        )
        parser.add_argument(
            "--department",
            action="append",
            default=[],
            metavar="SLUG",
            help="Only this department (its slug); repeatable.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=20_000,
            help="Rows per insert batch (default 20,000).",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=2,
            help="Departments seeded at once, each in its own transaction (default 2: one "
            "generates rows while another's database builds indexes).",
        )

    def handle(self, *args, tickets, seed, department, batch_size, jobs, verbosity, **options):
        if tickets < 0:
            raise CommandError("--tickets must be 0 or more.", returncode=2)
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        if jobs < 1:
            raise CommandError("--jobs must be at least 1.", returncode=2)
        try:
            departments = [get_department(slug) for slug in department] or all_departments()
        except UnknownDepartment as exc:
            valid = ", ".join(d.slug for d in all_departments())
            raise CommandError(
                f"Unknown department {exc.args[0]!r}. Valid: {valid}.", returncode=2
            ) from None
        if not departments:
            raise CommandError("No departments are configured.", returncode=2)

        def progress(dept, done):
            if verbosity >= 2:
                self.stdout.write(f"  {dept.label}: {done:,}")

        try:
            result = seed_tickets(
                departments=departments,
                total=tickets,
                seed=seed,
                batch_size=batch_size,
                assignee_ids=staff_ids(departments),
                progress=progress,
                jobs=jobs,
            )
        except DatabaseError as exc:
            raise CommandError(
                f"Seeding failed: {exc}. Run migrate_departments first if tables are missing.",
                returncode=EXIT_FAILED,
            ) from exc
        by_slug = {d.slug: d for d in departments}
        for slug, count in result.created.items():
            self.stdout.write(f"{by_slug[slug].label}: {count:,} tickets added")
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.total:,} tickets in {result.seconds:.1f} s ({result.rate:,.0f} rows/s)."
            )
        )


def staff_ids(departments) -> dict[str, list[int]]:
    """Who generated tickets may be assigned to: each department's members and superadmins."""
    from accounts.models import Role

    users = get_user_model().objects.filter(is_active=True)
    supers = list(users.filter(role=Role.SUPERADMIN).values_list("pk", flat=True))
    return {
        d.slug: sorted(
            set(supers)
            | set(users.filter(Q(memberships__department=d.slug)).values_list("pk", flat=True))
        )
        for d in departments
    }
