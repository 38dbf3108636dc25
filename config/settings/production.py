"""Production settings: DEBUG off, secrets required, only explicitly configured departments."""

from __future__ import annotations

from departments.config import databases_from_environment

from .base import *  # noqa: F403
from .base import DATA_DIR, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

# No silent SQLite fallback in production: every department is configured explicitly.
EMBEDDED_DEPARTMENTS = env.bool("HELPDESK_EMBEDDED_DEPARTMENTS", default=False)
DATABASES, DEPARTMENTS = databases_from_environment(
    env.ENVIRON, data_dir=DATA_DIR, embedded=EMBEDDED_DEPARTMENTS
)
