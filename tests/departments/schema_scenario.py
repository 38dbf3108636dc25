"""Run in a subprocess by test_postgres_schemas: departments as schemas of one database.

The environment names five departments in one PostgreSQL database, one schema each. This
migrates them, seeds tickets, and checks the one-statement engine against the per-department
merge and a Python sort. Exit code 0: all agree.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
    from django.core.management import call_command

    from departments.fanout import plan_groups
    from departments.registry import all_departments
    from tests.dashboard_data import all_rows, reference_filter, reference_order
    from tickets.dashboard import SORT_KEYS, TicketFilters, TicketQuery, run
    from tickets.seed import seed_tickets

    call_command("migrate", verbosity=0)
    departments = all_departments()
    for department in departments:
        call_command("migrate", "tickets", database=department.alias, verbosity=0)
    seed_tickets(departments=departments, total=150, seed=4, assignee_ids={})
    groups = plan_groups(departments)
    assert [len(g.departments) for g in groups] == [5], groups
    everything = all_rows()
    assert len(everything) == 150
    failures = 0
    for sort in SORT_KEYS:
        for descending in (False, True):
            for filters in (TicketFilters(), TicketFilters(statuses=("open", "closed"))):
                query = TicketQuery(tuple(departments), filters, sort, descending)
                expected = [
                    (r["department"].slug, r["ticket"].pk)
                    for r in reference_order(
                        reference_filter(everything, filters, departments), sort, descending
                    )
                ]
                for single in (True, False):
                    result = run(query, limit=500, count=True, single_statement=single)
                    got = [(r.department.slug, r.id) for r in result.rows]
                    page = run(query, limit=9, offset=20, single_statement=single)
                    ok = (
                        got == expected
                        and result.count.value == len(expected)
                        and [(r.department.slug, r.id) for r in page.rows] == expected[20:29]
                        and not result.unavailable
                    )
                    if not ok:
                        failures += 1
                        print(f"MISMATCH sort={sort} desc={descending} single={single}")
    from departments.fanout import shutdown_workers

    shutdown_workers()
    print("schema scenario:", "ok" if not failures else f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
