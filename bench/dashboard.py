"""Dashboard benchmark: our engine against the naive UNION ALL baseline, in the same run.

    python bench/dashboard.py --backend sqlite --tickets 1000000
    python bench/dashboard.py --backend postgres --tickets 1000000          # separate databases
    python bench/dashboard.py --backend postgres-schemas --tickets 1000000  # schemas of one DB
    python bench/dashboard.py --backend mariadb --tickets 1000000

It creates a scratch set of five department databases (and a scratch system database), seeds
them with ``seed_tickets`` unless they already hold enough tickets (``--name`` + ``--keep`` reuse
a set between runs), then times, through the same code as the view (``dashboard_table``), the
reads a dashboard request needs, and a naive baseline for the same page: one UNION ALL subquery
over every department + COUNT(*) of it + the filtered COUNT + ORDER BY .. LIMIT/OFFSET. Finally
a full HTTP request through Django's test client. It never touches databases it did not create,
and drops them at the end unless ``--keep``.

Timings on a shared 2-core machine are noisy; read ratios rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEPARTMENTS = (
    "TECHNICAL_ISSUES",
    "ACCOUNT_BILLING",
    "PRODUCT_SERVICE",
    "GENERAL_INQUIRY",
    "FEEDBACK_SUGGESTIONS",
)
PG_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
MARIADB_SERVER = os.environ.get("BENCH_MARIADB_URL", "mysql://root@127.0.0.1:3306")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgres", "postgres-schemas", "mariadb"],
        default="sqlite",
    )
    parser.add_argument("--tickets", type=int, default=100_000, help="Tickets over 5 departments.")
    parser.add_argument("--name", default="", help="Scratch set name (reuse with --keep).")
    parser.add_argument("--keep", action="store_true", help="Do not drop the scratch databases.")
    parser.add_argument("--repeat", type=int, default=25, help="Timed runs per case (ours).")
    parser.add_argument(
        "--naive-repeat", type=int, default=5, help="Timed runs per case (naive baseline)."
    )
    parser.add_argument(
        "--naive-budget",
        type=float,
        default=60.0,
        help="Stop timing the naive baseline of a case after this many seconds.",
    )
    parser.add_argument("--no-naive", action="store_true", help="Skip the naive baseline.")
    parser.add_argument(
        "--search-scan",
        action="store_true",
        help="Ignore the text-search indexes (SQLite FTS5, MariaDB FULLTEXT): the old scan.",
    )
    parser.add_argument("--cases", default="", help="Comma-separated case names to run only.")
    return parser.parse_args()


# --- Scratch databases -------------------------------------------------------------------------


class Scratch:
    def __init__(self, backend: str, name: str):
        self.backend = backend
        self.name = name
        self.dir = Path(tempfile.gettempdir()) / f"hd-bench-{name}"

    def environ(self) -> dict[str, str]:
        env = {
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "HELPDESK_EMBEDDED_DEPARTMENTS": "false",
            "HELPDESK_DATA_DIR": str(self.dir),
            "DATABASE_URL": f"sqlite:///{self.dir / 'system.sqlite3'}",
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "testserver,localhost",
            "DJANGO_LOG_LEVEL": "ERROR",
        }
        for dept in DEPARTMENTS:
            key = f"{dept}_DEPARTMENT_DATABASE_URL"
            if self.backend == "sqlite":
                env[key] = f"sqlite:///{self.dir / dept.lower()}.sqlite3"
            elif self.backend == "postgres":
                env[key] = f"{PG_SERVER}/hdbench_{self.name}_{dept.lower()}"
            elif self.backend == "postgres-schemas":
                env[key] = f"{PG_SERVER}/hdbench_{self.name}"
                env[f"{dept}_DEPARTMENT_SCHEMA"] = dept.lower()
            else:
                env[key] = f"{MARIADB_SERVER}/hdbench_{self.name}_{dept.lower()}"
        return env

    def databases(self) -> list[str]:
        if self.backend == "postgres":
            return [f"hdbench_{self.name}_{d.lower()}" for d in DEPARTMENTS]
        if self.backend == "postgres-schemas":
            return [f"hdbench_{self.name}"]
        if self.backend == "mariadb":
            return [f"hdbench_{self.name}_{d.lower()}" for d in DEPARTMENTS]
        return []

    def create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.backend.startswith("postgres"):
            import psycopg

            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
                for db in self.databases():
                    if db not in existing:
                        conn.execute(f'CREATE DATABASE "{db}"')
            if self.backend == "postgres-schemas":
                with psycopg.connect(f"{PG_SERVER}/{self.databases()[0]}", autocommit=True) as c:
                    for dept in DEPARTMENTS:
                        c.execute(f'CREATE SCHEMA IF NOT EXISTS "{dept.lower()}"')
        elif self.backend == "mariadb":
            import MySQLdb

            conn = MySQLdb.connect(host="127.0.0.1", user="root", port=3306)
            for db in self.databases():
                conn.cursor().execute(
                    f"CREATE DATABASE IF NOT EXISTS `{db}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            conn.close()

    def drop(self) -> None:
        from django.db import connections

        from departments.fanout import shutdown_workers

        shutdown_workers()
        connections.close_all()
        if self.backend.startswith("postgres"):
            import psycopg

            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                for db in self.databases():
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        elif self.backend == "mariadb":
            import MySQLdb

            conn = MySQLdb.connect(host="127.0.0.1", user="root", port=3306)
            for db in self.databases():
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
            conn.close()
        for path in sorted(self.dir.glob("*")):
            path.unlink()
        if self.dir.exists():
            self.dir.rmdir()


# --- Timing -------------------------------------------------------------------------------------


def timed(fn, repeat: int, budget: float = 1e9) -> list[float]:
    samples = []
    started = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - started > budget:
            break
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    name = args.name or secrets.token_hex(3)
    scratch = Scratch(args.backend, name)
    scratch.create()
    os.environ.update(scratch.environ())

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.core.management import call_command
    from django.test import RequestFactory

    from departments.registry import all_departments
    from tickets.models import Ticket

    print(f"# Dashboard benchmark: {args.backend}, {args.tickets:,} tickets, set {name!r}")
    try:
        call_command("migrate", verbosity=0)
        for dept in all_departments():
            call_command("migrate", "tickets", database=dept.alias, verbosity=0)
        have = sum(Ticket.objects.using(d.alias).count() for d in all_departments())
        if have < args.tickets:
            from tickets.seed import seed_tickets

            staff = {d.slug: list(range(1, 21)) for d in all_departments()}
            result = seed_tickets(
                departments=all_departments(),
                total=args.tickets - have,
                seed=1,
                assignee_ids=staff,
                jobs=2,
            )
            print(
                f"seeded {result.total:,} tickets in {result.seconds:.1f} s "
                f"({result.rate:,.0f} rows/s)"
            )
        else:
            print(f"reusing {have:,} tickets")
        _analyze(args.backend)
        run_cases(args, RequestFactory())
    finally:
        if args.keep:
            print(f"kept scratch set {name!r} (reuse: --name {name} --keep; drop: without --keep)")
        else:
            scratch.drop()


def _analyze(backend: str) -> None:
    from django.db import connections

    from departments.registry import all_departments

    for dept in all_departments():
        with connections[dept.alias].cursor() as cursor:
            if backend == "sqlite":
                cursor.execute("ANALYZE")
            elif backend.startswith("postgres"):
                cursor.execute("VACUUM ANALYZE tickets_ticket")
            else:
                cursor.execute("ANALYZE TABLE tickets_ticket")
                cursor.fetchall()


def cases(pages: dict[str, str]) -> list[tuple[str, str]]:
    from tickets.dashboard import SORT_KEYS

    found = [("default view", "")]
    for key in SORT_KEYS:
        found.append((f"sort {key} asc", f"sort={key}"))
        found.append((f"sort {key} desc", f"sort=-{key}"))
    found += [
        ("filter status=open", "status=open"),
        ("filter status=new,pending", "status=new&status=pending"),
        ("filter department=billing", "department=account-billing"),
        ("filter priority=urgent", "priority=4"),
        ("filter created last 30 days", f"created_from={pages['month_ago']}"),
        ("filter assignee=7", "assignee=7"),
        ("filter unassigned, sort updated", "assignee=none&sort=-updated"),
        ("search name 'patel'", "q=patel"),
        ("search name 'patel' sort subject", "q=patel&sort=subject"),
        ("search rare (4 chars of a reference)", f"q={pages['reference'][4:8]}"),
        ("search no match 'zzqx'", "q=zzqx"),
        ("search in every email 'example'", "q=example"),
        ("search 2 chars 'pa' (scan)", "q=pa"),
        ("search email", f"q={pages['email']}"),
        ("search reference", f"q={pages['reference']}"),
        ("page first", "sort=subject"),
        ("page next (keyset)", pages["next"]),
        ("page last", "sort=subject&page=last"),
        ("page middle (jump)", f"sort=subject&page={pages['middle']}"),
        ("page 40 (jump)", "sort=subject&page=40"),
        ("status+priority, page last", "status=open&priority=3&sort=-created&page=last"),
    ]
    return found


def run_cases(args, factory) -> None:
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from departments.registry import all_departments
    from tickets.models import Ticket
    from tickets.views.dashboard import dashboard_table

    User = get_user_model()
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"role": "superadmin", "is_active": True}
    )

    def request(query: str):
        req = factory.get("/dashboard/?" + query)
        req.user = admin
        return req

    if args.search_scan:
        from tickets.dashboard import search

        search.text_search_index = lambda department: None  # the pre-index behaviour
        print("Text-search indexes ignored (--search-scan): substring scans.")
    sample = Ticket.objects.using(all_departments()[1].alias).order_by("id")[1234]
    _filters, _data, table = dashboard_table(request("sort=subject"))
    pages = {
        "month_ago": (timezone.now() - timedelta(days=30)).date().isoformat(),
        "email": sample.customer_email,
        "reference": sample.reference,
        "next": f"sort=subject&page=2&after={table.page.next_cursor}",
        "middle": str(max(1, table.paginator.num_pages // 2)),
    }
    wanted = {c.strip() for c in args.cases.split(",") if c.strip()}
    rows = []
    ours_all, naive_all = [], []
    print()
    # "query" is the time inside the engine (every read the page needs, counts included: what
    # the naive baseline also does); "view path" adds the filter form and table set-up around it.
    import tickets.tables

    engine_run = tickets.tables.run
    inside: list[float] = []

    def timed_run(*a, **k):
        t0 = time.perf_counter()
        try:
            return engine_run(*a, **k)
        finally:
            inside.append((time.perf_counter() - t0) * 1000)

    tickets.tables.run = timed_run
    print(
        "| case | query median ms | query p95 ms | view path median ms | view path p95 ms "
        "| naive median ms | naive p95 ms | ratio (naive / query) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, query in cases(pages):
        if wanted and label not in wanted:
            continue

        missing = set()

        queries: list[float] = []

        def ours(query=query, missing=missing, queries=queries):
            inside.clear()
            _f, data, table = dashboard_table(request(query))
            # A department over its timeout is reported, not hidden: it shows in the table.
            missing.update(d.code for d in data.unavailable)
            list(table.page.object_list)
            queries.append(sum(inside))

        ours()  # warm caches and connections
        queries.clear()
        samples = timed(ours, args.repeat)
        if missing:
            label += f" (timed out: {', '.join(sorted(missing))})"
        naive_samples = []
        if not args.no_naive:
            naive = naive_reader(request(query), args.backend)
            naive_samples = timed(naive, args.naive_repeat, args.naive_budget)
        ours_med, ours_p95 = statistics.median(queries), p95(queries)
        line = (
            f"| {label} | {ours_med:.1f} | {ours_p95:.1f} | {statistics.median(samples):.1f} "
            f"| {p95(samples):.1f} |"
        )
        if naive_samples:
            naive_med = statistics.median(naive_samples)
            line += f" {naive_med:.0f} | {p95(naive_samples):.0f} | {naive_med / ours_med:.0f}x |"
            naive_all.append(naive_med)
        else:
            line += " – | – | – |"
        ours_all.append(ours_p95)
        rows.append(line)
        print(line, flush=True)

    if not wanted or any("jump" in w for w in wanted):
        deep_jumps(args)

    client = Client()
    client.force_login(admin)
    http = {}
    for label, query in [
        ("GET /dashboard/", ""),
        ("GET /dashboard/?sort=customer&page=last", "sort=customer&page=last"),
        ("GET /dashboard/?status=open&q=smith", "status=open&q=smith"),
        ("GET htmx partial, next page", pages["next"]),
    ]:
        headers = {"HTTP_HX_REQUEST": "true"} if "htmx" in label else {}

        def get(query=query, headers=headers):
            response = client.get("/dashboard/?" + query, **headers)
            assert response.status_code == 200

        get()
        samples = timed(get, args.repeat)
        http[label] = (statistics.median(samples), p95(samples))
    print()
    print("| full HTTP request (test client) | median ms | p95 ms |")
    print("| --- | ---: | ---: |")
    for label, (med, high) in http.items():
        print(f"| {label} | {med:.1f} | {high:.1f} |")
    print()
    print(f"worst query p95 of ours over all cases: {max(ours_all):.1f} ms")


def deep_jumps(args) -> None:
    """Rows the engine steps over to place the middle page, per sort: the issue's bound is the
    rows the page skips from its nearer end (min(k, pages - k) pages), where reading that many
    from every department and merging would step over departments x as many."""
    from departments.registry import all_departments
    from tickets.dashboard import SORT_KEYS, TicketQuery, run

    departments = tuple(all_departments())
    total = run(TicketQuery(departments), count=True).count.value
    skipped = total // 2
    print()
    print("| middle page (25 rows), sort | rows skipped | rows stepped over | ratio | ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for sort in SORT_KEYS:
        query = TicketQuery(departments, sort=sort, descending=False)
        started = time.perf_counter()
        result = run(query, limit=25, offset=skipped)
        elapsed = (time.perf_counter() - started) * 1000
        ratio = result.examined / skipped
        print(f"| {sort} | {skipped:,} | {result.examined:,} | {ratio:.2f} | {elapsed:.0f} |")


def naive_reader(request, backend: str):
    """The naive baseline for the same filters/sort/page: no pushdown, COUNT(*) of the union."""
    from dataclasses import replace

    from django.db import connections

    from departments.config import postgres_schema
    from departments.fanout.dialects import PostgreSQLDialect, SQLiteDialect, dialect_of
    from tickets.dashboard import SELECT_COLUMNS, SORT_KEYS, STATUS_ORDER, TICKET_TABLE, search
    from tickets.dashboard.sql import filter_sql
    from tickets.tables import Position
    from tickets.views.dashboard import dashboard_parts

    filterset, data, table = dashboard_parts(request)
    table.order_by = request.GET.getlist("sort") or table.order_by
    query = data.query
    size = filterset.page_size()
    position = Position.from_params(request.GET)
    departments = list(query.departments)
    key = SORT_KEYS[query.sort]

    def prefix(dept) -> str:
        settings = connections.settings[dept.alias]
        if backend == "mariadb":
            return f"`{settings['NAME']}`."
        if backend == "postgres-schemas":
            return f'"{postgres_schema(settings)}".'
        if backend == "sqlite":
            return f'"d{departments.index(dept)}".'
        return ""

    direction = "DESC" if query.descending else "ASC"
    if key.kind == "status":
        order = (
            "CASE status "
            + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STATUS_ORDER))
            + f" END {direction}"
        )
    elif key.kind == "department":
        order = f"dept_label {direction}"
    else:
        order = f"{key.column} {direction}"
    order += f", dept {direction}, id {direction}"

    def union_sql(dialect) -> str:
        arms = []
        for dept in departments:
            arms.append(
                f"SELECT '{dept.slug}' AS dept, '{dept.label}' AS dept_label, "
                f"{', '.join(SELECT_COLUMNS)} FROM {prefix(dept)}{dialect.quote(TICKET_TABLE)}"
            )
        return " UNION ALL ".join(arms)

    def statements(dialect, count_rows: int | None):
        # The naive baseline scans: a search index cannot serve a condition on the UNION's
        # derived table (MariaDB refuses MATCH there: its MEMORY temporary table has no
        # FULLTEXT index), and scanning is what the naive query would do anyway.
        indexed, search.text_search_index = search.text_search_index, lambda department: None
        try:
            base = filter_sql(replace(query, sort="created"), departments[0], dialect)
        finally:
            search.text_search_index = indexed
        conditions, params = base if base else (["1=0"], [])
        conditions = [c for c in conditions if not c.startswith("reference =")] or conditions
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        union = union_sql(dialect)
        total = f"SELECT COUNT(*) FROM ({union}) u"
        filtered = f"SELECT COUNT(*) FROM ({union}) u{where}"
        return total, filtered, where, params, union

    def run_on(fetch, dialect) -> None:
        total_sql, filtered_sql, where, params, union = statements(dialect, None)
        fetch(total_sql, [])
        matched = fetch(filtered_sql, params)[0][0]
        pages = max(1, -(-matched // size))
        if position.last:
            offset = (pages - 1) * size
        elif position.page:
            offset = (min(position.page, pages) - 1) * size
        else:
            offset = 0
        fetch(
            f"SELECT * FROM ({union}) u{where} ORDER BY {order} LIMIT %s OFFSET %s",
            [*params, size, offset],
        )

    if backend == "postgres":
        # Separate databases: no statement spans them; per database, the same naive reads
        # (COUNT(*), filtered COUNT, ORDER BY .. LIMIT offset+size), merged in Python.
        def read():
            for dept in departments:
                conn = connections[dept.alias]
                dialect = PostgreSQLDialect(conn.ops)
                single = [dept]
                saved = departments[:]
                departments[:] = single
                try:
                    with conn.cursor() as cursor:

                        def fetch(sql, params, cursor=cursor):
                            cursor.execute(sql, params)
                            return cursor.fetchall()

                        run_on(fetch, dialect)
                finally:
                    departments[:] = saved

        return read

    if backend == "sqlite":
        import sqlite3

        files = [connections.settings[d.alias]["NAME"] for d in departments]
        conn = sqlite3.connect(":memory:")
        for i, path in enumerate(files):
            conn.execute(f"ATTACH DATABASE ? AS d{i}", (path,))
        dialect = SQLiteDialect(connections[departments[0].alias].ops)

        def fetch(sql, params):
            return conn.execute(sql.replace("%s", "?"), params).fetchall()

        return lambda: run_on(fetch, dialect)

    conn = connections[departments[0].alias]
    dialect = dialect_of(conn)

    def fetch(sql, params):
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    return lambda: run_on(fetch, dialect)


if __name__ == "__main__":
    main()
