"""The router keeps department data in department databases and system data in `default`."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.db import router

from departments.router import DepartmentRouter, MissingDepartmentDatabase
from tickets.models import Ticket

SYSTEM_APPS = ["admin", "auth", "contenttypes", "sessions", "messages", "accounts"]


@pytest.mark.parametrize("app_label", [*SYSTEM_APPS, "tickets"])
def test_allow_migrate_for_every_app_on_every_alias(app_label):
    for alias in settings.DATABASES:
        allowed = router.allow_migrate(alias, app_label)
        if app_label == "tickets":
            assert allowed is alias.endswith("_department"), alias
        else:
            assert allowed is (alias == "default"), (app_label, alias)


def test_every_model_is_allowed_in_exactly_the_right_databases():
    department_aliases = [a for a in settings.DATABASES if a.endswith("_department")]
    assert len(department_aliases) == 5
    for model in apps.get_models():
        allowed = {a for a in settings.DATABASES if router.allow_migrate_model(a, model)}
        if model._meta.app_label == "tickets":
            assert allowed == set(department_aliases), model
        else:
            assert allowed == {"default"}, model


def test_department_model_without_alias_fails_loudly():
    with pytest.raises(MissingDepartmentDatabase, match=r"\.using\(department\.alias\)"):
        Ticket.objects.count()
    with pytest.raises(MissingDepartmentDatabase):
        Ticket(subject="x").save()


def test_system_models_go_to_default():
    from accounts.models import User

    assert router.db_for_read(User) == "default"
    assert router.db_for_write(User) == "default"


def test_relations_only_within_one_database():
    a, b, c = Ticket(), Ticket(), Ticket()
    a._state.db, b._state.db, c._state.db = (
        "technical_issues_department",
        "technical_issues_department",
        "account_billing_department",
    )
    assert DepartmentRouter().allow_relation(a, b) is True
    assert DepartmentRouter().allow_relation(a, c) is False
