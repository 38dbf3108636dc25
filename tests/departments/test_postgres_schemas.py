"""PostgreSQL departments that are schemas of one database are read with one statement.

The scenario runs in a subprocess with its own settings (five schema departments in a scratch
database this test creates and drops), since the suite's own departments are separate databases.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from departments.config import SEED_DEPARTMENTS

pytestmark = pytest.mark.server_backends
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(settings.TEST_BACKEND != "postgres", reason="PostgreSQL schemas only")
def test_schema_departments_agree_with_a_python_sort(tmp_path):
    import psycopg

    server = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
    database = f"hd{settings.RUN_ID}_schemas"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        with psycopg.connect(f"{server}/{database}", autocommit=True) as conn:
            for seed in SEED_DEPARTMENTS:
                conn.execute(f'CREATE SCHEMA "{seed.name.lower()}"')
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.endswith(("_DEPARTMENT_DATABASE_URL", "_DEPARTMENT_SCHEMA"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.base",
                "HELPDESK_EMBEDDED_DEPARTMENTS": "false",
                "HELPDESK_DATA_DIR": str(tmp_path),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'system.sqlite3'}",
            }
        )
        for seed in SEED_DEPARTMENTS:
            env[f"{seed.name}_DEPARTMENT_DATABASE_URL"] = f"{server}/{database}"
            env[f"{seed.name}_DEPARTMENT_SCHEMA"] = seed.name.lower()
        done = subprocess.run(
            [sys.executable, "-m", "tests.departments.schema_scenario"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "schema scenario: ok" in done.stdout
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
