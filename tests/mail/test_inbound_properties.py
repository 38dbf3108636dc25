"""Whatever bytes arrive, ``ingest_email`` answers with an outcome (or exit 65): never an
exception, which a mail server would report as a temporary failure and retry forever."""

from __future__ import annotations

import io
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickets.mail.inbound import Kind, ingest_email

pytestmark = pytest.mark.django_db(databases="__all__")

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
HEADERS = [
    "From",
    "To",
    "Cc",
    "Delivered-To",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Auto-Submitted",
    "Precedence",
    "Return-Path",
]
# Header values as mail servers pass them on: any bytes but the line end (folded lines too),
# encoded words, and addresses with odd shapes.
odd_value = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"\n ")),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogateescape")),
    st.sampled_from(
        [
            b"=?utf-8?q?=C3=28?= <a@example.com>",
            b"=?x-unknown?b?AAAA?= <a@example.com>",
            b'multipart/mixed; boundary=""',
            b"text/html; charset=utf-7",
            b"<>",
            b"a@b@c, <@>, ,,,",
            b"<BIL-7K3F9Q@localhost> <BIL-@>",
            b"support+BIL-7K3F9Q.0123456789ab@localhost",
        ]
    ),
)
emails = st.builds(
    lambda headers, body: (
        b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
        + b"\r\n"
        + body
    ),
    st.lists(st.tuples(st.sampled_from(HEADERS), odd_value), max_size=10),
    st.binary(max_size=200),
)
with_sender = emails.map(lambda raw: b"From: Ann <ann@example.com>\r\n" + raw)


@PROPERTY_SETTINGS
@given(raw=st.one_of(st.binary(max_size=300), emails, with_sender))
def test_any_bytes_give_an_outcome(raw):
    outcome = ingest_email(raw)
    assert outcome.kind in {Kind.ADDED, Kind.CREATED, Kind.DUPLICATE, Kind.IGNORED, Kind.REJECTED}
    assert "\n" not in str(outcome)


@PROPERTY_SETTINGS
@given(raw=st.one_of(emails, with_sender))
def test_the_command_exits_0_or_65(raw, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    try:
        call_command("ingest_email", stdout=StringIO(), stderr=StringIO())
    except CommandError as exc:
        assert exc.returncode == 65
        assert "\n" not in str(exc)
