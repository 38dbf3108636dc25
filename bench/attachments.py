#!/usr/bin/env python
"""Attachment throughput: 1 MB files uploaded and downloaded through gunicorn on the filesystem
storage, against a static file of the same size served by WhiteNoise in the same run.

    .venv/bin/python bench/attachments.py [--seconds 10] [--threads 4] [--workers 2]

Creates scratch PostgreSQL databases (dropped afterwards) and a scratch attachments folder,
serves the app with production settings under gunicorn, then runs four phases one after the
other with the same client threads: the public form without a file (what the ticket itself
costs), uploads (the same form with one file each; every answer checked for the redirect to
the confirmation), downloads of the stored files by a signed-in
superadmin (every body checked for its length), and GETs of the static file. Prints requests/s,
MB/s and latency per phase, and each phase as a share of the static file's rate. Figures only:
nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from devtools.stack import (
    MAIN_PG_PORT,
    ROOT,
    SEED_NAMES,
    AppServer,
    base_environment,
    create_superadmin,
    prepare,
    scratch_databases,
)

_HIDDEN = re.compile(rb'<input type="hidden" name="([^"]+)" value="([^"]*)"')
DEPARTMENT = "technical-issues"


class Client:
    """One keep-alive connection with cookies; bodies as bytes (nothing decoded)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, kind: str = ""):
        headers = {"Host": f"127.0.0.1:{self.port}", "Referer": f"http://127.0.0.1:{self.port}/"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if kind:
            headers["Content-Type"] = kind
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        content = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, response.headers, content

    def hidden(self, path: str) -> dict[str, str]:
        status, _, content = self.request("GET", path)
        assert status == 200, (path, status)
        return {k.decode(): v.decode() for k, v in _HIDDEN.findall(content)}

    def post_form(self, path: str, fields: dict[str, str], files=()):
        boundary = uuid4().hex
        parts = []
        for name, value in fields.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        for name, filename, content in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
                + content
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, body, f"multipart/form-data; boundary={boundary}")


def run_phase(threads: int, seconds: float, setup, step) -> dict:
    """``setup(i)`` makes a thread's state, ``step(state, n)`` does one request and returns the
    bytes moved (raising on a wrong answer). Returns the counts and latencies."""
    latencies: list[float] = []
    moved = [0]
    errors: list[str] = []
    lock = threading.Lock()
    start_line = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        state = setup(i)
        start_line.wait()
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                size = step(state, n)
            except Exception as exc:  # report, do not hide, a failed request
                with lock:
                    errors.append(repr(exc))
                return
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                moved[0] += size
            n += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start_line.wait()
    began = time.monotonic()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "mb_per_second": moved[0] / elapsed / 1e6,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0,
        "errors": errors,
    }


