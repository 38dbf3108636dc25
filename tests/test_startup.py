"""Start-up through manage.py, as an operator runs it: configuration comes from the environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.stack import operator_environ

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    # The test run's own settings put variables in os.environ; an operator's shell has none.
    clean = operator_environ()
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "HELPDESK_DATA_DIR": str(tmp_path / "var"),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_url_fails_with_one_line_naming_the_variable(tmp_path):
    result = manage(
        "check", env={"SHIPPING_DEPARTMENT_DATABASE_URL": "postgres://db:port/x"}, tmp_path=tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error: SHIPPING_DEPARTMENT_DATABASE_URL")


def test_duplicate_code_fails_with_one_line(tmp_path):
    result = manage(
        "check",
        env={
            "SHIPPING_DEPARTMENT_DATABASE_URL": f"sqlite:///{tmp_path}/ship.sqlite3",
            "SHIPPING_DEPARTMENT_CODE": "TEC",
        },
        tmp_path=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Configuration error: SHIPPING_DEPARTMENT_CODE: code 'TEC' is already used by "
        "TECHNICAL_ISSUES; set a different SHIPPING_DEPARTMENT_CODE."
    )


SHOW = (
    "import json; from departments.registry import all_departments; "
    "print(json.dumps([[d.slug, d.label, d.alias, d.code] for d in all_departments()]))"
)


def test_embedded_default_and_a_department_added_by_one_variable(tmp_path):
    result = manage(
        "shell",
        "--verbosity=0",
        "-c",
        SHOW,
        env={"FIELD_SERVICE_DEPARTMENT_DATABASE_URL": f"sqlite:///{tmp_path}/field.sqlite3"},
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert len(found) == 6
    assert found[0] == [
        "technical-issues",
        "Technical Issues",
        "technical_issues_department",
        "TEC",
    ]
    assert found[-1] == ["field-service", "Field Service", "field_service_department", "FIE"]
    assert (tmp_path / "var").is_dir()


@pytest.mark.django_db(databases="__all__")
def test_home_page_lists_departments(client):
    response = client.get("/")
    assert response.status_code == 200
    for label in ["Technical Issues", "Account &amp; Billing", "Feedback &amp; Suggestions"]:
        assert label in response.content.decode()
