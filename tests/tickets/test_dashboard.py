"""The staff dashboard: the table, its filters and pages, htmx, CSV export, and safety."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from django.urls import reverse

from departments.fanout import execution, shutdown_workers
from tests.dashboard_data import all_rows, reference_filter, reference_order
from tests.factories import SuperadminFactory, UserFactory
from tickets import dashboard
from tickets.dashboard import TicketFilters

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("dashboard_tickets"),
]
ROW = re.compile(r'<th scope="row"><a href="[^"]+"[^>]*>([A-Z]+-[A-Z0-9]{6})</a></th>')


def references(response) -> list[str]:
    assert response.status_code == 200
    return ROW.findall(response.content.decode())


def link(response, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', response.content.decode())
    return unescape(found.group(1)) if found else None


def count_label(response) -> str:
    found = re.search(
        r'<p class="result-count"[^>]*><strong>([^<]+)</strong>', response.content.decode()
    )
    return found.group(1)


def expected_references(departments, sort="created", descending=True, **filters):
    rows = reference_order(
        reference_filter(all_rows(), TicketFilters(**filters), departments), sort, descending
    )
    return [r["ticket"].reference for r in rows]


@pytest.fixture
def admin_client(client):
    client.force_login(SuperadminFactory())
    return client


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert client.get(reverse("dashboard_export"))["Location"].startswith(reverse("accounts:login"))


def test_login_lands_on_the_dashboard(client, tech):
    UserFactory(username="pat", departments=[tech])
    response = client.post(
        reverse("accounts:login"), {"username": "pat", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


def test_default_view_is_newest_first_with_the_count(admin_client, departments):
    response = admin_client.get(reverse("dashboard"))
    assert references(response) == expected_references(departments)[:25]
    assert count_label(response) == "1–25 of 120"
    page = response.content.decode()
    assert 'aria-sort="descending"' in page and "<caption>" in page
    assert "js/htmx.min.js" in page


def test_following_next_links_walks_every_ticket_once(admin_client, departments):
    url = reverse("dashboard") + "?sort=subject&per_page=25"
    seen, labels = [], []
    while url:
        response = admin_client.get(url)
        seen += references(response)
        labels.append(count_label(response))
        nxt = link(response, "next")
        url = reverse("dashboard") + nxt if nxt else None
    assert seen == expected_references(departments, "subject", False)
    assert labels == [
        "1–25 of 120",
        "26–50 of 120",
        "51–75 of 120",
        "76–100 of 120",
        "101–120 of 120",
    ]
    # ...and previous links walk back through the same pages.
    response = admin_client.get(reverse("dashboard") + "?sort=subject&page=last")
    assert count_label(response) == "101–120 of 120"
    back = [references(response)]
    while prev := link(response, "prev"):
        response = admin_client.get(reverse("dashboard") + prev)
        back.insert(0, references(response))
    assert [ref for page in back for ref in page] == seen


def test_page_numbers_jump_from_the_nearer_end(admin_client, departments, monkeypatch):
    expected = expected_references(departments, "priority", True)
    calls = []
    real = dashboard.run

    def spy(query, **kwargs):
        calls.append((query.descending, kwargs.get("offset", 0)))
        return real(query, **kwargs)

    monkeypatch.setattr("tickets.tables.run", spy)
    # Pages near the start are read with the count in one call, whatever the total: that is
    # two pages from the end here, so it is read forwards.
    response = admin_client.get(reverse("dashboard") + "?sort=-priority&page=4")
    assert references(response) == expected[75:100]
    assert calls == [(True, 75)]
    calls.clear()
    # Past those (five pages stand for a large total here), the count comes first, and page 4
    # of 5 is read backwards, skipping only the 20 rows of page 5.
    monkeypatch.setattr("tickets.tables.NEAR_PAGES", 1)
    response = admin_client.get(reverse("dashboard") + "?sort=-priority&page=4")
    assert references(response) == expected[75:100]
    assert (False, 20) in calls
    calls.clear()
    response = admin_client.get(reverse("dashboard") + "?sort=-priority&page=2")
    assert references(response) == expected[25:50]
    assert (True, 25) in calls


def test_filters_apply_and_combine(admin_client, departments, billing, tech):
    url = reverse("dashboard") + (
        f"?department={billing.slug}&department={tech.slug}&status=open&status=new"
        "&priority=3&sort=customer&per_page=100"
    )
    expected = expected_references(
        [tech, billing], "customer", False, statuses=("new", "open"), priorities=(3,)
    )
    response = admin_client.get(url)
    assert references(response) == expected
    assert count_label(response) == f"1–{len(expected)} of {len(expected)}"


def test_search_and_dates_and_assignee(admin_client, departments):
    response = admin_client.get(reverse("dashboard") + "?q=jam&per_page=100")
    assert references(response) == expected_references(departments, search="jam")
    response = admin_client.get(
        reverse("dashboard") + "?created_from=2025-03-01&created_to=2025-03-01&assignee=none"
    )
    from datetime import UTC, datetime

    assert (
        references(response)
        == expected_references(
            departments,
            unassigned=True,
            created_from=datetime(2025, 3, 1, tzinfo=UTC),
            created_before=datetime(2025, 3, 2, tzinfo=UTC),
        )[:25]
    )


@pytest.mark.parametrize(
    "query",
    [
        "sort=message",
        "sort=-nope&page=abc",
        "status=bogus",
        "priority=9&per_page=1000000",
        "created_from=yesterday&created_to=2025-13-45",
        "created_from=2025-03-05&created_to=2025-03-01",
        "department=nowhere",
        "assignee=99999",
        "page=999999999999999999999",
        "page=-3",
        "after=%00%FF&page=2",
        "before=WyJjcmVhdGVkIiwxLCJ4IiwxLCJ5Il0&page=3",
        "q=" + "x" * 500,
    ],
)
def test_bad_parameters_never_fail(admin_client, query):
    response = admin_client.get(reverse("dashboard") + "?" + query)
    assert response.status_code == 200
    assert ROW.search(response.content.decode()) or "No tickets match" in response.content.decode()


def test_bad_filter_values_are_named_next_to_the_field(admin_client, departments):
    response = admin_client.get(reverse("dashboard") + "?status=bogus&status=open&priority=9")
    page = response.content.decode()
    assert "Some filters were not applied" in page
    assert "Select a valid choice" in page
    # The valid part of the request still applies? Invalid fields are dropped, not guessed.
    assert references(response) == expected_references(departments)[:25]
    response = admin_client.get(
        reverse("dashboard") + "?created_from=2025-03-05&created_to=2025-03-01"
    )
    assert "on or after the" in unescape(response.content.decode())


def test_agents_see_only_their_departments(client, tech, billing):
    client.force_login(UserFactory(departments=[tech]))
    response = client.get(reverse("dashboard") + "?per_page=100")
    found = references(response)
    assert found and all(ref.startswith("TEC-") for ref in found)
    assert found == expected_references([tech])
    # Asking for another department by URL is an error, not a leak.
    response = client.get(reverse("dashboard") + f"?department={billing.slug}&per_page=100")
    assert all(ref.startswith("TEC-") for ref in references(response))
    assert "Select a valid choice" in response.content.decode()
    # The export refuses what the dashboard would not apply, rather than export all it can.
    export = client.get(reverse("dashboard_export") + f"?department={billing.slug}")
    assert export.status_code == 400 and export["Content-Type"].startswith("text/html")
    assert "Content-Disposition" not in export and "<li>Department: " in export.content.decode()
    export = client.get(reverse("dashboard_export"))
    body = b"".join(export.streaming_content).decode()
    assert "BIL-" not in body and "TEC-" in body


def test_user_without_departments_sees_an_empty_table(client):
    client.force_login(UserFactory())
    response = client.get(reverse("dashboard"))
    assert references(response) == []
    assert "not a member of any department" in response.content.decode()


def test_htmx_requests_get_only_the_dashboard_block(admin_client):
    full = admin_client.get(reverse("dashboard") + "?sort=status")
    partial = admin_client.get(reverse("dashboard") + "?sort=status", HTTP_HX_REQUEST="true")
    assert "<html" in full.content.decode()
    body = partial.content.decode()
    assert "<html" not in body and body.strip().startswith('<div id="dashboard"')
    assert references(partial) == references(full)
    assert "HX-Request" in partial["Vary"]
    restore = admin_client.get(
        reverse("dashboard"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in restore.content.decode()


def test_csv_export_matches_the_table(admin_client, departments):
    query = "?sort=-updated&status=open&status=closed&status=new"
    table = admin_client.get(reverse("dashboard") + query + "&per_page=100")
    export = admin_client.get(reverse("dashboard_export") + query)
    assert export["Content-Type"].startswith("text/csv")
    assert "attachment" in export["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:3] == ["Reference", "Department", "Subject"]
    assert [r[0] for r in rows[1:]] == references(table)
    cells = re.findall(r"<tr>\s*(<th scope=\"row\">.*?)</tr>", table.content.decode(), re.S)
    first_cells = [
        unescape(re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", cells[0], re.S)
    ]
    assert rows[1] == first_cells


def test_csv_export_streams_in_keyset_batches(admin_client, monkeypatch, departments):
    monkeypatch.setattr("tickets.views.dashboard.EXPORT_BATCH", 7)
    export = admin_client.get(reverse("dashboard_export") + "?sort=assignee")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [r[0] for r in rows[1:]] == expected_references(departments, "assignee", False)


def test_a_down_department_is_named_and_the_others_still_show(
    admin_client, departments, billing, settings, tmp_path
):
    from django.db import connections

    config = connections.settings[billing.alias]
    real_name = config["NAME"]
    shutdown_workers()  # workers reconnect with the broken settings
    config["NAME"] = (
        str(tmp_path / "missing.sqlite3") if settings.TEST_BACKEND == "sqlite" else "hd_missing_db"
    )
    try:
        response = admin_client.get(reverse("dashboard") + "?per_page=100")
        export = admin_client.get(reverse("dashboard_export"))
        export_body = b"".join(export.streaming_content).decode()
    finally:
        config["NAME"] = real_name
        shutdown_workers()
    page = response.content.decode()
    assert response.status_code == 200
    assert "Account &amp; Billing is unavailable right now" in page
    others = [d for d in departments if d != billing]
    assert references(response) == expected_references(others)[:100]
    assert "Incomplete export: Account & Billing" in export_body


def test_a_slow_department_times_out_and_the_others_still_show(
    admin_client, departments, tech, settings, monkeypatch
):
    import time

    settings.DASHBOARD_DEPARTMENT_TIMEOUT = 0.3
    real_fetch = execution.Runner.fetch

    def slow_fetch(self, sql, params):
        if tech in self.group.departments:
            time.sleep(1.2)
        return real_fetch(self, sql, params)

    monkeypatch.setattr(execution.Runner, "fetch", slow_fetch)
    started = time.monotonic()
    response = admin_client.get(reverse("dashboard") + "?per_page=100")
    elapsed = time.monotonic() - started
    assert "Technical Issues is unavailable right now" in response.content.decode()
    assert references(response) == expected_references([d for d in departments if d != tech])[:100]
    assert elapsed < 4


def test_ticket_links_leave_the_dashboard_instead_of_swapping_into_it(admin_client):
    # The dashboard block is htmx-boosted for sorting and paging; a ticket page swapped into it
    # would nest a whole page inside the table's container.
    page = admin_client.get(reverse("dashboard")).content.decode()
    ticket_links = re.findall(r'<th scope="row"><a ([^>]+)>', page)
    assert ticket_links
    assert all('hx-boost="false"' in attrs for attrs in ticket_links)


@pytest.mark.parametrize("partial", [False, True])
def test_a_dashboard_page_makes_a_fixed_number_of_system_queries(admin_client, partial):
    """Session, user and the names of the page's assignees, plus the assignee filter's choices
    when staff changed since this process last read them: none per row, per department or per
    column, whatever the page size."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HTTP_HX_REQUEST": "true"} if partial else {}
    queries = ("?sort=assignee&per_page=100", "?sort=-assignee&per_page=25&page=2")
    counts = []
    for query in (*queries, "?status=open"):
        with CaptureQueriesContext(connection) as system:
            response = admin_client.get(reverse("dashboard") + query, **headers)
        assert len(references(response)) > 1
        counts.append(len(system))
    SuperadminFactory(first_name="Newly", last_name="Hired")  # staff changed: read them again
    with CaptureQueriesContext(connection) as system:
        response = admin_client.get(reverse("dashboard") + queries[0], **headers)
    assert "Newly Hired" in response.content.decode()
    assert counts == [4, 3, 3] and len(system) == 4


