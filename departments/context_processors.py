from __future__ import annotations

from departments.registry import all_departments


def departments(request) -> dict:
    return {"departments": all_departments()}
