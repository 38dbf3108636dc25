"""docker-compose.yml is consistent with itself, with .env.example and with the seed departments.

No Docker engine runs here, so the file is checked as data: what `docker compose config` would
refuse, and what would make the stack start in the wrong order or without a department.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from departments.config import SEED_DEPARTMENTS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
STACKS = {
    "postgres": {
        "db": "postgres",
        "migrate": "migrate",
        "app": "app",
        "housekeeping": "housekeeping",
        "outbox": "outbox",
    },
    "mariadb": {
        "db": "mariadb",
        "migrate": "migrate-mariadb",
        "app": "app-mariadb",
        "housekeeping": "housekeeping-mariadb",
        "outbox": "outbox-mariadb",
    },
}


def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^#?\s?([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_every_variable_compose_reads_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text()))
    assert used, "compose reads no variables?"
    assert used - env_example_names() == set()


@pytest.mark.parametrize("profile", STACKS)
def test_each_profile_is_a_complete_stack(profile):
    names = STACKS[profile]
    for service in names.values():
        assert SERVICES[service]["profiles"] == [profile]
    app, migrate, db = (SERVICES[names[k]] for k in ("app", "migrate", "db"))
    assert "healthcheck" in db and "healthcheck" in app
    assert db["volumes"], "database data must live in a volume"
    assert app["depends_on"][names["migrate"]] == {"condition": "service_completed_successfully"}
    assert app["depends_on"][names["db"]] == {"condition": "service_healthy"}
    # Rate limits must be shared by every worker: the app waits for the shared cache.
    assert app["environment"]["CACHE_URL"].startswith("redis://redis:")
    assert app["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert profile in SERVICES["redis"]["profiles"] and "healthcheck" in SERVICES["redis"]
    assert migrate["depends_on"][names["db"]] == {"condition": "service_healthy"}
    assert migrate["restart"] == "no"
    assert "migrate --noinput" in migrate["command"][-1]
    assert "migrate_departments --noinput" in migrate["command"][-1]
    assert app["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


@pytest.mark.parametrize("profile", STACKS)
def test_expired_sessions_are_cleared_on_a_schedule(profile):
    names = STACKS[profile]
    job = SERVICES[names["housekeeping"]]
    assert "python manage.py clearsessions" in job["command"][-1]
    assert "sleep" in job["command"][-1]
    assert "housekeeping.ok" in " ".join(job["healthcheck"]["test"])
    assert job["environment"] == SERVICES[names["app"]]["environment"]
    assert job["depends_on"][names["migrate"]] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("profile", STACKS)
def test_the_outbox_worker_runs_beside_the_app_with_a_health_check(profile):
    names = STACKS[profile]
    worker = SERVICES[names["outbox"]]
    assert worker["command"][:3] == ["python", "manage.py", "deliver_outbox"]
    assert "--once" not in worker["command"]
    heartbeat = worker["command"][worker["command"].index("--heartbeat-file") + 1]
    assert heartbeat in " ".join(worker["healthcheck"]["test"])
    assert worker["environment"] == SERVICES[names["app"]]["environment"]
    assert worker["restart"] == "unless-stopped"
    assert worker["depends_on"][names["migrate"]] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("profile", STACKS)
def test_every_seed_department_has_a_database_and_its_own_user(profile):
    names = STACKS[profile]
    app_env = SERVICES[names["app"]]["environment"]
    created = SERVICES[names["db"]]["environment"]["HELPDESK_DEPARTMENTS"].split()
    assert created == [seed.name.lower() for seed in SEED_DEPARTMENTS]
    for seed in SEED_DEPARTMENTS:
        url = app_env[f"{seed.name}_DEPARTMENT_DATABASE_URL"]
        user = seed.name.lower()
        assert re.match(rf"^\w+://{user}:\$\{{{seed.name}_DB_PASSWORD\}}@\w+:\d+/{user}$", url)
    assert SERVICES[names["migrate"]]["environment"] == app_env


def test_no_secret_is_committed():
    for service in SERVICES.values():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key or "SECRET" in key:
                assert str(value).startswith("${"), key
            for password in re.findall(r"://[^:/@]+:([^@]+)@", str(value)):
                assert password.startswith("${"), key


@pytest.mark.parametrize("script", ["postgres-init.sh", "mariadb-init.sh"])
def test_init_scripts_are_valid_bash(script):
    path = ROOT / "config" / "deploy" / script
    subprocess.run(["bash", "-n", str(path)], check=True)
    assert path.stat().st_mode & 0o111, "init scripts must be executable"


@pytest.mark.parametrize("profile", STACKS)
def test_app_health_check_needs_only_the_public_status(profile):
    app = SERVICES[STACKS[profile]["app"]]
    check = " ".join(app["healthcheck"]["test"])
    # /healthz tells the public only the status; the per-database report needs the token.
    assert "/healthz" in check and ".status != 200" in check and "json" not in check
    assert app["environment"]["HELPDESK_HEALTHZ_TOKEN"] == "${HELPDESK_HEALTHZ_TOKEN:-}"
