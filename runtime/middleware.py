"""Response headers Django 5.2 does not set itself."""

from __future__ import annotations

from django.conf import settings
from django.utils.cache import patch_cache_control


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class PrivateNoStoreMiddleware:
    """Every page the app renders is ``Cache-Control: private, no-store``.

    Staff pages and the CSV export carry customer names and email addresses, and the public
    pages carry one-time form tokens or a customer's own ticket: none may be kept by a browser's
    disk cache or a shared proxy. Static files never get here: WhiteNoise, listed before this,
    answers them with their own long-lived caching.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_cache_control(response, private=True, no_store=True)
        return response
