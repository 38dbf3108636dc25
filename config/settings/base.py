"""Settings shared by every environment.

Configuration comes from the environment (https://django-environ.readthedocs.io/); a `.env` file
next to manage.py is read too, and real environment variables win over it.
"""

from __future__ import annotations

from pathlib import Path

import environ

from departments.config import databases_from_environment

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

# Embedded data (SQLite files) lives in one ignored folder, created on demand.
DATA_DIR = Path(env.str("HELPDESK_DATA_DIR", default=str(BASE_DIR / "var")))

# --- Core ---------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdefghijklmnop"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin, with its sign-in and password change sent to the app's throttled pages.
    "accounts.admin_site.HelpdeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tables2",
    # Email providers' inbound webhooks (/anymail/<esp>/inbound/) and sending backends.
    "anymail",
    "runtime",
    "accounts",
    "departments",
    "tickets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files keep their caching; before the rest, so it sees every
    # response the app makes (errors and redirects too).
    "runtime.middleware.PrivateNoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before any view middleware reads the body (CsrfViewMiddleware's process_view).
    "runtime.middleware.UnreadableRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A department database that is down: the 503 page naming it, from any view.
    "departments.middleware.DepartmentUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    {
        # Templates whose rendering cost is measured (the dashboard table): Jinja2, which
        # django-tables2's render_table finds through get_template like any other.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        # The site layout for Jinja2 pages; page templates live in <app>/jinja2/.
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": True,
        "OPTIONS": {"environment": "config.jinja2.environment"},
    },
]

