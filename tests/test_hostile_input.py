"""Property-based: no query string or form body, however hostile, gets a 5xx.

Every parameter the dashboard and its CSV export read, and every field of the public forms, is
generated with random Unicode, bytes that are not UTF-8, huge and negative numbers, digits that
``str.isdigit()`` accepts and ``int()`` does not, repeated keys, and keyset cursors that are
random base64 or validly shaped with extreme fields. Examples are bounded so the suite stays
fast on every backend; each run explores new ones.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote, quote_from_bytes

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from departments.registry import all_departments
from tests.factories import SuperadminFactory, TicketFactory
from tests.support.client import EntryPointClient
from tickets.dashboard import SORT_KEYS
from tickets.filters import PAGE_SIZES
from tickets.mail.addresses import customer_link_path
from tickets.models import Priority, Status

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("dashboard_tickets"),
    # django-tables2 warns about a "." in any ?sort= value it is handed; unknown sorts are
    # ignored all the same (the default order), which the dashboard tests check.
    pytest.mark.filterwarnings("ignore:Use '__' to separate path components:DeprecationWarning"),
]

DASHBOARD_EXAMPLES = 200
FORM_EXAMPLES = 100
PROPERTY_SETTINGS = settings(
    deadline=None,
    database=None,  # no .hypothesis/ folder in the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)

# --- Values ---------------------------------------------------------------------------------------

# Characters a browser can send (lone surrogates have no UTF-8 form; raw bytes cover the rest).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
odd_digits = st.text(
    st.sampled_from("0123456789²³¹\u0663\u0665\u0660\u0969\uff10\uff13\u07c1\u3007"),
    min_size=1,
    max_size=6,
)
huge_numbers = st.integers(min_value=-(2**80), max_value=2**80).map(str)
long_digits = st.integers(min_value=4000, max_value=5000).map(lambda n: "9" * n)
raw_bytes = st.binary(max_size=24)


def with_noise(*strategies):
    """The valid values, mixed with everything an attacker might send instead."""
    return st.one_of(*strategies, any_text, odd_digits, huge_numbers, raw_bytes)


iso_dates = st.dates().map(lambda d: d.isoformat())
edge_dates = st.sampled_from(
    ["0001-01-01", "0001-01-02", "9999-12-31", "9999-12-30", "0000-01-01", "10000-01-01"]
)
other_date_formats = st.dates().map(lambda d: d.strftime("%m/%d/%Y"))
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
cursor_datetimes = st.one_of(
    st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat(), st.datetimes(), offsets
    ),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59.999999-23:59",
            "0001-01-01T00:00:00",
            datetime(2025, 3, 1, 9, tzinfo=UTC).isoformat(),
        ]
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def encode_token(fields) -> str:
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@st.composite
def cursors(draw, sort_param: str) -> str:
    """A cursor token: mostly for the drawn sort and direction, with extreme fields."""
    kind = draw(st.sampled_from(["shaped", "shaped", "shaped", "random", "junk"]))
    if kind == "random":
        return base64.urlsafe_b64encode(draw(st.binary(max_size=80))).decode().rstrip("=")
    if kind == "junk":
        return draw(any_text)
    name = sort_param.lstrip("-")
    sort = (
        name
        if name in SORT_KEYS and draw(st.booleans())
        else draw(st.sampled_from(list(SORT_KEYS)))
    )
    descending = draw(st.sampled_from([int(sort_param.startswith("-")), 0, 1, 2, True, None]))
    slugs = [d.slug for d in all_departments()]
    slug = draw(st.one_of(st.sampled_from(slugs), st.text(max_size=12)))
    row_id = draw(
        st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70),
            st.sampled_from([2**63, 2**64]),
            json_values,
        )
    )
    value = draw(
        st.one_of(
            cursor_datetimes,
            st.integers(min_value=-(2**70), max_value=2**70),
            st.sampled_from([2**15, 2**31, 2**63, -1]),
            st.text(max_size=40),  # lone surrogates included: JSON escapes them
            st.sampled_from(Status.values),
            json_values,
        )
    )
    fields = [sort, descending, slug, row_id, value]
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        fields = draw(st.lists(json_values, max_size=6))
    return encode_token(fields)


def encode_pairs(pairs) -> str:
    """A query string from (key, value) pairs; bytes values go as they are, valid UTF-8 or not."""
    encoded = []
    for key, value in pairs:
        value = quote_from_bytes(value) if isinstance(value, bytes) else quote(value, safe="")
        encoded.append(f"{quote(key, safe='')}={value}")
    return "&".join(encoded)


@st.composite
def dashboard_queries(draw) -> str:
    """A query string over every parameter the dashboard and the export read."""
    slugs = [d.slug for d in all_departments()]
    sorts = [prefix + name for name in SORT_KEYS for prefix in ("", "-")]
    sort = draw(with_noise(st.sampled_from(sorts)))
    sort_text = sort if isinstance(sort, str) else ""
    params = {
        "department": with_noise(st.sampled_from(slugs)),
        "status": with_noise(st.sampled_from(Status.values)),
        "priority": with_noise(st.sampled_from([str(p) for p in Priority.values])),
        "assignee": with_noise(st.sampled_from(["me", "none", "1", "7", "12"])),
        "created_from": with_noise(iso_dates, edge_dates, other_date_formats),
        "created_to": with_noise(iso_dates, edge_dates, other_date_formats),
        "q": with_noise(st.sampled_from(["jam", "ada@example.com", "TEC-ABCDEF", "%", "_"])),
        "per_page": with_noise(st.sampled_from([str(size) for size in PAGE_SIZES]), long_digits),
        "page": with_noise(st.sampled_from(["last", "1", "2", "5", "0"]), long_digits),
        "after": st.one_of(cursors(sort_text), any_text),
        "before": st.one_of(cursors(sort_text), any_text),
    }
    names = draw(st.lists(st.sampled_from(list(params)), max_size=8))
    pairs = [("sort", sort)] if draw(st.booleans()) else []
    pairs += [(name, draw(params[name])) for name in names]  # repeats allowed
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        pairs.append((draw(any_text), draw(with_noise())))
    return encode_pairs(pairs)


@pytest.fixture
def staff() -> Client:
    # A 500 is a status here, not an exception.
    client = EntryPointClient(raise_request_exception=False)
    client.force_login(SuperadminFactory())
    return client


@settings(PROPERTY_SETTINGS, max_examples=DASHBOARD_EXAMPLES)
@given(query=dashboard_queries())
def test_no_dashboard_or_export_query_string_is_a_server_error(staff, query):
    response = staff.get(reverse("dashboard"), QUERY_STRING=query)
    assert response.status_code in (200, 302), query
    export = staff.get(reverse("dashboard_export"), QUERY_STRING=query)
    assert export.status_code in (200, 400), query
    if export.status_code == 200:
        b"".join(export.streaming_content)  # rows are read while streaming


# --- Public forms ---------------------------------------------------------------------------------

FORMS = {
    "home": ["name", "email", "phone", "department", "subject", "message"],
    "status_lookup": ["reference", "email"],
    "customer_link_request": ["reference", "email"],
    "customer_ticket": ["body", "reply_token"],
    "accounts:login": ["username", "password"],
}
PLAUSIBLE = {
    "email": st.sampled_from(["ada@example.com", "a@b", "@", "x" * 300 + "@example.com"]),
    "reference": st.sampled_from(["TEC-ABCDEF", "tec-abcdef", "TEC-", "-" * 20]),
    "phone": st.sampled_from(
        ["+44 20 7946 0000", "\u0663" * 6, "\uff11\uff12\uff13\uff14\uff15", "x"]
    ),
}
content_types = st.sampled_from(
    ["application/x-www-form-urlencoded"] * 6
    + [
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/x-www-form-urlencoded; charset=nonexistent-xyz",
        "application/x-www-form-urlencoded; charset=base64",
        "multipart/form-data; boundary=x",
        "text/plain; charset=utf-16",
    ]
)


@st.composite
def form_bodies(draw, fields: list[str], plausible: dict, csrf_token: str) -> str:
    # Mostly with the page's CSRF token, so that the form's own validation runs.
    pairs = [("csrfmiddlewaretoken", csrf_token)] if draw(st.integers(0, 9)) else []
    for name in draw(st.lists(st.sampled_from(fields), max_size=10)) + fields:
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            continue  # a missing field
        pairs.append((name, draw(with_noise(plausible.get(name, st.just(""))))))
    if draw(st.booleans()):
        pairs.append((draw(any_text), draw(with_noise())))
    return encode_pairs(pairs)


@pytest.mark.parametrize("url_name", list(FORMS))
def test_no_public_form_body_is_a_server_error(url_name):
    # CSRF checked as for a browser: Django's error views re-read the body inside that check.
    client = EntryPointClient(enforce_csrf_checks=True, raise_request_exception=False)
    if url_name == "customer_ticket":  # the customer's page, opened by their emailed link
        ticket = TicketFactory(department=all_departments()[0], customer_email="ada@example.com")
        url = customer_link_path(ticket.reference, ticket.customer_email)
    else:
        url = reverse(url_name)
    page = client.get(url).content.decode()
    csrf_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    plausible = {**PLAUSIBLE, "department": st.sampled_from([d.slug for d in all_departments()])}

    @settings(PROPERTY_SETTINGS, max_examples=FORM_EXAMPLES)
    @given(
        body=form_bodies(FORMS[url_name], plausible, csrf_token),
        content_type=content_types,
        query=st.booleans(),
    )
    def post(body, content_type, query):
        # Throttling would answer every example after the first few without validating.
        cache.clear()
        target = url + ("?next=/dashboard/&reference=%E2%82%AC" if query else "")
        response = client.generic("POST", target, body, content_type=content_type)
        assert response.status_code < 500, (body, content_type)

    post()
