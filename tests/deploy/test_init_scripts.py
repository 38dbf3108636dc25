"""The compose stack's database init scripts, run for real against an empty server.

docker compose runs config/deploy/postgres-init.sh or mariadb-init.sh once, on a fresh volume.
No container engine runs here, so each test gives its script what the official images give it
(an empty server and a superuser on the local socket) on a server of its own: a second
PostgreSQL cluster, or a private mariadbd with a new data directory. Then, as compose does, the
app migrates and serves with only the per-department users the script made, and each of those
users is shut out of every other database.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from devtools.loadgen import Browser
from devtools.stack import (
    ROOT,
    AppServer,
    base_environment,
    cluster_tools_available,
    free_port,
    manage,
    operator_environ,
    prepare,
    second_cluster,
)

DEPARTMENTS = ["technical_issues", "account_billing"]
# (user, database) pairs that must not connect: other departments and the system database.
REFUSED = [
    ("technical_issues", "account_billing"),
    ("account_billing", "technical_issues"),
    ("technical_issues", "helpdesk_system"),
    ("helpdesk", "technical_issues"),
]


def backend_only(name: str):
    return pytest.mark.skipif(
        getattr(settings, "TEST_BACKEND", "") != name,
        reason=f"runs once, in the {name} backend run of make test (TEST_BACKEND={name})",
    )


def script_environment(**extra: str) -> tuple[dict[str, str], dict[str, str]]:
    """The init script's variables, as compose passes them, and the passwords by user."""
    passwords = {"helpdesk": secrets.token_urlsafe(12)}
    env = operator_environ()
    env.update(
        {"HELPDESK_DEPARTMENTS": " ".join(DEPARTMENTS), "SYSTEM_DB_PASSWORD": passwords["helpdesk"]}
    )
    for name in DEPARTMENTS:
        passwords[name] = secrets.token_urlsafe(12)
        env[f"{name.upper()}_DB_PASSWORD"] = passwords[name]
    env.update(extra)
    return env, passwords


def app_urls(scheme: str, port: int, passwords: dict[str, str]) -> dict[str, str]:
    """The URLs docker-compose.yml gives the app, on this test's server."""
    urls = {
        "SYSTEM": f"{scheme}://helpdesk:{passwords['helpdesk']}@127.0.0.1:{port}/helpdesk_system"
    }
    for name in DEPARTMENTS:
        urls[name.upper()] = f"{scheme}://{name}:{passwords[name]}@127.0.0.1:{port}/{name}"
    return urls


def serve_one_ticket(urls: dict[str, str]) -> str:
    """Migrate as the least-privilege users, submit a ticket through gunicorn, read /healthz."""
    env = base_environment(urls)
    prepare(env)
    listed = manage(env, "showmigrations_departments")
    assert listed.returncode == 0, listed.stderr
    assert "[ ]" not in listed.stdout
    with AppServer(env, workers=1, threads=2) as server:
        browser = Browser(server.url)
        status, headers, _ = browser.request(
            "POST",
            "/",
            {
                **browser.hidden_fields("/"),
                "name": "Init Script",
                "email": "init@example.com",
                "phone": "",
                "department": "account-billing",
                "subject": "Least privilege works",
                "message": "Submitted as the department's own database user.",
            },
        )
        assert status == 302, headers
        reference = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        status, _, health = browser.request("GET", "/healthz")
        assert status == 200, health
        browser.close()
    return reference


@backend_only("postgres")
@pytest.mark.skipif(bool(cluster_tools_available()), reason=str(cluster_tools_available()))
def test_postgres_init_script_makes_one_locked_down_database_per_department():
    import psycopg

    with second_cluster() as cluster:
        env, passwords = script_environment(
            POSTGRES_USER="postgres", PGHOST="127.0.0.1", PGPORT=str(cluster.port)
        )
        script = ROOT / "config" / "deploy" / "postgres-init.sh"
        result = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr

        reference = serve_one_ticket(app_urls("postgres", cluster.port, passwords))

        def connect(user: str, database: str):
            return psycopg.connect(
                host="127.0.0.1",
                port=cluster.port,
                user=user,
                password=passwords[user],
                dbname=database,
                connect_timeout=5,
            )

        with connect("account_billing", "account_billing") as conn:
            stored = conn.execute("SELECT reference FROM tickets_ticket").fetchall()
            assert stored == [(reference,)]
            role = conn.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                "WHERE rolname = current_user"
            ).fetchone()
            assert role == (False, False, False)
        for user, database in REFUSED:
            with pytest.raises(psycopg.OperationalError, match="permission denied"):
                connect(user, database).close()


@contextlib.contextmanager
def private_mariadb() -> Iterator[tuple[int, Path]]:
    """An empty MariaDB server of this test's own: (TCP port, folder with its socket)."""
    folder = Path(tempfile.mkdtemp(prefix="hd-mariadb-"))
    data, socket_path, port = folder / "data", folder / "mysqld.sock", free_port()
    installed = subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    server = subprocess.Popen(
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={socket_path}",
            "--user=root",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=64M",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "server.log").open("w"),
    )
    try:
        for _ in range(150):
            if socket_path.exists():
                break
            if server.poll() is not None:
                raise RuntimeError((folder / "server.log").read_text()[-2000:])
            time.sleep(0.1)
        # The script runs `mariadb` with no server options, as in the image: a client option
        # file in HOME points it at this server's socket.
        (folder / ".my.cnf").write_text(f"[client]\nsocket={socket_path}\n")
        yield port, folder
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)


@backend_only("mariadb")
@pytest.mark.skipif(
    not (shutil.which("mariadb-install-db") and shutil.which("mariadbd")),
    reason="needs the MariaDB server binaries (mariadb-install-db, mariadbd)",
)
def test_mariadb_init_script_makes_one_locked_down_utf8mb4_database_per_department():
    import MySQLdb

    with private_mariadb() as (port, home):
        # The image's root password; this fresh server's root has none.
        env, passwords = script_environment(HOME=str(home), MARIADB_ROOT_PASSWORD="")
        script = ROOT / "config" / "deploy" / "mariadb-init.sh"
        result = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr

        reference = serve_one_ticket(app_urls("mysql", port, passwords))

        def connect(user: str, database: str):
            return MySQLdb.connect(
                host="127.0.0.1",
                port=port,
                user=user,
                password=passwords[user],
                database=database,
                connect_timeout=5,
            )

        conn = connect("account_billing", "account_billing")
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT reference FROM tickets_ticket")
            assert cursor.fetchall() == ((reference,),)
            cursor.execute("SELECT @@character_set_database")
            assert cursor.fetchone() == ("utf8mb4",)
        finally:
            conn.close()
        for user, database in REFUSED:
            with pytest.raises(MySQLdb.OperationalError, match="Access denied"):
                connect(user, database).close()
