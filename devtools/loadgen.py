"""A small closed-loop HTTP load generator for the app on loopback.

Each worker thread is one browser: its own keep-alive connection and cookies. Workers submit
tickets, page through the dashboard as a signed-in superadmin and update tickets, within a fixed
request budget and a time limit, and record every outcome. Only addresses on this machine are
ever contacted.
"""

from __future__ import annotations

import http.client
import random
import re
import statistics
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_VERSION_INPUT = re.compile(r'name="version" value="(\d+)"')
_SUBMITTED = re.compile(r"/submitted/([A-Z0-9]+-[A-Z0-9]+)/")


class Browser:
    """One keep-alive connection with cookies, to one loopback host."""

    def __init__(self, base_url: str, timeout: float = 15, source: str | None = None):
        parts = urlsplit(base_url)
        if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("the load generator only talks to this machine")
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None
        # A loopback source address of its own makes each simulated browser a distinct client
        # (rate limits are per client address); all of 127.0.0.0/8 is this machine.
        self.source = (source, 0) if source else None

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        headers = {"Host": f"{self.host}:{self.port}", "Connection": "keep-alive"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{self.host}:{self.port}{path}"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout, source_address=self.source
                )
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed between requests: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        return response.status, dict(response.headers), text

    def csrf(self, path: str) -> tuple[str, str]:
        status, _, text = self.request("GET", path)
        match = _CSRF_INPUT.search(text)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path} gave {status} without a form")
        return match.group(1), text

    def hidden_fields(self, path: str) -> dict[str, str]:
        """GET a form and return its hidden inputs: the CSRF token and, on the ticket form, the
        one-time submission token (every new ticket needs a fresh load of the form)."""
        status, _, text = self.request("GET", path)
        fields = dict(_HIDDEN_INPUT.findall(text))
        if status != 200 or "csrfmiddlewaretoken" not in fields:
            raise RuntimeError(f"GET {path} gave {status} without a form")
        return fields

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@dataclass
class Outcomes:
    """Everything the workers saw, merged under a lock."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    # reference -> department slug, for every submission the server acknowledged (302).
    acknowledged: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1

    def summary(self, elapsed: float) -> list[dict]:
        rows = []
        for kind in sorted(self.latencies):
            values = sorted(self.latencies[kind])
            rows.append(
                {
                    "kind": kind,
                    "requests": len(values),
                    "per_second": len(values) / elapsed if elapsed else 0.0,
                    "p50_ms": 1000 * statistics.median(values),
                    "p95_ms": 1000 * values[int(0.95 * (len(values) - 1))],
                    "p99_ms": 1000 * values[int(0.99 * (len(values) - 1))],
                    "statuses": dict(self.statuses[kind]),
                }
            )
        return rows


@dataclass
class Workload:
    base_url: str
    departments: list[str]  # slugs
    admin_username: str
    admin_password: str
    # Share of the work each kind of worker does (submit, dashboard, update).
    mix: tuple[int, int, int] = (3, 2, 1)
    threads: int = 12
    seconds: float = 60.0
    budget: int = 60_000  # requests in all; the run stops at whichever limit comes first
    outcomes: Outcomes = field(default_factory=Outcomes)
    _sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _take(self) -> bool:
        with self._lock:
            if self._sent >= self.budget:
                return False
            self._sent += 1
            return True

    def _timed(self, browser: Browser, kind: str, method: str, path: str, form=None):
        started = time.perf_counter()
        try:
            status, headers, text = browser.request(method, path, form)
        except OSError as exc:
            with self.outcomes.lock:
                self.outcomes.failures.append(f"{kind}: {type(exc).__name__}: {exc}")
            self.outcomes.record(kind, 0, time.perf_counter() - started)
            return 0, {}, ""
        self.outcomes.record(kind, status, time.perf_counter() - started)
        return status, headers, text

    def _browser(self, rng: random.Random) -> Browser:
        return Browser(self.base_url, source=f"127.0.0.{10 + rng.randrange(200)}")

    def _submitter(self, deadline: float, rng: random.Random, browser: Browser) -> None:
        n = 0
        while time.monotonic() < deadline and self._take():
            n += 1
            slug = rng.choice(self.departments)
            # A browser loads the form for each ticket: its one-time token makes a repeated
            # POST of the same form the same ticket.
            form = {
                **browser.hidden_fields("/"),
                "name": f"Load Tester {n}",
                "email": f"load{n}@example.com",
                "phone": "",
                "department": slug,
                "subject": f"Load test ticket {n}",
                "message": "Generated by the load test.",
            }
            status, headers, _ = self._timed(browser, "submit", "POST", "/", form)
            if status == 302:
                match = _SUBMITTED.search(headers.get("Location", ""))
                if match:
                    with self.outcomes.lock:
                        self.outcomes.acknowledged[match.group(1)] = slug
        browser.close()

    def _login(self, rng: random.Random) -> Browser:
        browser = self._browser(rng)
        token, _ = browser.csrf("/accounts/login/")
        status, _, _ = browser.request(
            "POST",
            "/accounts/login/",
            {
                "csrfmiddlewaretoken": token,
                "username": self.admin_username,
                "password": self.admin_password,
            },
        )
        if status != 302:
            raise RuntimeError(f"sign-in failed with {status}")
        return browser

    def _dashboard(self, deadline: float, rng: random.Random, browser: Browser) -> None:
        sorts = ["-created", "created", "priority", "-priority", "status", "-updated"]
        while time.monotonic() < deadline and self._take():
            query = {"sort": rng.choice(sorts), "page": rng.choice([1, 1, 1, 2, 3])}
            if rng.random() < 0.3:
                query["status"] = rng.choice(["new", "open", "pending"])
            self._timed(browser, "dashboard", "GET", "/dashboard/?" + urlencode(query))
        browser.close()

    def _updater(self, deadline: float, rng: random.Random, browser: Browser) -> None:
        mine: list[tuple[str, str]] = []
        while time.monotonic() < deadline and self._take():
            if not mine:
                # Work on tickets this worker submitted itself, so updaters never race each other.
                fields = browser.hidden_fields("/")
                slug = rng.choice(self.departments)
                status, headers, _ = self._timed(
                    browser,
                    "submit",
                    "POST",
                    "/",
                    {
                        **fields,
                        "name": "Updater",
                        "email": "u@example.com",
                        "phone": "",
                        "department": slug,
                        "subject": "To be updated",
                        "message": "Generated by the load test.",
                    },
                )
                match = _SUBMITTED.search(headers.get("Location", "")) if status == 302 else None
                if match:
                    with self.outcomes.lock:
                        self.outcomes.acknowledged[match.group(1)] = slug
                    mine.append((match.group(1), slug))
                continue
            reference, _slug = rng.choice(mine)
            status, headers, _ = self._timed(browser, "open", "GET", f"/t/{reference}/")
            if status != 302:
                continue
            path = urlsplit(headers["Location"]).path
            status, _, text = self._timed(browser, "open", "GET", path)
            token, version = _CSRF_INPUT.search(text), _VERSION_INPUT.search(text)
            if status != 200 or not token or not version:
                continue
            self._timed(
                browser,
                "update",
                "POST",
                path,
                {
                    "csrfmiddlewaretoken": token.group(1),
                    "version": version.group(1),
                    "status": rng.choice(["open", "pending", "resolved"]),
                    "priority": str(rng.randint(1, 4)),
                    "assignee": "",
                    "note": "Load test note.",
                },
            )
        browser.close()

    def baseline(self, path: str, seconds: float) -> float:
        """Requests per second the same browsers get from GET ``path`` alone: the ceiling the
        machine, the server and this client allow for one light page, measured in the run."""
        deadline = time.monotonic() + seconds
        done = [0]

        def work(i: int) -> None:
            browser = self._browser(random.Random(1000 + i))
            n = 0
            try:
                while time.monotonic() < deadline:
                    status, _, _ = browser.request("GET", path)
                    if status != 200:
                        raise RuntimeError(f"baseline GET {path} gave {status}")
                    n += 1
            finally:
                browser.close()
                with self.outcomes.lock:
                    done[0] += n

        threads = [
            threading.Thread(target=work, args=(i,), daemon=True) for i in range(self.threads)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 30)
        return done[0] / (time.perf_counter() - started)

    def run(self) -> float:
        """Run to the time limit or the budget; returns the elapsed seconds.

        Staff browsers sign in before the clock starts: a sign-in hashes the password (PBKDF2,
        about 0.4 s of CPU here), which is neither a dashboard page nor an update, and a dozen
        of them inside a short run would be counted as a share of every page's cost.
        """
        kinds = [self._submitter] * self.mix[0] + [self._dashboard] * self.mix[1]
        kinds += [self._updater] * self.mix[2]
        workers = []
        for i in range(self.threads):
            target = kinds[i % len(kinds)]
            workers.append((target, random.Random(i)))
        browsers: list[Browser | None] = [None] * len(workers)

        def open_browser(i: int) -> None:
            target, rng = workers[i]
            try:
                signed_in = target != self._submitter
                browsers[i] = self._login(rng) if signed_in else self._browser(rng)
            except Exception as exc:  # a browser that cannot start is a finding, not a crash
                with self.outcomes.lock:
                    self.outcomes.failures.append(f"{target.__name__}: {exc!r}")

        openers = [threading.Thread(target=open_browser, args=(i,)) for i in range(len(workers))]
        for thread in openers:
            thread.start()
        for thread in openers:
            thread.join(60)
        deadline = time.monotonic() + self.seconds
        threads = []
        for (target, rng), browser in zip(workers, browsers, strict=True):
            if browser is None:
                continue

            def work(target=target, rng=rng, browser=browser):
                try:
                    target(deadline, rng, browser)
                except Exception as exc:  # a worker that dies is a finding, not a crash
                    with self.outcomes.lock:
                        self.outcomes.failures.append(f"{target.__name__}: {exc!r}")

            threads.append(threading.Thread(target=work, daemon=True))
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.seconds + 60)
        return time.perf_counter() - started
