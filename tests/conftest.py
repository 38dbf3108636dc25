from __future__ import annotations

import pytest

from departments.registry import Department, all_departments


@pytest.fixture
def departments() -> list[Department]:
    return all_departments()


@pytest.fixture
def tech(departments) -> Department:
    return next(d for d in departments if d.code == "TEC")


@pytest.fixture
def billing(departments) -> Department:
    return next(d for d in departments if d.code == "BIL")


@pytest.fixture(scope="session", autouse=True)
def _close_dashboard_workers(django_db_setup):
    """The dashboard's worker threads hold connections; close them before test DBs are dropped."""
    yield
    from departments.aggregate import shutdown_workers

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
