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
