"""Requests whose parameters cannot be read get a 400 page on every URL, never a 500."""

from __future__ import annotations

import io
import re
import sys

import pytest
from django.test import Client
from django.urls import reverse

from runtime.middleware import MSG_UNKNOWN_CHARSET, MSG_UNREADABLE_FORM
from tests.factories import SuperadminFactory, TicketFactory

pytestmark = pytest.mark.django_db(databases="__all__")
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# Unknown to Python; known only as bytes-to-bytes codecs (Django's codecs.lookup() accepts
# them); a text codec that is not UTF-8, which forms must be.
CHARSETS = ["nonexistent-xyz", "base64", "rot13", "utf-16", "punycode", "idna", "undefined"]


def post_urls(tech) -> list[str]:
    ticket = TicketFactory(department=tech)
    return [
        reverse("home"),
        reverse("status_lookup"),
        reverse("accounts:login"),
        reverse("accounts:logout"),
        reverse("ticket_detail", args=[tech.slug, ticket.pk]),
        reverse("admin:login"),
        reverse("admin:accounts_user_add"),
    ]


def form_client(url: str) -> tuple[Client, str]:
    """A signed-in client that checks CSRF as a browser's would, and a valid token for ``url``."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(SuperadminFactory())
    client.get(reverse("home"))  # sets the CSRF cookie
    token = TOKEN.search(client.get(reverse("home")).content.decode()).group(1)
    return client, token


@pytest.mark.parametrize("charset", CHARSETS)
def test_a_form_in_a_charset_python_cannot_read_is_a_400_page_on_every_post_url(tech, charset):
    for url in post_urls(tech):
        client, token = form_client(url)
        response = client.generic(
            "POST",
            url,
            f"csrfmiddlewaretoken={token}&subject=x",
            content_type=f"application/x-www-form-urlencoded; charset={charset}",
        )
        assert response.status_code == 400, url
        page = response.content.decode()
        assert "We could not read that request" in page
        if charset == "utf-16":  # Python reads it; Django refuses a form that is not UTF-8
            assert MSG_UNREADABLE_FORM in page
        else:
            assert (MSG_UNKNOWN_CHARSET % {"charset": charset}) in page.replace("&#x27;", "'")


def test_a_multipart_form_in_a_bytes_codec_or_malformed_is_a_400_page(tech):
    client, token = form_client(reverse("home"))
    body = (
        f'--x\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n--x--'
    )
    for content_type, message in [
        (
            "multipart/form-data; charset=base64; boundary=x",
            MSG_UNKNOWN_CHARSET % {"charset": "base64"},
        ),
        ("multipart/form-data", MSG_UNREADABLE_FORM),  # no boundary
    ]:
        response = client.generic("POST", reverse("home"), body, content_type=content_type)
        assert response.status_code == 400
        assert message in response.content.decode()


@pytest.mark.parametrize(
    ("path", "query"),
    [("status_lookup", "reference=TEC-ABCDEF%41"), ("accounts:login", "next=/dashboard/")],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("charset", ["base64", "punycode", "idna"])
def test_a_charset_python_cannot_read_is_a_400_before_django_builds_the_request(
    path, query, method, charset
):
    """Django decodes the query string in the declared charset while building the request: the
    WSGI entry point must catch base64 there, where no middleware runs yet."""
    from config.wsgi import application

    started = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": reverse(path),
        "QUERY_STRING": query,
        "CONTENT_TYPE": f"application/x-www-form-urlencoded; charset={charset}",
        "CONTENT_LENGTH": "3",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b"a=b"),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    body = b"".join(application(environ, lambda status, headers: started.append(status)))
    assert started == ["400 Bad Request"]
    assert (MSG_UNKNOWN_CHARSET % {"charset": charset}).encode() in body.replace(b"&#x27;", b"'")


def test_a_readable_form_still_works(client, tech):
    response = client.post(
        reverse("status_lookup"),
        "reference=TEC-ABCDEF&email=a%40example.com",
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
    )
    assert response.status_code == 200
    assert "No ticket matches" in response.content.decode()
