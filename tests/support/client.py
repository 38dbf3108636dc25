"""A test client that enters the app the way gunicorn's requests do."""

from __future__ import annotations

from django.test import Client
from django.test.client import ClientHandler

from runtime.middleware import without_unreadable_charset


class _EntryPointHandler(ClientHandler):
    def __call__(self, environ):
        return super().__call__(without_unreadable_charset(environ))


class EntryPointClient(Client):
    """Django's test client, with config.wsgi's charset guard applied to every request.

    Django's own client builds the request straight from the environ, which with a charset
    such as base64 and a query string fails before any of the app's code runs.
    """

    def __init__(self, enforce_csrf_checks: bool = False, **defaults):
        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = _EntryPointHandler(enforce_csrf_checks)
