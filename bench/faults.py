#!/usr/bin/env python
"""Fault test: stop one department database server mid-load, bring it back, audit the data.

    .venv/bin/python bench/faults.py [--seconds 45] [--down-at 15] [--up-at 30]

The system database and three departments live on the main PostgreSQL server; General Inquiry
and Feedback & Suggestions live on a second cluster created (and removed) by this script. Under a
mixed load the second cluster is stopped (as a crash: immediate shutdown) and later restarted.
Prints, per phase (before / down / after), the answers by status for the affected and the
unaffected departments, what /healthz said, and how long recovery took; then checks that every
acknowledged ticket exists exactly once in its department. Nothing is restarted but the database.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from devtools.loadgen import Browser, Workload
from devtools.stack import (
    healthz,
    two_server_stack,
    verify_acknowledged,
)

NEAR = ["TECHNICAL_ISSUES", "ACCOUNT_BILLING", "PRODUCT_SERVICE"]
FAR = ["GENERAL_INQUIRY", "FEEDBACK_SUGGESTIONS"]


def health(url: str, env: dict[str, str]) -> tuple[int, list[str]]:
    status, body = healthz(url, env)  # as an operator: the public answer names nothing
    return status, [d["name"] for d in body["departments"] if not d["reachable"]]


def probe(url: str, stop: threading.Event, log: list) -> None:
    """Submit to one far and one near department every 100 ms, recording when each request
    started and ended, its department side and its status."""
    browser = Browser(url)
    while not stop.is_set():
        for slug, side in (("general-inquiry", "affected"), ("technical-issues", "unaffected")):
            started = time.perf_counter()
            try:
                # A fresh form each time: the same form posted again is the same ticket.
                fields = browser.hidden_fields("/")
                status, _, _ = browser.request(
                    "POST",
                    "/",
                    {
                        **fields,
                        "name": "Probe",
                        "email": "probe@example.com",
                        "phone": "",
                        "department": slug,
                        "subject": "Probe",
                        "message": "Fault probe.",
                    },
                )
            except OSError:
                status = 0
            log.append((started, time.perf_counter(), side, status))
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--down-at", type=float, default=15)
    parser.add_argument("--up-at", type=float, default=30)
    parser.add_argument("--threads", type=int, default=6)
    args = parser.parse_args()
    probes: list = []
    marks: dict[str, float] = {}
    with two_server_stack(
        NEAR, FAR, workers=4, threads=2, HELPDESK_SUBMIT_LIMIT="1000000000"
    ) as stack:
        cluster, server, urls = stack.cluster, stack.server, stack.urls
        workload = Workload(
            base_url=server.url,
            departments=[n.lower().replace("_", "-") for n in NEAR + FAR],
            admin_username="ops",
            admin_password=stack.password,
            threads=args.threads,
            seconds=args.seconds,
            budget=100_000,
        )
        stop = threading.Event()
        runner = threading.Thread(target=workload.run)
        prober = threading.Thread(target=probe, args=(server.url, stop, probes))
        started = time.monotonic()
        runner.start()
        prober.start()
        time.sleep(args.down_at)
        marks["stop_begin"] = time.perf_counter()
        cluster.stop()  # returns once the server no longer answers
        marks["stop_end"] = time.perf_counter()
        time.sleep(1)
        down_health = health(server.url, stack.env)
        time.sleep(max(0.0, args.up_at - args.down_at - 1))
        marks["start_begin"] = time.perf_counter()
        cluster.start()  # returns once the server accepts connections again
        marks["start_end"] = time.perf_counter()
        restarted = time.monotonic()
        while health(server.url, stack.env)[0] != 200 and time.monotonic() - restarted < 60:
            time.sleep(0.2)
        recovery = time.monotonic() - restarted
        runner.join(args.seconds + 60)
        stop.set()
        prober.join(30)
        elapsed = time.monotonic() - started
        problems = verify_acknowledged(urls, workload.outcomes.acknowledged)

    table: dict[tuple[str, str], Counter] = defaultdict(Counter)
    slowest: dict[tuple[str, str], float] = defaultdict(float)
    for began, ended, side, status in probes:
        # A request is "down" only if it ran entirely while the server was gone; requests that
        # overlap a stop or a start are "transition" and judged by nothing but "no 500".
        if ended < marks["stop_begin"]:
            ph = "before"
        elif began > marks["stop_end"] and ended < marks["start_begin"]:
            ph = "down"
        elif began > marks["start_end"]:
            ph = "after"
        else:
            ph = "transition"
        table[ph, side][status] += 1
        slowest[ph, side] = max(slowest[ph, side], ended - began)
    print(
        f"run {elapsed:.0f} s; second cluster down from {args.down_at:.0f} s to {args.up_at:.0f} s"
    )
    print(f"{'phase':<10} {'department':<11} {'answers by status':<34} slowest")
    for ph in ("before", "transition", "down", "after"):
        for side in ("affected", "unaffected"):
            counts = dict(table[ph, side])
            print(f"{ph:<10} {side:<11} {json.dumps(counts):<34} {1000 * slowest[ph, side]:.0f} ms")
    print(f"/healthz while down: {down_health[0]}, unreachable: {down_health[1]}")
    print(f"recovered (healthz 200) {recovery:.1f} s after the server came back, no app restart")
    statuses = {k: dict(v) for k, v in workload.outcomes.statuses.items()}
    print(f"background load answers: {statuses}")
    print(f"acknowledged tickets: {len(workload.outcomes.acknowledged)}; audit: {problems}")
    bad = [s for _, _, _, s in probes if s == 0 or (s >= 500 and s != 503)]
    bad += [
        s
        for c in workload.outcomes.statuses.values()
        for s in c
        if s == 0 or (s >= 500 and s != 503)
    ]
    unaffected_down = table["down", "unaffected"]
    ok = (
        not bad
        and not workload.outcomes.failures
        and not any(problems.values())
        and set(unaffected_down) <= {302}
        and set(table["down", "affected"]) <= {503}
        and sorted(down_health[1]) == ["feedback-suggestions", "general-inquiry"]
    )
    print("verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
