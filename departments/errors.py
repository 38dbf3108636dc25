"""One exception for a department database that is down, raised where department data is read
or written and answered in one place (``departments.middleware``) as the 503 page."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, InterfaceError

from departments.registry import Department

# A department database that cannot be reached or fails mid-statement. InterfaceError is not a
# DatabaseError in Django's hierarchy but means the same here (a dropped connection).
DATABASE_ERRORS = (DatabaseError, InterfaceError)

P = ParamSpec("P")
R = TypeVar("R")


class DepartmentUnavailable(Exception):
    """``department``'s database did not answer while the app tried to ``what`` (a phrase:
    "open this ticket"). ``unsaved_note`` is text the person typed, handed back on the page."""

    def __init__(self, department: Department, *, what: str, unsaved_note: str = ""):
        super().__init__(f"{department.slug}: could not {what}")
        self.department = department
        self.what = what
        self.unsaved_note = unsaved_note


@contextmanager
def department_errors(department: Department, what: str) -> Iterator[None]:
    """Inside the block, a database failure of ``department`` is ``DepartmentUnavailable``."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        raise DepartmentUnavailable(department, what=what) from exc


def uses_department(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator for a function whose first argument (or ``department=``) names the department."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            department = kwargs.get("department") or args[0]
            with department_errors(department, what):  # type: ignore[arg-type]
                return fn(*args, **kwargs)

        return wrapper

    return decorate