def test_table_rows_escape_every_value_and_show_local_time(departments, settings):
    from datetime import UTC, datetime

    from django.utils import timezone

    from tickets.dashboard import TicketRow
    from tickets.tables import TicketTable

    row = TicketRow(
        department=departments[0],
        id=7,
        reference="TEC-ABCDEF",
        customer_name="O'Neil <b>",
        customer_email='x"y@example.com',
        subject="<script>alert(1)</script> & more",
        status="open",
        priority=3,
        assignee_id=None,
        created_at=datetime(2025, 3, 1, 23, 30, 5, tzinfo=UTC),
        updated_at=datetime(2025, 3, 2, 8, 0, tzinfo=UTC),
    )
    from django.template.loader import get_template
    from django.test import RequestFactory
    from django.test.html import parse_html

    request = RequestFactory().get("/dashboard/")
    with timezone.override("Europe/Berlin"):
        html = get_template(TicketTable._meta.template_name).render(
            {"table": TicketTable([row], request=request)}, request
        )
    assert "<script>" not in html and "<b>" not in html
    page = parse_html(html)

    def shown(markup: str) -> bool:  # compared as parsed HTML, not bytes
        return page.count(parse_html(markup)) == 1

    assert shown('<td class="subject">&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</td>')
    assert shown("<td>O&#x27;Neil &lt;b&gt;</td>") and shown("<td>x&quot;y@example.com</td>")
    assert shown('<time datetime="2025-03-02T00:30:05+01:00">2025-03-02 00:30</time>')
    link = reverse("ticket_detail", args=[departments[0].slug, 7])
    assert shown(f'<a href="{link}" hx-boost="false">TEC-ABCDEF</a>')
    assert shown("<td>Unassigned</td>")


def test_ticket_urls_match_reverse_and_fall_back_when_the_id_is_not_last(departments, monkeypatch):
    from tickets import links

    build = links.ticket_urls(departments[0])
    for ticket_id in (1, 7, 12345, 10**12):
        assert build(ticket_id) == reverse("ticket_detail", args=[departments[0].slug, ticket_id])
    monkeypatch.setattr(links, "ticket_url", lambda d, i: f"/t/{i}/edit/{d.slug}")
    assert links.ticket_urls(departments[0])(9) == f"/t/9/edit/{departments[0].slug}"
