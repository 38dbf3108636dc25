from __future__ import annotations

import copy
from contextlib import contextmanager

import pytest
from django.core.cache import cache
from django.db import connections
from django.db.utils import load_backend

from departments.registry import Department, all_departments


@pytest.fixture(autouse=True)
def _empty_cache():
    # Rate-limit and sign-in counters live in the cache; one test's count must not leak.
    cache.clear()


@pytest.fixture
def departments() -> list[Department]:
    return all_departments()


@pytest.fixture
def tech(departments) -> Department:
    return next(d for d in departments if d.code == "TEC")


@pytest.fixture
def billing(departments) -> Department:
    return next(d for d in departments if d.code == "BIL")


@pytest.fixture
def database_down(tmp_path):
    """``with database_down(department):`` its database refuses connections inside the block.

    A real failed connection on the backend under test, not a mock. SQLite: a file in a folder
    that does not exist. Servers: the same server on port 1, where nothing listens. The test's
    own connection (and its transaction) is set aside and put back afterwards.
    """

    @contextmanager
    def take_down(department: Department):
        alias = department.alias
        original = connections[alias]
        config = copy.deepcopy(original.settings_dict)
        if original.vendor == "sqlite":
            config["NAME"] = str(tmp_path / "no-such-folder" / "down.sqlite3")
        else:
            config.update(HOST="127.0.0.1", PORT="1")
        broken = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)
        connections[alias] = broken
        try:
            yield
        finally:
            broken.close()
            connections[alias] = original

    return take_down


@pytest.fixture(scope="session", autouse=True)
def _close_dashboard_workers(django_db_setup):
    """The dashboard's worker threads hold connections; close them before test DBs are dropped."""
    yield
    from departments.fanout import shutdown_workers

    shutdown_workers()


@pytest.fixture(scope="module")
def dashboard_tickets(django_db_setup, django_db_blocker):
    """A committed set of tickets with many ties, removed after the module (see dashboard_data)."""
    from tests.dashboard_data import clear_tickets, make_tickets

    with django_db_blocker.unblock():
        clear_tickets()
        made = make_tickets()
    yield made
    with django_db_blocker.unblock():
        clear_tickets()


@pytest.fixture(autouse=True)
def _attachments_dir(settings, tmp_path_factory):
    # Stored files of one test never meet another's (clean_attachments tests list them all).
    settings.HELPDESK_ATTACHMENTS_DIR = tmp_path_factory.mktemp("attachments")
