"""Hostile or odd dashboard and export input: never a 500, and the export shows what the
dashboard shows or says why not."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import SuperadminFactory
from tests.tickets.test_dashboard import count_label, expected_references, link, references
from tickets.dashboard import Cursor, TicketQuery
from tickets.tables import MSG_POSITION_RESET
from tickets.views.dashboard import MSG_EXPORT_INVALID_FILTERS

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("dashboard_tickets"),
]


@pytest.fixture
def staff() -> Client:
    # A 500 is observed as a status, not raised into the test.
    client = Client(raise_request_exception=False)
    client.force_login(SuperadminFactory())
    return client


def token(*fields) -> str:
    """A cursor token shaped as Cursor.encode() makes them, with any fields."""
    raw = json.dumps(list(fields), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def export_references(client: Client, query: str) -> list[str]:
    response = client.get(reverse("dashboard_export") + query)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    return [row[0] for row in rows[1:]]


def dashboard_references(client: Client, query: str) -> list[str]:
    """Every reference the dashboard shows for ``query``, following its next links."""
    url = reverse("dashboard") + query
    seen = []
    while url:
        response = client.get(url)
        seen += references(response)
        following = link(response, "next")
        url = reverse("dashboard") + following if following else None
    return seen


# --- Keyset cursors whose fields no column or database can hold -----------------------------------

SLUG = "technical-issues"
OUT_OF_RANGE_CURSORS = [
    # (sort parameter, token fields)
    ("-created", ["created", 1, SLUG, 2**63, "2025-03-01T09:00:00+00:00"]),  # id past 64 bits
    ("-created", ["created", 1, SLUG, 2**70, "2025-03-01T09:00:00+00:00"]),
    ("-created", ["created", 1, SLUG, 1, "0001-01-01T00:00:00+05:00"]),  # before UTC's year 1
    ("-created", ["created", 1, SLUG, 1, "9999-12-31T23:59:59-05:00"]),  # past UTC's year 9999
    ("updated", ["updated", 0, SLUG, 1, "0001-01-01T00:30:00+01:00"]),
    ("-priority", ["priority", 1, SLUG, 1, 2**70]),
    ("-priority", ["priority", 1, SLUG, 1, -(2**70)]),
    ("-priority", ["priority", 1, SLUG, 1, 40_000]),  # past a small integer column
    ("assignee", ["assignee", 0, SLUG, 1, 2**64]),
    ("assignee", ["assignee", 0, SLUG, 1, -1]),
    ("subject", ["subject", 0, SLUG, 1, "Printer \ud800jam"]),  # a lone surrogate
    ("subject", ["subject", 0, SLUG, 1, "Printer\x00jam"]),  # PostgreSQL text cannot hold NUL
    ("customer", ["customer", 0, SLUG, 1, "x" * 121]),  # longer than the column
]


@pytest.mark.parametrize(("sort", "fields"), OUT_OF_RANGE_CURSORS)
@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_cursor_outside_what_the_column_holds_is_no_cursor_with_a_notice(
    staff, departments, sort, fields, direction
):
    response = staff.get(reverse("dashboard") + f"?sort={sort}&{direction}={token(*fields)}")
    assert response.status_code == 200
    descending = sort.startswith("-")
    first_page = expected_references(departments, sort.lstrip("-"), descending)[:25]
    assert references(response) == first_page
    assert MSG_POSITION_RESET in response.content.decode().replace("&#x27;", "'")


@pytest.mark.parametrize(("sort", "fields"), OUT_OF_RANGE_CURSORS)
def test_cursor_decode_refuses_values_outside_the_column(departments, sort, fields):
    query = TicketQuery(
        departments=tuple(departments), sort=sort.lstrip("-"), descending=sort.startswith("-")
    )
    assert Cursor.decode(token(*fields), query) is None


def test_a_followed_next_link_shows_no_notice(staff):
    response = staff.get(reverse("dashboard") + "?sort=subject")
    response = staff.get(reverse("dashboard") + link(response, "next"))
    assert count_label(response) == "26–50 of 120"
    assert MSG_POSITION_RESET not in response.content.decode().replace("&#x27;", "'")


def test_cursor_datetimes_are_read_in_utc(departments):
    query = TicketQuery(departments=tuple(departments))
    cursor = Cursor.decode(token("created", 1, SLUG, 5, "2025-03-01T10:00:00+01:00"), query)
    assert cursor.value == datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    assert cursor.value.utcoffset().total_seconds() == 0


# --- Numbers str.isdigit() accepts and int() does not ---------------------------------------------


@pytest.mark.parametrize(
    ("page", "expected_label"),
    [
        ("²", "1–25 of 120"),  # isdigit(), but int() refuses it
        ("٣", "1–25 of 120"),  # Arabic-Indic three: not a page number here
        ("\uff13", "1–25 of 120"),  # fullwidth three
        ("9" * 5000, "101–120 of 120"),  # past int()'s 4300 digits: past the end, the last page
        ("0002", "26–50 of 120"),
    ],
)
def test_page_numbers_are_ascii_digits_only(staff, page, expected_label):
    response = staff.get(reverse("dashboard"), {"page": page})
    assert response.status_code == 200
    assert count_label(response) == expected_label


@pytest.mark.parametrize("per_page", ["\u0665\u0660", "5_0", " 50", "²"])
def test_rows_per_page_is_the_validated_choice_or_the_default(staff, per_page):
    response = staff.get(reverse("dashboard"), {"per_page": per_page})
    assert response.status_code == 200
    # The form says the value is not a choice; the table must not use it anyway.
    assert "Some filters were not applied" in response.content.decode()
    assert count_label(response) == "1–25 of 120"


# --- Dates at the edges of the calendar, in any time zone ----------------------------------------

EDGE_DATES = [
    # (query, every ticket or none: the data set is in 2025)
    ("created_from=0001-01-01", True),
    ("created_to=9999-12-31", True),
    ("created_from=0001-01-01&created_to=9999-12-31", True),
    ("created_from=9999-12-31", False),
    ("created_to=0001-01-01", False),
    ("created_from=9999-12-31&created_to=9999-12-31", False),
    ("created_from=0001-01-01&created_to=0001-01-01", False),
]


@pytest.mark.parametrize(
    "zone", ["UTC", "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+12"]
)
@pytest.mark.parametrize(("query", "everything"), EDGE_DATES)
def test_first_and_last_days_of_the_calendar_filter_as_typed(
    staff, departments, settings, zone, query, everything
):
    settings.TIME_ZONE = zone
    expected = expected_references(departments) if everything else []
    response = staff.get(reverse("dashboard") + f"?{query}&per_page=100")
    assert response.status_code == 200
    assert references(response) == expected[:100]
    assert "Some filters were not applied" not in response.content.decode()
    assert export_references(staff, f"?{query}") == expected


# --- The export answers exactly as the dashboard would --------------------------------------------


@pytest.mark.parametrize(
    ("query", "label", "entered"),
    [
        ("?status=bogus", "Status", "bogus"),
        ("?department=nowhere&status=open", "Department", "nowhere"),
        ("?priority=9", "Priority", "9"),
        ("?created_from=yesterday", "Created from", "yesterday"),
        ("?created_to=2025-13-45", "Created to", "2025-13-45"),
        ("?created_from=2025-03-05&created_to=2025-03-01", "Created to", "2025-03-01"),
        ("?assignee=99999", "Assignee", "99999"),
        ("?per_page=1000000", "Rows per page", "1000000"),
        ("?q=" + "x" * 201, "Search", "x" * 201),
    ],
)
def test_export_with_an_invalid_filter_is_a_400_page_naming_it(staff, query, label, entered):
    response = staff.get(reverse("dashboard_export") + query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "Content-Disposition" not in response
    page = response.content.decode().replace("&#x27;", "'")
    assert MSG_EXPORT_INVALID_FILTERS in page
    assert f"<li>{label}: " in page and f"(you entered “{entered}”)" in page
    # ...the same problem the dashboard names for the same query string.
    dashboard = staff.get(reverse("dashboard") + query).content.decode()
    assert "Some filters were not applied" in dashboard and f">{label}: " in dashboard
    assert "Back to the dashboard with these filters" in page


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?q=jam",
        "?q=ada%40example.com&sort=-subject",
        "?status=open&status=new&sort=-customer",
        "?department=account-billing&department=technical-issues&sort=status",
        "?created_from=2025-03-01&created_to=2025-03-02&sort=-reference",
        "?priority=3&assignee=none&sort=updated",
        "?sort=-assignee&per_page=50",
        "?sort=department&status=closed",
        "?sort=bogus",  # an unknown sort is the default order, on both
    ],
)
def test_export_rows_equal_the_dashboard_rows_for_the_same_query(staff, query):
    exported = export_references(staff, query)
    assert exported == dashboard_references(staff, query)
    assert exported  # each query matches something, or the comparison proves little
