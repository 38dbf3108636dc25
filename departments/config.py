"""Build the department part of ``DATABASES`` from environment variables.

Settings call :func:`department_databases`; it must not import models or touch the app registry.
Every variable ``<NAME>_DEPARTMENT_DATABASE_URL`` adds the alias ``<name>_department``; optional
``<NAME>_DEPARTMENT_LABEL`` and ``<NAME>_DEPARTMENT_CODE`` name it for people and for ticket
references. Errors are :class:`DepartmentConfigError` with one line naming the variable at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

ALIAS_SUFFIX = "_department"
URL_VARIABLE = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*?)_DEPARTMENT_DATABASE_URL$")
SCHEMA_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SEARCH_PATH = re.compile(r"(?:-c\s*|--)search_path=([A-Za-z_][A-Za-z0-9_$]*)")
CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,5}$")


class DepartmentConfigError(ImproperlyConfigured):
    """A department is misconfigured; the message is one line naming the variable."""


@dataclass(frozen=True)
class SeedDepartment:
    name: str  # environment-variable stem, e.g. ACCOUNT_BILLING
    label: str
    code: str


# The five departments the product ships with. Their labels are the real names, not derived ones.
SEED_DEPARTMENTS: tuple[SeedDepartment, ...] = (
    SeedDepartment("TECHNICAL_ISSUES", "Technical Issues", "TEC"),
    SeedDepartment("ACCOUNT_BILLING", "Account & Billing", "BIL"),
    SeedDepartment("PRODUCT_SERVICE", "Product & Service", "PRD"),
    SeedDepartment("GENERAL_INQUIRY", "General Inquiry", "GEN"),
    SeedDepartment("FEEDBACK_SUGGESTIONS", "Feedback & Suggestions", "FBK"),
)
_SEEDS_BY_NAME = {seed.name: seed for seed in SEED_DEPARTMENTS}


def alias_for(name: str) -> str:
    return f"{name.lower()}{ALIAS_SUFFIX}"


def derive_label(name: str) -> str:
    """``ACCOUNT_BILLING`` -> ``Account Billing``."""
    return " ".join(part.capitalize() for part in name.split("_") if part)


def derive_code(name: str) -> str:
    """First three letters and digits of the name: ``SHIPPING`` -> ``SHI``."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())[:3]


def parse_database_url(variable: str, url: str) -> dict[str, Any]:
    """Parse one database URL, turning every failure into a one-line error naming ``variable``."""
    url = url.strip()
    if not url or "://" not in url:
        raise DepartmentConfigError(
            f"{variable} is not a database URL (expected e.g. postgres://user@host:5432/name, "
            f"mysql://user@host/name or sqlite:////absolute/path.sqlite3)."
        )
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several unrelated types for bad URLs
        raise DepartmentConfigError(f"{variable} cannot be parsed: {exc}") from None
    engine = config.get("ENGINE", "")
    # django-environ passes an unknown scheme through as the ENGINE; only dotted paths are real.
    if engine not in environ.Env.DB_SCHEMES.values() and "." not in engine:
        scheme = url.split("://", 1)[0]
        raise DepartmentConfigError(f"{variable} uses an unknown database scheme {scheme!r}.")
    if not config.get("NAME"):
        raise DepartmentConfigError(f"{variable} names no database (add /<name> to the URL).")
    return config


def tune_connection(config: dict[str, Any]) -> dict[str, Any]:
    """Per-backend options every connection in this project wants."""
    engine = config["ENGINE"]
    options = config.setdefault("OPTIONS", {})
    if engine.endswith("sqlite3"):
        # WAL lets the dashboard read while a submission writes; IMMEDIATE avoids the
        # "database is locked" upgrade deadlock between two writers.
        options.setdefault("timeout", 20)
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    elif engine.endswith("mysql"):
        options.setdefault("charset", "utf8mb4")
        options.setdefault("init_command", "SET sql_mode='STRICT_TRANS_TABLES'")
        # A down server must fail fast, not hang a page for the OS default of minutes.
        options.setdefault("connect_timeout", 3)
        config.setdefault("TEST", {}).setdefault("CHARSET", "utf8mb4")
        config["TEST"].setdefault("COLLATION", "utf8mb4_unicode_ci")
    elif engine.endswith("postgresql"):
        options.setdefault("connect_timeout", 3)
    return config


def postgres_schema(config: Mapping[str, Any]) -> str | None:
    """The schema a PostgreSQL department lives in: ``-c search_path=<schema>`` in OPTIONS.

    Departments that are schemas of one database share it; the dashboard reads them with one
    statement. ``<NAME>_DEPARTMENT_SCHEMA`` (or ``?options=-c search_path=<schema>`` on the URL)
    sets it.
    """
    if not str(config.get("ENGINE", "")).endswith(("postgresql", "postgis")):
        return None
    match = _SEARCH_PATH.search(str((config.get("OPTIONS") or {}).get("options", "")))
    return match.group(1) if match else None


def _database_identity(config: Mapping[str, Any]) -> tuple[str, ...]:
    engine = config.get("ENGINE", "")
    name = str(config.get("NAME", ""))
    if engine.endswith("sqlite3"):
        if name != ":memory:" and not name.startswith("file:"):
            name = str(Path(name).expanduser().resolve())
        return (engine, name)
    host = config.get("HOST") or "localhost"
    if host in {"127.0.0.1", "::1"}:
        host = "localhost"
    # Two departments may share a PostgreSQL database in different schemas.
    schema = postgres_schema(config) or ""
    return (engine, str(host), str(config.get("PORT") or ""), name, schema)


