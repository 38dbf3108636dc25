"""Database router.

Layout: ``default`` is the system database (auth, sessions, admin, contenttypes, accounts).
Every ``*_department`` alias is a department database holding the ``tickets`` app and nothing
else. Department data has no implicit database: code must say ``.using(department.alias)``.
"""

from __future__ import annotations

from departments.registry import is_department_alias

DEPARTMENT_APPS = frozenset({"tickets"})


class MissingDepartmentDatabase(RuntimeError):
    """A department model was queried or saved without naming its database."""


class DepartmentRouter:
    def _department_db(self, model, hints) -> str | None:
        if model._meta.app_label not in DEPARTMENT_APPS:
            return None  # no opinion: system data goes to `default`
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            # Related managers and saves of loaded rows stay in the row's own database.
            return instance._state.db
        raise MissingDepartmentDatabase(
            f"{model._meta.label} lives in a department database: query it with "
            f".using(department.alias) (or save with using=...)."
        )

    def db_for_read(self, model, **hints):
        return self._department_db(model, hints)

    def db_for_write(self, model, **hints):
        return self._department_db(model, hints)

    def allow_relation(self, obj1, obj2, **hints):
        return obj1._state.db == obj2._state.db

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label in DEPARTMENT_APPS:
            return is_department_alias(db)
        return db == "default"
