"""WSGI entry point (gunicorn config.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from runtime.middleware import UnreadableCharsetWSGI

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = UnreadableCharsetWSGI(get_wsgi_application())