@dataclass(frozen=True)
class DepartmentSettings:
    """What settings learn from the environment: the DATABASES entries and their metadata."""

    databases: dict[str, dict[str, Any]]
    metadata: dict[str, dict[str, str]]  # alias -> {"label", "code", "variable", "email"}


def department_databases(
    environ_: Mapping[str, str],
    *,
    system_database: Mapping[str, Any],
    embedded_dir: Path | None,
) -> DepartmentSettings:
    """Discover departments from ``environ_``.

    Seed departments without a URL get a SQLite file under ``embedded_dir`` (created if missing)
    when it is given; in production it is ``None`` and only configured departments exist.
    """
    found: dict[str, str] = {}
    for variable, value in environ_.items():
        match = URL_VARIABLE.match(variable)
        if match:
            found[match.group("name")] = value
        elif variable.endswith("_DEPARTMENT_DATABASE_URL"):
            raise DepartmentConfigError(
                f"{variable}: department names use capital letters, digits and underscores "
                f"and start with a letter (e.g. SHIPPING_DEPARTMENT_DATABASE_URL)."
            )

    names = [seed.name for seed in SEED_DEPARTMENTS if seed.name in found or embedded_dir]
    names += sorted(name for name in found if name not in _SEEDS_BY_NAME)

    databases: dict[str, dict[str, Any]] = {}
    metadata: dict[str, dict[str, str]] = {}
    seen_codes: dict[str, str] = {}
    system_identity = _database_identity(system_database)
    seen_identities: dict[tuple[str, ...], str] = {}

    for name in names:
        url_variable = f"{name}_DEPARTMENT_DATABASE_URL"
        if name in found:
            config = parse_database_url(url_variable, found[name])
        else:
            assert embedded_dir is not None
            embedded_dir.mkdir(parents=True, exist_ok=True)
            config = {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(embedded_dir / f"{name.lower()}.sqlite3"),
            }
        schema_variable = f"{name}_DEPARTMENT_SCHEMA"
        schema = environ_.get(schema_variable, "").strip()
        if schema:
            if not config["ENGINE"].endswith("postgresql"):
                raise DepartmentConfigError(
                    f"{schema_variable}: schemas are a PostgreSQL feature; "
                    f"{url_variable} is not a PostgreSQL URL."
                )
            if not SCHEMA_PATTERN.match(schema):
                raise DepartmentConfigError(
                    f"{schema_variable}: {schema!r} is not a valid schema name "
                    f"(letters, digits and underscores, starting with a letter)."
                )
            options = config.setdefault("OPTIONS", {})
            options["options"] = f"{options.get('options', '')} -c search_path={schema}".strip()
        seed = _SEEDS_BY_NAME.get(name)
        label = environ_.get(f"{name}_DEPARTMENT_LABEL", "").strip() or (
            seed.label if seed else derive_label(name)
        )
        code_variable = f"{name}_DEPARTMENT_CODE"
        code = environ_.get(code_variable, "").strip().upper() or (
            seed.code if seed else derive_code(name)
        )
        if not CODE_PATTERN.match(code):
            raise DepartmentConfigError(
                f"{code_variable}: {code!r} is not a valid reference code "
                f"(2-6 capital letters or digits, starting with a letter)."
            )
        if code in seen_codes:
            raise DepartmentConfigError(
                f"{code_variable}: code {code!r} is already used by {seen_codes[code]}; "
                f"set a different {code_variable}."
            )
        seen_codes[code] = name

        identity = _database_identity(config)
        if identity == system_identity:
            raise DepartmentConfigError(
                f"{url_variable} points at the system database (DATABASE_URL); "
                f"each department needs its own database."
            )
        if identity in seen_identities:
            raise DepartmentConfigError(
                f"{url_variable} points at the same database as "
                f"{seen_identities[identity]}_DEPARTMENT_DATABASE_URL."
            )
        seen_identities[identity] = name

        alias = alias_for(name)
        databases[alias] = tune_connection(config)
        metadata[alias] = {
            "label": label,
            "code": code,
            "variable": url_variable,
            # Its own support address: mail to it lands in this department, and its email
            # goes out from it. Optional.
            "email": environ_.get(f"{name}_DEPARTMENT_EMAIL", "").strip(),
        }
    return DepartmentSettings(databases=databases, metadata=metadata)


def databases_from_environment(
    environ_: Mapping[str, str], *, data_dir: Path, embedded: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """The whole ``DATABASES`` setting plus department metadata.

    ``DATABASE_URL`` is the system database. Without it (and with ``embedded``) the system
    database is a SQLite file in ``data_dir``; without it and without ``embedded`` it is an error.
    """
    if environ_.get("DATABASE_URL"):
        system = parse_database_url("DATABASE_URL", environ_["DATABASE_URL"])
    elif embedded:
        data_dir.mkdir(parents=True, exist_ok=True)
        system = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(data_dir / "system.sqlite3")}
    else:
        raise DepartmentConfigError(
            "DATABASE_URL is not set; production needs the system database URL."
        )
    departments = department_databases(
        environ_, system_database=system, embedded_dir=data_dir if embedded else None
    )
    return {"default": tune_connection(system), **departments.databases}, departments.metadata
