"""Migrations land in every department database and nowhere else; data stays where written."""

from __future__ import annotations

import pytest
from django.db import connections

from accounts.models import DepartmentMembership
from departments.registry import UnknownDepartment, registry
from tests.factories import TicketFactory, UserFactory
from tickets.models import Message, Ticket, TicketCount, TicketEvent
from tickets.selectors import ticket_find_by_reference

pytestmark = pytest.mark.django_db(databases="__all__")

DEPARTMENT_TABLES = {
    Ticket._meta.db_table,
    Message._meta.db_table,
    TicketEvent._meta.db_table,
    TicketCount._meta.db_table,
}


def tables(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


def test_department_tables_exist_in_every_department_database_and_not_in_system(departments):
    assert len(departments) == 5
    for department in departments:
        found = tables(department.alias)
        assert found >= DEPARTMENT_TABLES, department
        assert "accounts_user" not in found and "django_session" not in found
    system = tables("default")
    assert not system & DEPARTMENT_TABLES
    assert {"accounts_user", "accounts_departmentmembership", "django_session"} <= system


def test_each_department_database_records_its_own_migrations(departments):
    for department in departments:
        with connections[department.alias].cursor() as cursor:
            cursor.execute("SELECT app, name FROM django_migrations WHERE app = 'tickets'")
            applied = sorted(row[1] for row in cursor.fetchall())
        assert applied[:2] == ["0001_initial", "0002_seed_ticket_counts"]


def test_migrations_seed_one_count_row_per_status_and_priority(tech):
    assert TicketCount.objects.using(tech.alias).count() == 20


def test_a_ticket_written_to_one_department_is_invisible_in_the_others(departments, billing):
    ticket = TicketFactory(department=billing, subject="Refund please")
    for department in departments:
        found = Ticket.objects.using(department.alias).filter(reference=ticket.reference)
        assert found.exists() is (department == billing), department
    assert ticket.reference.startswith("BIL-")


def test_reference_lookup_finds_the_right_database(departments):
    made = {d.slug: TicketFactory(department=d) for d in departments}
    for department in departments:
        ticket = made[department.slug]
        found_department, found = ticket_find_by_reference(ticket.reference.lower())
        assert found_department == department
        assert found.pk == ticket.pk and found._state.db == department.alias
    assert ticket_find_by_reference("ZZZ-234567") is None
    assert ticket_find_by_reference("not a reference") is None
    # A well-formed reference of a real department that does not exist there.
    assert ticket_find_by_reference("TEC-222222") is None


def test_membership_lives_in_the_system_database(tech):
    agent = UserFactory(departments=[tech])
    assert DepartmentMembership.objects.using("default").filter(user=agent).count() == 1
    assert agent.departments() == [tech]


def test_registry_lookups(departments):
    reg = registry()
    assert [d.alias for d in reg] == [d.alias for d in departments]
    billing = reg.get("account-billing")
    assert (billing.label, billing.alias, billing.code) == (
        "Account & Billing",
        "account_billing_department",
        "BIL",
    )
    assert reg.for_code("bil") == billing
    assert reg.for_alias("account_billing_department") == billing
    with pytest.raises(UnknownDepartment):
        reg.get("nope")