def attachment_urls(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, ticket_id FROM tickets_attachment ORDER BY id").fetchall()
    return [f"/tickets/{DEPARTMENT}/{ticket}/files/{pk}/" for pk, ticket in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase")
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--gunicorn-threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=1024 * 1024, help="file size in bytes")
    args = parser.parse_args()

    # A PDF header so the type check accepts it; the rest random (nothing compresses it).
    payload = b"%PDF-1.4\n" + os.urandom(args.size - 9)
    password = secrets.token_urlsafe(16)
    static_dir = ROOT / "staticfiles" / "bench"
    static_file = static_dir / f"blob-{secrets.token_hex(4)}.bin"
    with (
        scratch_databases(MAIN_PG_PORT, ["SYSTEM", *SEED_NAMES]) as urls,
        tempfile.TemporaryDirectory(prefix="hd-attachments-") as folder,
    ):
        env = base_environment(
            urls,
            HELPDESK_SUBMIT_LIMIT="1000000000",
            # Counters in each worker's memory: the database cache's slot keys for the lifted
            # limit would be a billion (accounts.ratelimit); limits are not measured here.
            CACHE_URL="locmemcache://bench",
            HELPDESK_ATTACHMENTS_STORAGE="filesystem",
            HELPDESK_ATTACHMENTS_DIR=folder,
        )
        prepare(env)
        create_superadmin(env, "benchadmin", password)
        static_dir.mkdir(parents=True, exist_ok=True)
        static_file.write_bytes(payload)  # before gunicorn starts: WhiteNoise indexes at start
        try:
            with AppServer(env, workers=args.workers, threads=args.gunicorn_threads) as server:
                results = phases(server.port, args, payload, password, urls, static_file)
        finally:
            static_file.unlink(missing_ok=True)
            if not any(static_dir.iterdir()):
                static_dir.rmdir()

    print(
        f"file {args.size:,} bytes; gunicorn workers={args.workers} "
        f"threads={args.gunicorn_threads}; client threads={args.threads}; "
        f"cores={os.cpu_count()}; {args.seconds:.0f} s per phase; filesystem storage"
    )
    print(
        f"{'phase':<10} {'requests':>9} {'per s':>8} {'MB/s':>8} {'p50 ms':>8} {'p95 ms':>8}"
        "  share of static"
    )
    static_rate = results["static"]["per_second"] or 1
    for name, row in results.items():
        print(
            f"{name:<10} {row['requests']:>9} {row['per_second']:>8.1f} "
            f"{row['mb_per_second']:>8.1f} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f}"
            f"  {row['per_second'] / static_rate:>6.2f}x"
        )
    errors = {name: row["errors"][:3] for name, row in results.items() if row["errors"]}
    print(f"errors: {errors or 'none'}")
    return 1 if errors else 0


def phases(port: int, args, payload: bytes, password: str, urls, static_file: Path) -> dict:
    def uploader(i: int) -> tuple[Client, dict]:
        client = Client(port)
        return client, client.hidden("/")

    def submit(state, n: int, files=()) -> int:
        client, hidden = state
        fields = {
            **hidden,
            "name": "Bench Customer",
            "email": "bench@example.com",
            "department": DEPARTMENT,
            "subject": f"Upload {id(client)}-{n}",
            "message": "A file for the benchmark.",
        }
        status, headers, _ = client.post_form("/", fields, files)
        if status != 302 or "/submitted/" not in headers.get("Location", ""):
            raise RuntimeError(f"submission answered {status}")
        return sum(len(content) for _, _, content in files)

    def upload(state, n: int) -> int:
        return submit(state, n, [("attachments", "file.pdf", payload)])

    results = {"no file": run_phase(args.threads, args.seconds, uploader, submit)}
    results["upload"] = run_phase(args.threads, args.seconds, uploader, upload)
    files = attachment_urls(urls["TECHNICAL_ISSUES"])

    def signed_in(i: int) -> Client:
        client = Client(port)
        token = client.hidden("/accounts/login/")["csrfmiddlewaretoken"]
        body = f"csrfmiddlewaretoken={token}&username=benchadmin&password={password}".encode()
        status, _, _ = client.request(
            "POST", "/accounts/login/", body, "application/x-www-form-urlencoded"
        )
        if status != 302:
            raise RuntimeError(f"sign-in answered {status}")
        return client

    def download(client: Client, n: int) -> int:
        status, _, content = client.request("GET", files[n % len(files)])
        if status != 200 or len(content) != len(payload):
            raise RuntimeError(f"download answered {status} with {len(content)} bytes")
        return len(content)

    results["download"] = run_phase(args.threads, args.seconds, signed_in, download)
    static_path = "/static/" + static_file.relative_to(ROOT / "staticfiles").as_posix()

    def static(client: Client, n: int) -> int:
        status, _, content = client.request("GET", static_path)
        if status != 200 or len(content) != len(payload):
            raise RuntimeError(f"static answered {status} with {len(content)} bytes")
        return len(content)

    results["static"] = run_phase(args.threads, args.seconds, lambda i: Client(port), static)
    return results


if __name__ == "__main__":
    sys.exit(main())
