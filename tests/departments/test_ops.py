"""migrate_departments, rollback_departments and showmigrations_departments.

Every test makes its own department databases (``dbs`` fixture) on the backend under test and
installs them as the only departments; the suite's shared test databases are not touched (and
not needed: no django_db marker, the fixture allows database access itself).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from departments import ops
from departments.ops import Outcome
from devtools.stack import operator_environ
from tickets.models import TicketCount

# The department migrations on disk, in order; the tests follow whatever the project ships.
ALL = list(ops.disk_migrations().names)
ALL_TEXT = ", ".join(ALL)
LATEST = ALL[-1]
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run(command: str, *args: str) -> Ran:
    out, err = StringIO(), StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return Ran(code, out.getvalue(), err.getvalue())


def applied(alias: str) -> list[str]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        if "django_migrations" not in connection.introspection.table_names(cursor):
            return []
        cursor.execute("SELECT name FROM django_migrations WHERE app = 'tickets' ORDER BY name")
        return [row[0] for row in cursor.fetchall()]


def tables(alias: str) -> set[str]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        return {t for t in connection.introspection.table_names(cursor) if t.startswith("tickets")}


def progress_counts(output: str, total: int) -> list[int]:
    return sorted(int(k) for k in re.findall(rf"^\[\s*(\d+)/{total}\] ", output, re.MULTILINE))


# --- migrate_departments --------------------------------------------------------------------


def test_migrate_applies_all_then_skips_without_building_an_executor(dbs, monkeypatch):
    alpha, bravo = dbs.install({"ALPHA": dbs.url("alpha"), "BRAVO": dbs.url("bravo")})

    ran = run("migrate_departments", "--noinput", "--parallel", "1")

    assert ran.code == 0, ran.err
    for department in (alpha, bravo):
        assert applied(department.alias) == ALL  # each database keeps its own record
        assert TicketCount.objects.using(department.alias).count() == 20  # data migration ran
    assert f"Alpha (alpha): applied {ALL_TEXT}" in ran.out

    # Up to date is decided from django_migrations alone: no executor, no model states.
    def no_executor(*args, **kwargs):
        raise AssertionError("an up-to-date department built a MigrationExecutor")

    monkeypatch.setattr(ops, "MigrationExecutor", no_executor)
    again = run("migrate_departments", "--noinput", "--parallel", "1")
    assert again.code == 0, again.err
    assert again.out.count(": up to date") == 2
    assert "2 department(s): 2 up to date." in again.out

    # In parallel too, and without forking a single worker process for it.
    monkeypatch.setattr(ops, "_pool", lambda workers: pytest.fail("forked for a no-op run"))
    parallel = run("migrate_departments", "--noinput", "--parallel", "2")
    assert parallel.code == 0, parallel.err
    assert progress_counts(parallel.out, 2) == [1, 2]
    assert parallel.out.count(": up to date") == 2


def test_parallel_run_reports_each_department_as_it_finishes(dbs):
    dbs.install({name: dbs.url(name.lower()) for name in ["ALPHA", "BRAVO", "CHARLIE"]})

    ran = run("migrate_departments", "--noinput", "--parallel", "3")

    assert ran.code == 0, ran.err
    assert progress_counts(ran.out, 3) == [1, 2, 3]
    for slug in ["alpha", "bravo", "charlie"]:
        assert applied(f"{slug}_department") == ALL
        assert re.search(rf"^{slug}\s+{re.escape(ALL_TEXT)} .* ok$", ran.out, re.M)


def test_one_department_failing_does_not_stop_the_others(dbs):
    departments = dbs.install(
        {
            "ALPHA": dbs.url("alpha"),
            "BRAVO": dbs.url("bravo"),
            "CHARLIE": dbs.unreachable_url("charlie"),
            "DELTA": (missing := dbs.url("delta", exists=False)),
        }
    )
    # A table in the way makes 0001_initial fail in bravo only.
    with connections["bravo_department"].cursor() as cursor:
        cursor.execute("CREATE TABLE tickets_ticketcount (id integer)")

    ran = run("migrate_departments", "--noinput", "--parallel", "2")

    assert ran.code == ops.EXIT_SOME_FAILED
    assert applied("alpha_department") == ALL
    assert applied("bravo_department") == []
    assert not dbs.exists(missing), "a missing database was created without --create-missing"
    assert progress_counts(ran.out + ran.err, 4) == [1, 2, 3, 4]
    assert re.search(r"^bravo .*FAILED at 0001_initial: .*already exists", ran.out, re.M)
    assert re.search(r"^charlie .*UNREACHABLE: ", ran.out, re.M)
    assert re.search(
        r"^delta .*MISSING: .*does not exist \(run with --create-missing", ran.out, re.M
    )
    assert "3 of 4 department(s) could not be migrated: bravo, charlie, delta" in ran.err

    # The same through the function the command calls: which migration, which error.
    results = ops.departments_run(
        ops.department_migrate,
        departments,
        parallel=1,
        crashed=ops.DepartmentResult.crashed,
        disk=ops.disk_migrations(),
    )
    by_slug = {r.department.slug: r for r in results}
    assert by_slug["alpha"].outcome is Outcome.NOTHING_TO_DO
    assert by_slug["bravo"].outcome is Outcome.FAILED
    assert by_slug["bravo"].failed_migration == "0001_initial"
    assert "already exists" in by_slug["bravo"].error
    if dbs.backend == "mariadb":  # DDL is not transactional there: the report must say so
        assert "cannot roll back schema changes" in by_slug["bravo"].error
    assert by_slug["charlie"].outcome is Outcome.UNREACHABLE and by_slug["charlie"].error
    assert by_slug["delta"].outcome is Outcome.MISSING


def test_a_department_being_migrated_by_another_run_is_waited_for_then_reported(dbs, monkeypatch):
    alpha, bravo = dbs.install({"ALPHA": dbs.url("alpha"), "BRAVO": dbs.url("bravo")})
    assert run("migrate_departments", "--noinput").code == 0
    assert run("rollback_departments", "--noinput").code == 0
    monkeypatch.setattr(ops, "LOCK_WAIT", 1)
    # Another run (another connection, as another process would have) holds alpha's lock.
    other = connections.create_connection(alpha.alias)
    try:
        with ops.migration_lock(other):
            ran = run("migrate_departments", "--noinput")
            assert ran.code == ops.EXIT_SOME_FAILED
            assert re.search(r"^alpha .*FAILED.*another run is migrating", ran.out, re.M)
            assert applied(alpha.alias) == ALL[:-1]  # untouched while the other run holds it
            assert applied(bravo.alias) == ALL  # the other department was not held up
            blocked = run("rollback_departments", "--noinput", "--department", "alpha")
            assert blocked.code == ops.EXIT_SOME_FAILED
            assert applied(alpha.alias) == ALL[:-1]
    finally:
        other.close()
    # Released: the next run migrates it.
    ran = run("migrate_departments", "--noinput")
    assert ran.code == 0, ran.err
    assert applied(alpha.alias) == ALL


def test_check_and_plan_change_nothing_and_say_so_in_the_exit_status(dbs):
    (alpha,) = dbs.install({"ALPHA": dbs.url("alpha")})

    plan = run("migrate_departments", "--plan", "--parallel", "1")
    assert plan.code == 0, plan.err
    assert f"Alpha (alpha): would apply {ALL_TEXT}" in plan.out
    check = run("migrate_departments", "--check")
    assert check.code == ops.EXIT_PENDING
    assert "1 department(s) have unapplied migrations: alpha" in check.err
    assert applied(alpha.alias) == [] and tables(alpha.alias) == set()

    assert run("migrate_departments", "--noinput").code == 0
    assert run("migrate_departments", "--check").code == 0

    dbs.install({"ALPHA": dbs.url("alpha2"), "BRAVO": dbs.unreachable_url("bravo")})
    assert run("migrate_departments", "--check").code == ops.EXIT_SOME_FAILED


def test_fake_records_migrations_without_running_them(dbs):
    (alpha,) = dbs.install({"ALPHA": dbs.url("alpha")})

    assert run("migrate_departments", "--noinput", "--fake").code == 0

    assert applied(alpha.alias) == ALL
    assert tables(alpha.alias) == set()


def test_create_missing_creates_the_database_then_migrates(dbs):
    url = dbs.url("echo", exists=False, folder="new/deeper")
    (echo,) = dbs.install({"ECHO": url})

    ran = run("migrate_departments", "--noinput", "--create-missing")

    assert ran.code == 0, ran.err
    assert dbs.exists(url)
    assert applied(echo.alias) == ALL
    assert "Echo (echo): created the database; applied 0001_initial" in ran.out
    connection = connections[echo.alias]
    with connection.cursor() as cursor:
        if dbs.backend == "mariadb":
            cursor.execute(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"
            )
            assert cursor.fetchone() == ("utf8mb4", "utf8mb4_unicode_ci")
        elif dbs.backend == "postgres":
            cursor.execute("SHOW server_encoding")
            assert cursor.fetchone() == ("UTF8",)
    # Running it again neither recreates nor complains.
    assert (
        "Echo (echo): up to date" in run("migrate_departments", "--noinput", "--create-missing").out
    )


def test_selection_by_alias_and_slug_and_unknown_names(dbs):
    dbs.install({name: dbs.url(name.lower()) for name in ["ALPHA", "BRAVO", "CHARLIE"]})

    ran = run(
        "migrate_departments", "--plan", "--database", "bravo_department", "--department", "charlie"
    )
    assert ran.code == 0, ran.err
    assert progress_counts(ran.out, 2) == [1, 2]
    assert "(bravo)" in ran.out and "(charlie)" in ran.out and "(alpha)" not in ran.out

    with pytest.raises(CommandError) as unknown:
        call_command("migrate_departments", "--department", "nope", "--database", "default")
    assert unknown.value.returncode == ops.EXIT_USAGE
    message = str(unknown.value)
    assert "Unknown department 'nope'" in message
    assert "'default' is not a department database" in message
    assert "Valid --department slugs: alpha, bravo, charlie" in message
    assert "alpha_department, bravo_department, charlie_department" in message


# --- confirmation ---------------------------------------------------------------------------


def test_with_debug_off_it_asks_before_changing_anything(dbs, monkeypatch, settings):
    (alpha,) = dbs.install({"ALPHA": dbs.url("alpha")})
    settings.DEBUG = False
    questions = []
    monkeypatch.setattr("builtins.input", lambda q: questions.append(q) or "no")

    with pytest.raises(CommandError) as cancelled:
        call_command("migrate_departments", stdout=StringIO())
    assert cancelled.value.returncode == ops.EXIT_CANCELLED
    assert applied(alpha.alias) == [] and len(questions) == 1

    assert run("migrate_departments", "--plan").code == 0  # read-only: no question
    assert len(questions) == 1

    monkeypatch.setattr("builtins.input", lambda q: questions.append(q) or "yes")
    assert run("rollback_departments").code == 0  # asks too
    assert len(questions) == 2
    assert run("migrate_departments").code == 0
    assert applied(alpha.alias) == ALL and len(questions) == 3

    monkeypatch.setattr("builtins.input", lambda q: pytest.fail("asked despite --force"))
    assert run("rollback_departments", "--force").code == 0
    settings.DEBUG = True
    assert run("migrate_departments").code == 0


# --- rollback_departments -------------------------------------------------------------------


def test_rollback_then_migrate_round_trips(dbs):
    alpha, bravo = dbs.install({"ALPHA": dbs.url("alpha"), "BRAVO": dbs.url("bravo")})
    assert run("migrate_departments", "--noinput").code == 0
    full_tables = tables(alpha.alias)

    one = run("rollback_departments", "--noinput", "--department", "alpha")
    assert one.code == 0, one.err
    assert f"Alpha (alpha): rolled back {LATEST}" in one.out
    assert applied(alpha.alias) == ALL[:-1] and applied(bravo.alias) == ALL

    # --to stops after the named migration, whatever each department's state.
    to = run("rollback_departments", "--noinput", "--to", "0001", "--parallel", "1")
    assert to.code == 0, to.err
    assert applied(alpha.alias) == applied(bravo.alias) == ["0001_initial"]
    assert TicketCount.objects.using(alpha.alias).count() == 0  # the data migration's reverse
    again_to = run("rollback_departments", "--noinput", "--to", "0001", "--parallel", "1")
    assert again_to.out.count("): already at 0001_initial") == 2

    everything = run("rollback_departments", "--noinput", "--all")
    assert everything.code == 0, everything.err
    assert applied(alpha.alias) == applied(bravo.alias) == []
    assert tables(alpha.alias) == tables(bravo.alias) == set()

    nothing = run("rollback_departments", "--noinput", "--steps", "3")
    assert nothing.code == 0
    assert nothing.out.count("): nothing applied, nothing to roll back") == 2

    again = run("migrate_departments", "--noinput")
    assert again.code == 0, again.err
    assert applied(alpha.alias) == applied(bravo.alias) == ALL
    assert tables(alpha.alias) == full_tables
    assert TicketCount.objects.using(alpha.alias).count() == 20

    steps = run(
        "rollback_departments", "--noinput", "--steps", str(len(ALL)), "--department", "bravo"
    )
    assert steps.code == 0 and applied(bravo.alias) == []


def test_rollback_plan_fake_and_bad_target(dbs):
    (alpha,) = dbs.install({"ALPHA": dbs.url("alpha")})
    assert run("migrate_departments", "--noinput").code == 0

    plan = run("rollback_departments", "--plan", "--all")
    assert f"Alpha (alpha): would roll back {', '.join(reversed(ALL))}" in plan.out
    assert applied(alpha.alias) == ALL

    bad = run("rollback_departments", "--noinput", "--to", "0009")
    assert bad.code == ops.EXIT_USAGE
    assert ALL_TEXT in bad.err

    assert run("rollback_departments", "--noinput", "--fake").code == 0
    assert applied(alpha.alias) == ALL[:-1]
    assert TicketCount.objects.using(alpha.alias).count() == 20  # faked: the data stayed


def test_rollback_reports_failures_and_keeps_going(dbs):
    dbs.install({"ALPHA": dbs.url("alpha"), "BRAVO": dbs.unreachable_url("bravo")})
    assert run("migrate_departments", "--noinput", "--department", "alpha").code == 0

    ran = run("rollback_departments", "--noinput", "--all", "--parallel", "2")

    assert ran.code == ops.EXIT_SOME_FAILED
    assert applied("alpha_department") == []
    assert "1 of 2 department(s) could not be rolled back: bravo" in ran.err


# --- showmigrations_departments -------------------------------------------------------------


def test_showmigrations_table_and_json_list_unreachable_departments(dbs):
    dbs.install(
        {
            "ALPHA": dbs.url("alpha"),
            "BRAVO": dbs.url("bravo"),
            "CHARLIE": dbs.unreachable_url("charlie"),
        }
    )
    assert run("migrate_departments", "--noinput", "--department", "alpha").code == 0
    backend = {"sqlite": "sqlite", "postgres": "postgresql", "mariadb": "mariadb"}[dbs.backend]

    table = run("showmigrations_departments")
    assert table.code == ops.EXIT_SOME_FAILED
    lines = table.out.splitlines()
    assert lines[0].split() == ["department", "alias", "backend", "reachable", "applied", "pending"]
    assert lines[2].split() == [
        "alpha",
        "alpha_department",
        backend,
        "yes",
        f"{len(ALL)}/{len(ALL)}",
        "-",
    ]
    assert lines[3].split()[:5] == ["bravo", "bravo_department", backend, "yes", f"0/{len(ALL)}"]
    assert lines[3].endswith(f" {ALL_TEXT}")
    assert lines[4].split()[:4] == [
        "charlie",
        "charlie_department",
        backend.replace("mariadb", "mysql"),
        "no",
    ]
    assert "charlie: " in table.err and "Traceback" not in table.err

    as_json = run("showmigrations_departments", "--format", "json", "--parallel", "1")
    assert as_json.code == ops.EXIT_SOME_FAILED
    document = json.loads(as_json.out)
    assert document["migrations"] == ALL
    found = {d["department"]: d for d in document["departments"]}
    assert found["alpha"]["applied"] == ALL and found["alpha"]["pending"] == []
    assert found["bravo"]["pending"] == ALL and found["bravo"]["applied_count"] == 0
    assert found["charlie"]["reachable"] is False and found["charlie"]["error"]
    assert found["charlie"]["pending"] is None


# --- the runner -----------------------------------------------------------------------------


def die_in_bravo(*, department, **kwargs):
    if department.slug == "bravo":
        os._exit(1)
    return ops.DepartmentResult(department=department, outcome=Outcome.NOTHING_TO_DO)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_worker_that_dies_is_reported_not_fatal(dbs):
    departments = dbs.install({"ALPHA": dbs.url("alpha"), "BRAVO": dbs.url("bravo")})

    results = ops.departments_run(
        die_in_bravo, departments, parallel=2, crashed=ops.DepartmentResult.crashed
    )

    assert [r.department.slug for r in results] == ["alpha", "bravo"]
    assert results[1].outcome is Outcome.FAILED
    assert "worker process failed" in results[1].error


# --- as an operator runs it -----------------------------------------------------------------


def manage(*args: str, env: dict[str, str], tmp_path: Path, stdin: str = ""):
    # Only what an operator's shell would have: the test run's own variables are left out.
    clean = operator_environ()
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "HELPDESK_EMBEDDED_DEPARTMENTS": "false",
            "HELPDESK_DATA_DIR": str(tmp_path / "var"),
            "DATABASE_URL": f"sqlite:///{tmp_path}/system.sqlite3",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_department_added_by_environment_variable_is_migrated_with_no_code_change(dbs, tmp_path):
    env = {"FIELD_SERVICE_DEPARTMENT_DATABASE_URL": dbs.url("field", exists=False)}

    missing = manage("migrate_departments", "--noinput", env=env, tmp_path=tmp_path)
    assert missing.returncode == ops.EXIT_SOME_FAILED, missing.stderr
    assert "--create-missing" in missing.stdout

    created = manage(
        "migrate_departments", "--noinput", "--create-missing", env=env, tmp_path=tmp_path
    )
    assert created.returncode == 0, created.stderr
    assert (
        f"[1/1] Field Service (field-service): created the database; applied {ALL_TEXT}"
    ) in created.stdout
    assert manage("migrate_departments", "--check", env=env, tmp_path=tmp_path).returncode == 0

    prod = {**env, "DJANGO_DEBUG": "false"}
    refused = manage("rollback_departments", env=prod, tmp_path=tmp_path)  # no terminal: no yes
    assert refused.returncode == ops.EXIT_CANCELLED
    assert "Cancelled; nothing was changed" in refused.stderr
    assert manage("rollback_departments", "--force", env=prod, tmp_path=tmp_path).returncode == 0

    check = manage("migrate_departments", "--check", env=env, tmp_path=tmp_path)
    assert check.returncode == ops.EXIT_PENDING
    shown = manage("showmigrations_departments", "--format", "json", env=env, tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    (field,) = json.loads(shown.stdout)["departments"]
    assert (field["department"], field["pending"]) == ("field-service", [LATEST])


def test_notes_written_before_the_conversation_become_internal_messages_and_back(dbs):
    (alpha,) = dbs.install({"ALPHA": dbs.url("alpha")})
    assert run("migrate_departments", "--noinput").code == 0
    assert run("rollback_departments", "--noinput", "--to", "0005").code == 0
    connection = connections[alpha.alias]
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q('tickets_ticket')} (reference, customer_name, customer_email, "
            "customer_phone, subject, message, status, priority, created_at, updated_at, version) "
            "VALUES ('ALP-222222', 'Ada', 'ada@x.test', '', 'Old', 'Old message', 'new', 2, "
            "%s, %s, 1)",
            ["2026-01-01 00:00:00", "2026-01-01 00:00:00"],
        )
        cursor.execute(f"SELECT id FROM {q('tickets_ticket')}")
        ticket_id = cursor.fetchone()[0]
        cursor.execute(
            f"INSERT INTO {q('tickets_adminnote')} (ticket_id, author_id, author_name, body, "
            "created_at) VALUES (%s, 3, 'Sam', 'an old internal note', %s)",
            [ticket_id, "2026-01-02 00:00:00"],
        )
    assert run("migrate_departments", "--noinput").code == 0
    from tickets.models import Message, Visibility

    (message,) = Message.objects.using(alpha.alias).all()
    assert (message.body, message.author_name, message.visibility, message.from_customer) == (
        "an old internal note",
        "Sam",
        Visibility.INTERNAL,
        False,
    )
    # And back: the rows are notes again.
    assert run("rollback_departments", "--noinput", "--to", "0005").code == 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT body FROM {q('tickets_adminnote')}")
        assert [tuple(row) for row in cursor.fetchall()] == [("an old internal note",)]