# --- Databases ----------------------------------------------------------------------------------
# `default` is the system database (staff, sessions, membership). Every alias ending in
# `_department` is a department database, discovered from <NAME>_DEPARTMENT_DATABASE_URL.
EMBEDDED_DEPARTMENTS = env.bool("HELPDESK_EMBEDDED_DEPARTMENTS", default=True)
# DEPARTMENTS: display names and reference codes by alias; read only via departments.registry.
DATABASES, DEPARTMENTS = databases_from_environment(
    env.ENVIRON, data_dir=DATA_DIR, embedded=EMBEDDED_DEPARTMENTS
)
DATABASE_ROUTERS = ["departments.router.DepartmentRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The one department app's migrations are replayed into every department database.
MIGRATION_MODULES = {"tickets": "migrations_departments"}

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# Django's model backend; the signed-in user is kept per process while staff are unchanged.
AUTHENTICATION_BACKENDS = ["accounts.backends.StaffModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
# Staff sessions end when the browser closes or after a working day, whichever comes first.
SESSION_COOKIE_AGE = env.int("HELPDESK_SESSION_SECONDS", default=12 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Django's database sessions, updated without a transaction around one statement (see module).
SESSION_ENGINE = "runtime.sessions.db"

# --- Cache (rate limits and sign-in throttling keep their counters here) ------------------------
# https://docs.djangoproject.com/en/5.2/topics/cache/
# The default is per process: fine for `make run`, but with several gunicorn workers each worker
# would count separately. Production sets a shared cache, e.g. CACHE_URL=dbcache://helpdesk_cache
# (then `python manage.py createcachetable`, which the router puts in the system database) or
# CACHE_URL=redis://host:6379/1.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://helpdesk")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # Past MAX_ENTRIES (300 by default) the database cache deletes a third of its live rows in
    # key order: the abuse limits' counters first. Expired rows go first when it culls, so with
    # room for every live counter it only ever drops what has expired anyway.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 1_000_000)
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # The same backend, reusing its Redis client instead of building one per call (see module).
    CACHES["default"]["BACKEND"] = "runtime.cache.RedisCache"
    # Every signed-in request reads its session: from a shared Redis it is one cache read
    # instead of a database query (writes still go to the database, then the cache). Only a
    # shared cache: with a per-process one, a session ended in one worker would live on in
    # the others.
    SESSION_ENGINE = "runtime.sessions.cached_db"

# --- Abuse limits -------------------------------------------------------------------------------
# name: (how many, per seconds). Counted per client address (see HELPDESK_TRUSTED_PROXY_COUNT),
# for email per sender address.
HELPDESK_RATE_LIMITS = {
    # Tickets submitted by a client that is not signed in.
    "ticket-submit": (env.int("HELPDESK_SUBMIT_LIMIT", default=10), 15 * 60),
    # Status lookups that matched no ticket (guessing references or emails).
    "status-miss": (env.int("HELPDESK_STATUS_MISS_LIMIT", default=10), 15 * 60),
    # Failed staff sign-ins: per username from one client address, per username from all
    # addresses together, and per client address across all usernames.
    "login-username": (env.int("HELPDESK_LOGIN_FAILURES_PER_USER", default=5), 15 * 60),
    "login-username-total": (
        env.int("HELPDESK_LOGIN_FAILURES_PER_USER_TOTAL", default=50),
        15 * 60,
    ),
    "login-client": (env.int("HELPDESK_LOGIN_FAILURES_PER_CLIENT", default=20), 15 * 60),
    # Failed sign-ins from a browser that signed in as that username before (a device
    # cookie): the only limit on it, so strangers cannot lock a person out of their own browser.
    "login-device": (env.int("HELPDESK_LOGIN_FAILURES_PER_DEVICE", default=5), 15 * 60),
    # Customers' replies on their ticket page.
    "customer-reply": (env.int("HELPDESK_CUSTOMER_REPLY_LIMIT", default=20), 15 * 60),
    # Requests for a fresh link to one's ticket by email (each may send an email).
    "link-request": (env.int("HELPDESK_LINK_REQUEST_LIMIT", default=5), 15 * 60),
    # "We received your request" emails per recipient, for tickets from email and from the
    # public form: past it the ticket is still made (and staff alerted), unconfirmed, so an
    # auto-responder that acknowledges every mail cannot ping-pong with us forever, and the form
    # cannot mail one address over and over. The email reply path counts
    # per sender address under "customer-reply" (past it: added, assignee not notified).
    "email-confirmation": (env.int("HELPDESK_EMAIL_CONFIRMATION_LIMIT", default=5), 60 * 60),
}
# Behind N reverse proxies that append to X-Forwarded-For, the client is the N-th address from
# the right. 0 (default): use the connection's address and ignore the header, which anyone can
# forge. Set it to 1 behind one nginx, or every client shares the proxy's limits.
HELPDESK_TRUSTED_PROXY_COUNT = env.int("HELPDESK_TRUSTED_PROXY_COUNT", default=0)

# --- Health check (/healthz) --------------------------------------------------------------------
# Everyone gets the overall status (200/503). The detail (database aliases, latencies, pending
# migrations) needs this token in "Authorization: Bearer <token>" or "X-Healthz-Token", or a
# signed-in superadmin. Empty (default): no token gives the detail.
HELPDESK_HEALTHZ_TOKEN = env.str("HELPDESK_HEALTHZ_TOKEN", default="")

# --- Email -------------------------------------------------------------------------------------
# Every email is written to the department's outbox with the change that causes it and sent by
# `python manage.py deliver_outbox` (a long-running worker; `make run` starts one). The
# transport: EMAIL_URL (SMTP, e.g. smtp+tls://user:password@mail.example.com:587), or an
# email service provider through django-anymail (EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend
# plus its ANYMAIL_* settings). Neither set: every message is written as an .eml file under
# var/mail/ (open it with any mail program, or read it as text).
MAIL_DIR = Path(env.str("HELPDESK_MAIL_DIR", default=str(DATA_DIR / "mail")))
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="runtime.mail.EmlFileBackend")
EMAIL_FILE_PATH = MAIL_DIR
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
ANYMAIL = {
    key[len("ANYMAIL_") :]: value
    for key, value in env.ENVIRON.items()
    if key.startswith("ANYMAIL_") and value
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Help desk <helpdesk@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Customers' replies come back to this address, tagged per ticket (support+BIL-7K3F9Q.tag@...):
# the mail server must deliver plus-addresses to `manage.py ingest_email` (or the provider's
# inbound webhook at /anymail/<esp>/inbound/).
HELPDESK_REPLY_ADDRESS = env.str("HELPDESK_REPLY_ADDRESS", default="support@localhost")
# Links in emails start with this (the address customers reach the site at).
HELPDESK_SITE_URL = env.str("HELPDESK_SITE_URL", default="http://127.0.0.1:8000")
# How long a link in an email opens the customer's ticket page.
HELPDESK_CUSTOMER_LINK_DAYS = env.int("HELPDESK_CUSTOMER_LINK_DAYS", default=30)
# Mail to an address no department claims (<NAME>_DEPARTMENT_EMAIL) goes to this department.
HELPDESK_INBOUND_DEFAULT_DEPARTMENT = env.str(
    "HELPDESK_INBOUND_DEFAULT_DEPARTMENT", default="general-inquiry"
)
# Largest email ingest_email accepts (bytes); larger mail is refused back to the sender.
HELPDESK_INBOUND_MAX_BYTES = env.int("HELPDESK_INBOUND_MAX_BYTES", default=25 * 1024 * 1024)
# Sending: attempts before a message is marked failed (then retried only from the admin page).
HELPDESK_OUTBOX_MAX_ATTEMPTS = env.int("HELPDESK_OUTBOX_MAX_ATTEMPTS", default=8)
# How long a sender's claim on a batch lasts: a sender that dies mid-batch leaves rows that are
# sent again (same Message-ID) this long after it took them. Longer than a batch takes to send.
HELPDESK_OUTBOX_LEASE_SECONDS = env.int("HELPDESK_OUTBOX_LEASE_SECONDS", default=300)
# Sent email rows (with the text they sent) are deleted after this many days by the worker.
HELPDESK_OUTBOX_KEEP_DAYS = env.int("HELPDESK_OUTBOX_KEEP_DAYS", default=30)

# --- Attachments (files on tickets and messages) --------------------------------------------------
# The bytes go through Django's storage API, one storage per department
# (https://docs.djangoproject.com/en/5.2/ref/files/storage/): "filesystem" keeps them under
# HELPDESK_ATTACHMENTS_DIR/<department>/; "s3" in S3-compatible object storage through
# django-storages (https://django-storages.readthedocs.io/en/latest/backends/amazon-S3.html),
# in HELPDESK_S3_BUCKET under the prefix <department>/, or in a bucket per department when the
# name contains {department} (e.g. helpdesk-{department}).
HELPDESK_ATTACHMENTS_STORAGE = env.str("HELPDESK_ATTACHMENTS_STORAGE", default="filesystem")
HELPDESK_ATTACHMENTS_DIR = Path(
    env.str("HELPDESK_ATTACHMENTS_DIR", default=str(DATA_DIR / "attachments"))
)
HELPDESK_S3_BUCKET = env.str("HELPDESK_S3_BUCKET", default="helpdesk-attachments")
HELPDESK_S3_ENDPOINT_URL = env.str("HELPDESK_S3_ENDPOINT_URL", default="") or None
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
# Limits, checked before any byte is stored: per file, per message (all its files), files per
# message. Inbound email drops what does not fit, with a note in the message.
HELPDESK_ATTACHMENT_MAX_FILE_BYTES = env.int(
    "HELPDESK_ATTACHMENT_MAX_FILE_BYTES", default=10 * 1024 * 1024
)
HELPDESK_ATTACHMENT_MAX_MESSAGE_BYTES = env.int(
    "HELPDESK_ATTACHMENT_MAX_MESSAGE_BYTES", default=25 * 1024 * 1024
)
HELPDESK_ATTACHMENT_MAX_FILES = env.int("HELPDESK_ATTACHMENT_MAX_FILES", default=10)
# Content types accepted, as detected from the bytes (tickets.attachments.detection).
HELPDESK_ATTACHMENT_TYPES = env.list(
    "HELPDESK_ATTACHMENT_TYPES",
    default=[
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/zip",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    ],
)
# Stored objects younger than this are never called orphans by clean_attachments: their
# transaction may still be running.
HELPDESK_ATTACHMENT_ORPHAN_GRACE_SECONDS = env.int(
    "HELPDESK_ATTACHMENT_ORPHAN_GRACE_SECONDS", default=60 * 60
)

# --- I18N ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files (served by WhiteNoise; nothing is fetched from a CDN) -------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Tables and the dashboard -------------------------------------------------------------------
DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"
# Seconds one department may take before the dashboard shows the others without it (also the
# statement timeout of the dashboard's PostgreSQL/MariaDB connections).
DASHBOARD_DEPARTMENT_TIMEOUT = env.float("HELPDESK_DEPARTMENT_TIMEOUT", default=2.0)
# Threads reading departments concurrently; each keeps its own database connections.
DASHBOARD_WORKERS = env.int("HELPDESK_DASHBOARD_WORKERS", default=8)
# Idle department connections the dashboard keeps per process and database (docs/scaling.md).
DASHBOARD_IDLE_CONNECTIONS = env.int("HELPDESK_DASHBOARD_IDLE_CONNECTIONS", default=2)

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
