"""Production settings as an operator runs them: check --deploy, secrets required, headers, logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from devtools.stack import operator_environ
from runtime.logging import JsonFormatter, scrub
from runtime.middleware import ContentSecurityPolicyMiddleware

ROOT = Path(__file__).resolve().parents[2]


def run_production(*args: str, tmp_path: Path, **env: str | None) -> subprocess.CompletedProcess:
    clean = operator_environ()
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "x7" * 30 + "-Ab_cD-eF!gH",
            "DJANGO_ALLOWED_HOSTS": "help.example.com",
            "CACHE_URL": "dbcache://helpdesk_cache",
            "DATABASE_URL": f"sqlite:///{tmp_path}/system.sqlite3",
            "TECHNICAL_ISSUES_DEPARTMENT_DATABASE_URL": f"sqlite:///{tmp_path}/tech.sqlite3",
            "HELPDESK_SITE_URL": "https://help.example.com",
            "HELPDESK_REPLY_ADDRESS": "support@help.example.com",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={k: v for k, v in clean.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_passes_with_no_warnings(tmp_path):
    result = run_production("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_about_email_addresses_left_at_their_defaults(tmp_path):
    result = run_production(
        "check",
        "--deploy",
        tmp_path=tmp_path,
        HELPDESK_SITE_URL=None,
        HELPDESK_REPLY_ADDRESS=None,
    )
    assert "helpdesk.W010" in result.stderr + result.stdout
    assert "helpdesk.W011" in result.stderr + result.stdout


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_production_requires_a_secret_key(tmp_path, secret):
    result = run_production("check", tmp_path=tmp_path, DJANGO_SECRET_KEY=secret)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_has_only_configured_departments(tmp_path):
    result = run_production(
        "shell",
        "--verbosity=0",
        "-c",
        "from departments.registry import all_departments; "
        "print([d.alias for d in all_departments()])",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['technical_issues_department']"


@override_settings(CONTENT_SECURITY_POLICY="default-src 'self'")
def test_content_security_policy_header():
    middleware = ContentSecurityPolicyMiddleware(lambda request: HttpResponse("ok"))
    response = middleware(RequestFactory().get("/"))
    assert response.headers["Content-Security-Policy"] == "default-src 'self'"


def test_log_lines_are_json_without_passwords():
    record = logging.makeLogRecord(
        {
            "name": "tickets",
            "levelname": "WARNING",
            "msg": "department unavailable: %s",
            "args": ('connection to "postgres://billing:hunter2@db:5432/billing" failed',),
            "department": "account-billing",
            "error": "FATAL: password authentication failed; password=hunter2",
        }
    )
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "hunter2" not in line
    assert entry["department"] == "account-billing"
    assert entry["level"] == "WARNING"
    assert "postgres://billing:***@db:5432/billing" in entry["message"]


def test_scrub_leaves_ordinary_text_alone():
    assert scrub("ticket TEC-ABCDEF saved") == "ticket TEC-ABCDEF saved"
    assert scrub("password: 'secret word'") == "password: ***"


@pytest.mark.parametrize(
    ("cache_url", "backend", "sessions"),
    [
        ("redis://127.0.0.1:6379/1", "runtime.cache.RedisCache", "cached_db"),
        ("dbcache://helpdesk_cache", "django.core.cache.backends.db.DatabaseCache", "db"),
        ("locmemcache://x", "django.core.cache.backends.locmem.LocMemCache", "db"),
    ],
)
def test_sessions_are_read_from_the_cache_only_when_it_is_shared_redis(
    tmp_path, cache_url, backend, sessions
):
    code = (
        "from django.conf import settings as s; "
        "print(s.CACHES['default']['BACKEND'], s.SESSION_ENGINE)"
    )
    result = run_production(
        "shell", "--verbosity=0", "-c", code, tmp_path=tmp_path, CACHE_URL=cache_url
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [backend, f"runtime.sessions.{sessions}"]
