"""``python manage.py ingest_email < mail`` run for real, as the mail server runs it, against
this test run's databases: the exit codes the mail server acts on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from devtools.stack import operator_environ
from tests.mail.inbound_mail import build
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def this_runs_database_urls() -> dict[str, str]:
    """The environment variables that point a fresh process at this run's test databases."""
    urls = {}
    for alias, variable in [("default", "DATABASE_URL")] + [
        (alias, f"{alias.upper()}_DATABASE_URL") for alias in connections if alias != "default"
    ]:
        name = connections[alias].settings_dict["NAME"]  # the test database's, once created
        base = settings.TEST_ENVIRON[variable]
        urls[variable] = (
            f"sqlite:///{name}" if base.startswith("sqlite") else f"{base.rsplit('/', 1)[0]}/{name}"
        )
    return urls


def ingest(raw: bytes, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = operator_environ()
    environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "HELPDESK_DATA_DIR": str(tmp_path),
            "HELPDESK_EMBEDDED_DEPARTMENTS": "false",
            **this_runs_database_urls(),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "ingest_email"],
        cwd=ROOT,
        env=environ,
        input=raw,
        capture_output=True,
        timeout=60,
    )


def test_piped_mail_exits_0_65_or_75(departments, tmp_path):
    general = next(d for d in departments if d.slug == settings.HELPDESK_INBOUND_DEFAULT_DEPARTMENT)

    taken = ingest(build("Piped in."), tmp_path)
    assert taken.returncode == 0, taken.stderr
    ticket = Ticket.objects.using(general.alias).get()
    assert taken.stdout.decode().strip() == f"New ticket {ticket.reference} in {general.label}"

    refused = ingest(b"Subject: who sent this?\r\n\r\nbody", tmp_path)
    assert refused.returncode == 65
    assert refused.stderr.decode().strip().splitlines() == [
        "CommandError: Rejected: no usable From address (From: none)"
    ]

    down = {f"{general.alias.upper()}_DATABASE_URL": f"sqlite:///{tmp_path}/missing/down.sqlite3"}
    deferred = ingest(build("Later."), tmp_path, **down)
    assert deferred.returncode == 75, deferred.stderr
    assert b"Deferred: the General Inquiry database is unavailable" in deferred.stderr
    assert Ticket.objects.using(general.alias).count() == 1
