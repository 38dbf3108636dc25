"""Production settings: DEBUG off, secrets required, HTTPS-only cookies, only explicitly
configured departments. `python manage.py check --deploy` passes with these (tested).

See https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from departments.config import databases_from_environment

from .base import *  # noqa: F403
from .base import DATA_DIR, LOGGING, MIDDLEWARE, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY").strip()
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is empty; production needs a long random key.")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

# No silent SQLite fallback in production: every department is configured explicitly.
EMBEDDED_DEPARTMENTS = env.bool("HELPDESK_EMBEDDED_DEPARTMENTS", default=False)
DATABASES, DEPARTMENTS = databases_from_environment(
    env.ENVIRON, data_dir=DATA_DIR, embedded=EMBEDDED_DEPARTMENTS
)
# Reuse connections between requests; health checks drop broken ones before use.
for _database in DATABASES.values():
    _database.setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
    _database.setdefault("CONN_HEALTH_CHECKS", True)

# --- HTTPS ----------------------------------------------------------------------------------------
# TLS ends at the reverse proxy, which must set X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancer probes speak plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Content Security Policy (Django 5.2 has none built in) -----------------------------------
# Every script and stylesheet is served from static/; nothing inline, nothing from elsewhere.
CONTENT_SECURITY_POLICY = env.str(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    ),
)
MIDDLEWARE = [*MIDDLEWARE, "runtime.middleware.ContentSecurityPolicyMiddleware"]

# --- Static files: hashed names, compressed, cached forever -------------------------------------
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Logging: one JSON object per line, no secrets ----------------------------------------------
LOGGING = {
    **LOGGING,
    "formatters": {"json": {"()": "runtime.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
}
