#!/usr/bin/env python
"""Load test: a mixed workload against gunicorn + PostgreSQL on loopback, then a data audit.

    .venv/bin/python bench/load.py [--seconds 60] [--budget 60000] [--threads 12] [--workers 4]

Creates scratch PostgreSQL databases (system + five departments, dropped afterwards), serves the
app with production settings under gunicorn, runs ticket submissions, dashboard pages and ticket
updates concurrently for a fixed time and request budget, prints throughput and p50/p95/p99 per
kind of request, then checks that every acknowledged ticket exists exactly once in the right
department database. Before the mix it measures a baseline in the same run: the same browsers
fetching the sign-in page alone, so the figures read as a share of what this machine, gunicorn
and the client manage for the lightest page. Targets (issue 6): zero errors, zero lost or
duplicated tickets, >= 300 submissions/s and >= 200 dashboard pages/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from devtools import cpu
from devtools.loadgen import Workload
from devtools.stack import (
    MAIN_PG_PORT,
    SEED_NAMES,
    AppServer,
    base_environment,
    create_superadmin,
    manage,
    prepare,
    scratch_databases,
    verify_acknowledged,
)

# The lightest page that still runs the whole stack: session, CSRF token, a two-field form in the
# site template, and no department database.
BASELINE_PATH = "/accounts/login/"


def print_table(rows: list[dict], elapsed: float) -> None:
    print(f"\nelapsed {elapsed:.1f} s")
    header = ("kind", "requests", "per s", "p50 ms", "p95 ms", "p99 ms")
    print(f"{header[0]:<10} " + " ".join(f"{h:>8}" for h in header[1:]) + "  statuses")
    for row in rows:
        print(
            f"{row['kind']:<10} {row['requests']:>9} {row['per_second']:>8.1f} "
            f"{row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f}  {row['statuses']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--budget", type=int, default=60_000, help="total requests at most")
    parser.add_argument("--threads", type=int, default=12, help="concurrent simulated browsers")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--gunicorn-threads", type=int, default=2)
    parser.add_argument(
        "--mix",
        default="3,2,1",
        help="browsers submitting, paging the dashboard and updating, in proportion; e.g. 1,0,0 "
        "for submissions alone (what the machine allows each kind by itself)",
    )
    parser.add_argument(
        "--cache",
        default="redis://127.0.0.1:6379/15",
        help="CACHE_URL for rate limits and throttling (default: local Redis, as docker compose "
        "uses; dbcache://helpdesk_cache for the database cache)",
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=10,
        help="first, this long of GET /accounts/login/ alone (0 to skip): the same browsers on "
        "the lightest page that still goes through sessions, CSRF and a template",
    )
    parser.add_argument(
        "--tickets",
        type=int,
        default=10_000,
        help="tickets seeded before the run (seed_departments), so that dashboard pages read "
        "full pages from every department rather than empty tables",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args()

    try:
        mix = tuple(int(part) for part in args.mix.split(","))
    except ValueError:
        mix = ()
    if len(mix) != 3 or min(mix) < 0 or not sum(mix):
        parser.error("--mix takes three non-negative numbers, e.g. 3,2,1")
    password = secrets.token_urlsafe(16)
    with scratch_databases(MAIN_PG_PORT, ["SYSTEM", *SEED_NAMES]) as urls:
        # Simulated browsers use their own loopback addresses, but a few hundred of them send
        # far more than the per-client limit allows: it is lifted for the run. Everything else
        # is production configuration.
        env = base_environment(urls, HELPDESK_SUBMIT_LIMIT="1000000000", CACHE_URL=args.cache)
        prepare(env)
        if args.tickets:
            seeded = manage(env, "seed_departments", "--tickets", str(args.tickets))
            if seeded.returncode != 0:
                raise SystemExit(f"seed_departments failed:\n{seeded.stderr}")
        create_superadmin(env, "loadadmin", password)
        server = AppServer(env, workers=args.workers, threads=args.gunicorn_threads)
        with server:
            workload = Workload(
                base_url=server.url,
                departments=[name.lower().replace("_", "-") for name in SEED_NAMES],
                admin_username="loadadmin",
                admin_password=password,
                threads=args.threads,
                seconds=args.seconds,
                budget=args.budget,
                mix=mix,
            )

            def server_ticks() -> tuple[dict, dict]:
                return (
                    cpu.ticks(root=server.process.pid),
                    cpu.ticks(names=("postgres", "redis-server")),
                )

            ceiling = 0.0
            if args.baseline_seconds > 0:
                base_app, base_db = server_ticks()
                ceiling = workload.baseline(BASELINE_PATH, args.baseline_seconds)
                base_app_after, base_db_after = server_ticks()
                baseline_cpu = (
                    cpu.seconds_since(base_app, base_app_after),
                    cpu.seconds_since(base_db, base_db_after),
                    ceiling * args.baseline_seconds,
                )

            app_before, db_before = server_ticks()
            elapsed = workload.run()
            app_after, db_after = server_ticks()
            app_cpu = cpu.seconds_since(app_before, app_after)
            db_cpu = cpu.seconds_since(db_before, db_after)
        rows = workload.outcomes.summary(elapsed)
        problems = verify_acknowledged(urls, workload.outcomes.acknowledged)

    print(f"cache: {args.cache}; seeded tickets: {args.tickets:,}")
    print(
        f"gunicorn workers={args.workers} threads={args.gunicorn_threads}; "
        f"client threads={args.threads}; cores={os.cpu_count()}"
    )
    print_table(rows, elapsed)
    errors = len(workload.outcomes.failures) + sum(
        count
        for row in rows
        for status, count in row["statuses"].items()
        if status == 0 or status >= 500
    )
    by_kind = {row["kind"]: row for row in rows}
    print(f"\nacknowledged tickets: {len(workload.outcomes.acknowledged)}")
    print(f"audit: {problems}")
    print(f"errors (5xx or no answer): {errors}; worker failures: {workload.outcomes.failures[:5]}")
    submit_rate = by_kind.get("submit", {}).get("per_second", 0)
    dash_rate = by_kind.get("dashboard", {}).get("per_second", 0)
    print(
        f"targets: submissions/s {submit_rate:.0f} (>= 300: {submit_rate >= 300}), "
        f"dashboard pages/s {dash_rate:.0f} (>= 200: {dash_rate >= 200}), "
        f"zero errors: {errors == 0}, zero lost/duplicated: {not any(problems.values())}"
    )
    served = sum(row["requests"] for row in rows)
    if served:
        print(
            f"server CPU per request (this machine, /proc): gunicorn {1000 * app_cpu / served:.2f} "
            f"ms + PostgreSQL and Redis {1000 * db_cpu / served:.2f} ms = "
            f"{1000 * (app_cpu + db_cpu) / served:.2f} ms ({served} requests)"
        )
    if ceiling:
        app, db, count = baseline_cpu
        print(
            f"baseline server CPU per request: gunicorn {1000 * app / count:.2f} ms + "
            f"PostgreSQL and Redis {1000 * db / count:.2f} ms (about {count:.0f} requests)"
        )
        total = sum(row["per_second"] for row in rows)
        wanted = 300 + 200
        print(
            f"baseline (same run, same browsers): GET {BASELINE_PATH} alone {ceiling:.0f}/s; "
            f"the mixed run served {total:.0f} requests/s ({total / ceiling:.2f}x the baseline); "
            f"the targets ask for {wanted}/s of submissions and dashboard pages alone "
            f"({wanted / ceiling:.2f}x the baseline)"
        )
    if args.json:
        print(
            json.dumps({"rows": rows, "problems": problems, "errors": errors, "baseline": ceiling})
        )
    return 0 if errors == 0 and not any(problems.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
