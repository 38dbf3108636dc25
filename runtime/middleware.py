"""Request and response handling Django 5.2 does not do itself."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.utils.http import parse_header_parameters

logger = logging.getLogger(__name__)

MSG_UNKNOWN_CHARSET = (
    "Your browser sent this request in a character set we cannot read (%(charset)s). Please "
    "reload the page and try again."
)
MSG_UNREADABLE_FORM = (
    "We could not read the form your browser sent. Please reload the page and send it again."
)
BAD_REQUEST_TEMPLATE = "400.html"
# Where UnreadableCharsetWSGI leaves a charset it took off the Content-Type header.
UNREADABLE_CHARSET = "helpdesk.unreadable_charset"

# What Django raises while parsing a body it cannot read: a charset that decodes no text, a
# form that is not UTF-8, a malformed multipart body, too many fields or bytes, a lost client.
_BODY_ERRORS = (
    BadRequest,
    SuspiciousOperation,
    MultiPartParserError,
    LookupError,
    UnicodeError,
    ValueError,
    OSError,
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


# Every byte value, twice, then one more: odd-length, as a request body or query string may be.
_ANY_BYTES = bytes(range(256)) * 2 + b"a"


def decodes_text(charset: str) -> bool:
    """Whether Python decodes any bytes as text in ``charset``, as Django will decode the
    request with it (``errors="replace"``, so undecodable bytes alone are no problem).

    ``codecs.lookup()``, which Django checks with, also accepts bytes-to-bytes codecs such as
    base64 or rot13, the ``undefined`` codec, and codecs such as punycode or idna that refuse
    the "replace" error handler or most byte sequences: each fails on a real query string.
    """
    try:
        _ANY_BYTES.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return False
    return True


class UnreadableCharsetWSGI:
    """WSGI wrapper that takes a charset Python cannot decode text in off the Content-Type.

    Django decodes the query string in the declared charset while it builds the request, before
    any middleware runs, so with ``charset=base64`` and a query string the error escapes as a
    bare 500. The charset is left in the environ for UnreadableRequestMiddleware to answer.
    """

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        return self.application(without_unreadable_charset(environ), start_response)


def without_unreadable_charset(environ: dict) -> dict:
    """``environ`` with a charset Python cannot decode text in moved out of CONTENT_TYPE."""
    content_type = environ.get("CONTENT_TYPE", "")
    if "charset" in content_type.lower():
        media_type, params = parse_header_parameters(content_type)
        charset = params.get("charset")
        if charset is not None and not decodes_text(charset):
            return {**environ, "CONTENT_TYPE": media_type, UNREADABLE_CHARSET: charset}
    return environ


class UnreadableRequestMiddleware:
    """Answer 400 with a page for a request whose query string or body cannot be read.

    Without it such an error is a bare 500: CsrfViewMiddleware reads ``request.POST`` and the
    error views it wraps (``requires_csrf_token``) read it again, raising the same error outside
    any handler. It must run before any view middleware, so it sits in MIDDLEWARE's request
    phase; after AuthenticationMiddleware only so that the page knows who is signed in.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = unreadable_request_problem(request)
        if problem:
            logger.warning(
                "unreadable request answered 400",
                extra={"path": request.path, "content_type": request.META.get("CONTENT_TYPE")},
            )
            return render(request, BAD_REQUEST_TEMPLATE, {"problem": problem}, status=400)
        return self.get_response(request)


def unreadable_request_problem(request: HttpRequest) -> str:
    """Why Django could not read ``request``'s parameters, as a message; "" when it can."""
    charset = request.META.get(UNREADABLE_CHARSET) or request.content_params.get("charset")
    if charset is not None and not decodes_text(charset):
        return MSG_UNKNOWN_CHARSET % {"charset": charset[:40]}
    if request.method == "POST":
        try:
            request.POST  # noqa: B018 -- parsed here, where a failure can still be answered
        except _BODY_ERRORS:
            return MSG_UNREADABLE_FORM
    return ""


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
