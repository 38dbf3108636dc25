#!/usr/bin/env python
"""CPU per request, in-process, for the requests bench/load.py makes.

    .venv/bin/python bench/profile_requests.py [-n 200] [--kinds dashboard,submit] [--queries]
        [--show-queries] [--profile [--sort tottime] [--filter REGEX N] [--callers FUNC]]
        [--tickets 1000] [--cache redis://127.0.0.1:6379/15]

Sets up scratch PostgreSQL databases (system + five departments, dropped afterwards) exactly as
bench/load.py does (devtools/stack.py: production settings, migrations, collectstatic,
Redis cache), seeds ``--tickets`` tickets, then loads the app *in this process* and drives its
WSGI handler directly, the way gunicorn does (cookies, CSRF tokens and redirects handled like
devtools/loadgen.py's browsers). Kinds of request (loadgen sends all but ``partial`` and
``submitted``):

    dashboard   GET /dashboard/?sort=..&page=..[&status=..] as a signed-in superadmin
    partial     the same with ``HX-Request: true`` (the htmx swap of the dashboard block)
    submit      POST / (a ticket; answers 302)
    submitted   GET /submitted/<reference>/ (the submit redirect's target)
    open        GET /t/<reference>/ (302) and then GET /tickets/<slug>/<id>/ (two requests)
    update      POST /tickets/<slug>/<id>/ (status, priority and a note; answers 302)

For each kind it prints, per iteration (``open`` is two HTTP requests): the mean and median CPU
of this process (``time.process_time``, which includes the dashboard engine's worker threads),
the mean wall milliseconds, and the CPU the PostgreSQL and Redis processes used (``db+redis``,
from /proc: only meaningful on an otherwise idle machine); with ``--queries`` the queries per
request by database alias (the engine's own worker connections are not counted). ``--profile``
adds a cProfile (on CPU time, request thread only) top 30 by cumulative time and the number of
Python calls per request, which unlike timings does not move with the machine's load. Timings
on a shared machine are noisy: compare runs made one after the other.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import secrets
import statistics
import sys
import time
from collections import Counter
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.loadgen import _CSRF_INPUT, _SUBMITTED, _VERSION_INPUT  # noqa: E402
from devtools.stack import (  # noqa: E402
    MAIN_PG_PORT,
    SEED_NAMES,
    base_environment,
    prepare,
    scratch_databases,
)

KINDS = ("dashboard", "partial", "submit", "submitted", "open", "update")
SORTS = ["-created", "created", "priority", "-priority", "status", "-updated"]
STATUSES = ["open", "pending", "resolved"]


class WsgiBrowser:
    """One browser talking straight to the WSGI application: cookies, no sockets."""

    def __init__(self, app, address: str):
        self.app = app
        self.address = address
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, headers=None):
        parts = urlsplit(path)
        body = urlencode(form).encode() if form is not None else b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.address,
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["HTTP_REFERER"] = f"http://127.0.0.1:8000{parts.path}"
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        seen = {}

        def start_response(status, response_headers, exc_info=None):
            seen["status"] = int(status.split()[0])
            seen["headers"] = response_headers

        result = self.app(environ, start_response)
        try:
            text = b"".join(result).decode()
        finally:
            if hasattr(result, "close"):
                result.close()
        found = {}
        for name, value in seen["headers"]:
            if name.lower() == "set-cookie":
                for key, morsel in SimpleCookie(value).items():
                    self.cookies[key] = morsel.value
            else:
                found[name] = value
        return seen["status"], found, text

    def csrf(self, path: str) -> str:
        status, _, text = self.request("GET", path)
        match = _CSRF_INPUT.search(text)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path} gave {status} without a form")
        return match.group(1)


def server_cpu_ticks(names=("postgres", "redis-server")) -> dict[int, int]:
    """CPU clock ticks used so far by each process of these names on this machine (/proc).

    Includes other users of the same servers: meaningful on an otherwise idle machine only.
    """
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name.startswith(names):
            fields = stat[stat.rindex(")") + 2 :].split()
            found[int(entry)] = int(fields[11]) + int(fields[12])  # utime + stime
    return found


def server_cpu_since(before: dict[int, int]) -> float:
    """CPU seconds used since ``before`` by the processes alive then and now (those that came
    and went meanwhile, such as autovacuum workers, are not seen)."""
    after = server_cpu_ticks()
    ticks = sum(after[pid] - before[pid] for pid in before.keys() & after.keys())
    return ticks / os.sysconf("SC_CLK_TCK")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="requests of each kind")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--tickets", type=int, default=1000, help="seeded, over 5 departments")
    parser.add_argument("--cache", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--profile", action="store_true", help="cProfile top 30 per kind")
    parser.add_argument("--queries", action="store_true", help="count queries per request")
    parser.add_argument(
        "--show-queries", action="store_true", help="print the SQL of each kind's last request"
    )
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key")
    parser.add_argument("--callers", default="", help="with --profile: who calls this function")
    parser.add_argument(
        "--filter", nargs="*", help="pstats restrictions instead of the top 30, e.g. widgets 20"
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    password = secrets.token_urlsafe(16)
    with scratch_databases(MAIN_PG_PORT, ["SYSTEM", *SEED_NAMES]) as urls:
        env = base_environment(urls, HELPDESK_SUBMIT_LIMIT="1000000000", CACHE_URL=args.cache)
        prepare(env)
        os.environ.update(env)
        return measure(args, kinds, password)


def measure(args, kinds: list[str], password: str) -> int:
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connections, reset_queries

    from accounts.models import User
    from departments.fanout import shutdown_workers
    from departments.registry import all_departments
    from tickets.forms import submission_token_new
    from tickets.services import ticket_create

    departments = all_departments()
    for i in range(args.tickets):
        ticket_create(
            department=departments[i % len(departments)],
            customer_name=f"Seed {i}",
            customer_email=f"seed{i}@example.com",
            subject=f"Seeded ticket {i}",
            message="Seeded by bench/profile_requests.py.",
        )
    User.objects.create_superuser("profiler", "p@example.com", password)
    for alias in connections:
        connections[alias].close()

    app = get_wsgi_application()
    slugs = [d.slug for d in departments]
    rng_state = {"n": 0}

    def pick(seq):
        rng_state["n"] += 1
        return seq[rng_state["n"] * 7919 % len(seq)]

    public = WsgiBrowser(app, "127.0.0.11")
    submit_token = public.csrf("/")
    staff = WsgiBrowser(app, "127.0.0.12")
    login_token = staff.csrf("/accounts/login/")
    status, _, _ = staff.request(
        "POST",
        "/accounts/login/",
        {"csrfmiddlewaretoken": login_token, "username": "profiler", "password": password},
    )
    assert status == 302, status
    # The updater's own tickets, submitted through the signed-in browser as loadgen does.
    staff_token = staff.csrf("/")

    references: list[str] = []
    detail_paths: list[str] = []

    def submit(browser, token, n):
        form = {
            "csrfmiddlewaretoken": token,
            # Minted here, as the form page would: the profile is of the POST alone.
            "submission_token": submission_token_new(),
            "name": f"Load Tester {n}",
            "email": f"load{n}@example.com",
            "phone": "",
            "department": pick(slugs),
            "subject": f"Load test ticket {n}",
            "message": "Generated by the load test.",
        }
        status, headers, _ = browser.request("POST", "/", form)
        assert status == 302, status
        return _SUBMITTED.search(headers["Location"]).group(1)

    mine = [submit(staff, staff_token, i) for i in range(20)]
    for reference in mine:
        status, headers, _ = staff.request("GET", f"/t/{reference}/")
        assert status == 302, status
        detail_paths.append(urlsplit(headers["Location"]).path)

    def dashboard_path():
        query = {"sort": pick(SORTS), "page": pick([1, 1, 1, 2, 3])}
        if rng_state["n"] % 10 < 3:
            query["status"] = pick(["new", "open", "pending"])
        return "/dashboard/?" + urlencode(query)

    def one(kind: str, i: int) -> int:
        """Make one request of ``kind``; returns how many HTTP requests that was."""
        if kind == "dashboard":
            status, _, _ = staff.request("GET", dashboard_path())
            assert status == 200, status
            return 1
        if kind == "partial":
            status, _, _ = staff.request("GET", dashboard_path(), headers={"HX-Request": "true"})
            assert status == 200, status
            return 1
        if kind == "submit":
            references.append(submit(public, submit_token, i))
            return 1
        if kind == "submitted":
            # The session remembers the browser's latest submissions only: ask for recent ones.
            if not references:
                references.append(submit(public, submit_token, i))
            reference = references[-1 - i % min(10, len(references))]
            status, _, _ = public.request("GET", f"/submitted/{reference}/")
            assert status == 200, status
            return 1
        if kind == "open":
            reference = mine[i % len(mine)]
            status, headers, _ = staff.request("GET", f"/t/{reference}/")
            assert status == 302, status
            status, _, text = staff.request("GET", urlsplit(headers["Location"]).path)
            assert status == 200, status
            return 2
        if kind == "update":
            path = detail_paths[i % len(detail_paths)]
            _, _, text = pages[path]
            form = {
                "csrfmiddlewaretoken": _CSRF_INPUT.search(text).group(1),
                "version": _VERSION_INPUT.search(text).group(1),
                "status": pick(STATUSES),
                "priority": str(pick([1, 2, 3, 4])),
                "assignee": "",
                "note": "Load test note.",
            }
            status, _, _ = staff.request("POST", path, form)
            assert status == 302, status
            return 1
        raise ValueError(kind)

    pages: dict[str, tuple] = {}
    print(
        f"{'kind':<10} {'requests':>8} {'cpu ms':>8} {'median':>8} {'wall ms':>8} {'db+redis':>8}"
        "  queries/request"
    )
    for kind in kinds:
        for i in range(min(20, args.n)):  # warm up: templates, connections, code paths
            if kind == "update":
                pages[detail_paths[i % len(detail_paths)]] = staff.request(
                    "GET", detail_paths[i % len(detail_paths)]
                )
            one(kind, i)
        cpu_each: list[float] = []
        wall = 0.0
        requests = 0
        queries: Counter = Counter()
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        servers_before = server_cpu_ticks()
        for i in range(args.n):
            if kind == "update":  # the page the form comes from is not part of the figure
                path = detail_paths[i % len(detail_paths)]
                pages[path] = staff.request("GET", path)
            if args.queries or args.show_queries:
                for alias in connections:
                    connections[alias].force_debug_cursor = True
                reset_queries()
            c0, w0 = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            requests += one(kind, 1000 + i)
            if profiler:
                profiler.disable()
            cpu_each.append(time.process_time() - c0)
            wall += time.perf_counter() - w0
            if args.queries or args.show_queries:
                for alias in connections:
                    conn = connections[alias]
                    queries[alias] += len(conn.queries_log)
                    conn.force_debug_cursor = False
        if args.show_queries:
            for alias in connections:
                for query in connections[alias].queries_log:
                    print(f"    {alias}: {query['sql'][:160]}")
        servers = 1000 * server_cpu_since(servers_before) / args.n
        per = ", ".join(
            f"{alias.replace('_department', '')}={n / args.n:.1f}" for alias, n in queries.items()
        )
        print(
            f"{kind:<10} {requests:>8} {1000 * statistics.mean(cpu_each):>8.2f} "
            f"{1000 * statistics.median(cpu_each):>8.2f} {1000 * wall / args.n:>8.2f} "
            f"{servers:>8.2f}  {per}"
        )
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats(args.sort)
            # Unlike CPU time, the count of Python calls does not move with the machine's load.
            print(f"{kind}: {stats.total_calls / args.n:,.0f} Python calls per request")
            limits = [int(f) if f.isdigit() else f for f in args.filter or ["30"]]
            stats.print_stats(*limits)
            if args.callers:
                stats.print_callers(args.callers)
            text = re.sub(r"/[^ ]*/site-packages/", "", out.getvalue())
            print(text.replace(str(ROOT) + "/", ""))
    shutdown_workers()
    for alias in connections:
        connections[alias].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
