"""Departments on two PostgreSQL servers, served by gunicorn; then one server dies and comes back.

A second PostgreSQL cluster (created and removed here) holds two departments; the main server
holds the system database and the other three. Everything a user or operator does must keep
working, and while the second server is down only its two departments may be affected, cleanly.
This is the short version of bench/faults.py; it runs in the PostgreSQL backend run of
`make test` (it needs root and pg_createcluster, which CI has).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
from django.conf import settings

from devtools.loadgen import Browser, Workload
from devtools.stack import (
    AppServer,
    SecondCluster,
    cluster_tools_available,
    healthz,
    manage,
    pg_ready,
    two_server_stack,
    verify_acknowledged,
)

NEAR = ["TECHNICAL_ISSUES", "ACCOUNT_BILLING", "PRODUCT_SERVICE"]
FAR = ["GENERAL_INQUIRY", "FEEDBACK_SUGGESTIONS"]
FAR_SLUGS = {"general-inquiry", "feedback-suggestions"}
FAR_LABELS = ["General Inquiry", "Feedback &amp; Suggestions"]

pytestmark = [
    pytest.mark.skipif(
        getattr(settings, "TEST_BACKEND", "") != "postgres",
        reason="runs once, in the PostgreSQL backend run (TEST_BACKEND=postgres)",
    ),
    pytest.mark.skipif(bool(cluster_tools_available()), reason=str(cluster_tools_available())),
]


@dataclass
class Deployment:
    cluster: SecondCluster
    server: AppServer
    urls: dict[str, str]
    env: dict[str, str]
    password: str

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.server.url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def health(self) -> tuple[int, dict]:
        return healthz(self.server.url, self.env)

    def admin(self) -> Browser:
        browser = Browser(self.server.url)
        token, _ = browser.csrf("/accounts/login/")
        status, _, _ = browser.request(
            "POST",
            "/accounts/login/",
            {"csrfmiddlewaretoken": token, "username": "ops", "password": self.password},
        )
        assert status == 302
        return browser


def submit(browser: Browser, slug: str, subject: str) -> tuple[int, dict, str]:
    return browser.request(
        "POST",
        "/",
        {
            **browser.hidden_fields("/"),
            "name": "Casey Customer",
            "email": "casey@example.com",
            "phone": "",
            "department": slug,
            "subject": subject,
            "message": "My order never arrived.",
        },
    )


@pytest.fixture(scope="module")
def deployment():
    with two_server_stack(NEAR, FAR, workers=2, threads=4, HELPDESK_SUBMIT_LIMIT="100000") as stack:
        yield Deployment(stack.cluster, stack.server, stack.urls, stack.env, stack.password)


def test_everything_works_with_departments_on_two_servers(deployment):
    status, body = deployment.health()
    assert status == 200, body
    assert len(body["departments"]) == 5
    assert all(d["reachable"] and d["pending_migrations"] == [] for d in body["departments"])

    browser = Browser(deployment.server.url)
    references = {}
    for slug in ["technical-issues", "general-inquiry"]:
        status, headers, _ = submit(browser, slug, f"Scale-out check for {slug}")
        assert status == 302, slug
        references[slug] = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert references["general-inquiry"].startswith("GEN-")

    admin = deployment.admin()
    status, _, page = admin.request("GET", "/dashboard/?sort=-created")
    assert status == 200
    for reference in references.values():
        assert reference in page

    report = manage(deployment.env, "showmigrations_departments", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert "general_inquiry_department" in report.stdout
    check = manage(deployment.env, "migrate_departments", "--check", "--noinput")
    assert check.returncode == 0, check.stdout + check.stderr


def test_second_server_down_then_back_under_load(deployment):
    workload = Workload(
        base_url=deployment.server.url,
        departments=["technical-issues", "account-billing", "general-inquiry"],
        admin_username="ops",
        admin_password=deployment.password,
        threads=4,
        seconds=12,
        budget=3000,
    )
    runner = threading.Thread(target=workload.run)
    runner.start()
    try:
        time.sleep(2)
        deployment.cluster.stop()

        status, body = deployment.health()
        assert status == 503
        down = {d["name"] for d in body["departments"] if not d["reachable"]}
        assert down == FAR_SLUGS
        assert body["system"]["reachable"] is True

        browser = Browser(deployment.server.url)
        status, _, page = submit(browser, "general-inquiry", "Typed while the server was down")
        assert status == 503
        assert "could not save your ticket to General Inquiry" in page
        assert 'value="Typed while the server was down"' in page  # the form is kept
        status, _, _ = submit(browser, "account-billing", "Other departments still work")
        assert status == 302

        status, _, page = deployment.admin().request("GET", "/dashboard/")
        assert status == 200
        for label in FAR_LABELS:
            assert label in page

        report = manage(deployment.env, "showmigrations_departments", "--format", "json")
        assert report.returncode == 3
        assert "general_inquiry_department" in report.stdout

        deployment.cluster.start()
        deadline = time.monotonic() + 20
        while deployment.health()[0] != 200:
            assert time.monotonic() < deadline, "did not recover without a restart"
            time.sleep(0.5)
        status, _, _ = submit(browser, "general-inquiry", "Back again")
        assert status == 302
    finally:
        if not pg_ready(deployment.cluster.port):
            deployment.cluster.start()
        runner.join(60)

    # During the outage, requests for the two far departments answer 503; nothing may be a 500,
    # go unanswered or kill a simulated browser.
    unexpected = {
        kind: dict(counter)
        for kind, counter in workload.outcomes.statuses.items()
        if any(s == 0 or (s >= 500 and s != 503) for s in counter)
    }
    assert unexpected == {}
    assert workload.outcomes.failures == []
    assert workload.outcomes.acknowledged, "the load did not get any ticket through"
    problems = verify_acknowledged(deployment.urls, workload.outcomes.acknowledged)
    assert problems == {"lost": 0, "duplicated": 0, "wrong_department": 0}
