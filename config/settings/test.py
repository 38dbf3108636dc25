"""Test settings: the same discovery code as production, pointed at the backend under test.

``TEST_BACKEND`` picks it: ``sqlite`` (default, files in a temporary folder), ``postgres`` or
``mariadb``. Server databases get names unique to this run, so a test run creates and drops only
databases it made itself and two runs on one server never collide.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from departments.config import SEED_DEPARTMENTS, databases_from_environment

TEST_BACKEND = os.environ.get("TEST_BACKEND", "sqlite").lower()
_SERVER_URLS = {
    "postgres": os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
    "mariadb": os.environ.get("TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306"),
}
if TEST_BACKEND not in {"sqlite", *_SERVER_URLS}:
    raise SystemExit(f"TEST_BACKEND={TEST_BACKEND!r}: use sqlite, postgres or mariadb")

# Subprocesses (ops commands, live servers) inherit the run id and so see the same databases.
RUN_ID = os.environ.setdefault("HELPDESK_TEST_RUN_ID", secrets.token_hex(3))
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_DATA_DIR = Path(tempfile.gettempdir()) / f"helpdesk-test-{RUN_ID}{_WORKER}"
# Keep the developer's own var/ and environment out of the test run.
os.environ["HELPDESK_DATA_DIR"] = str(TEST_DATA_DIR)
os.environ["HELPDESK_EMBEDDED_DEPARTMENTS"] = "false"
os.environ.setdefault("DATABASE_URL", "sqlite:///" + str(TEST_DATA_DIR / "bootstrap.sqlite3"))

from .base import *  # noqa: E402, F403


def test_database_url(stem: str) -> str:
    if TEST_BACKEND == "sqlite":
        return f"sqlite:///{TEST_DATA_DIR / stem}.sqlite3"
    # Django prefixes test_ to these names; the tests never touch the unprefixed names.
    return f"{_SERVER_URLS[TEST_BACKEND]}/hd{RUN_ID}{_WORKER}_{stem}"


TEST_ENVIRON = {
    "DATABASE_URL": test_database_url("system"),
    **{
        f"{seed.name}_DEPARTMENT_DATABASE_URL": test_database_url(seed.name.lower())
        for seed in SEED_DEPARTMENTS
    },
}
DATABASES, DEPARTMENTS = databases_from_environment(
    TEST_ENVIRON, data_dir=TEST_DATA_DIR, embedded=False
)
if TEST_BACKEND == "sqlite":
    TEST_DATA_DIR.mkdir(parents=True, exist_ok=True)
    for _config in DATABASES.values():
        # Files, not :memory:, so ATTACH, live servers and subprocesses see the test data.
        _config["TEST"] = {"NAME": _config["NAME"].replace(".sqlite3", ".test.sqlite3")}

STATIC_ROOT = TEST_DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Rate-limit counters: per process, emptied before every test (tests/conftest.py), whatever
# CACHE_URL the developer's shell has.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
