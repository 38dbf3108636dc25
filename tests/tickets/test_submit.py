"""Submitting a ticket at `/`: validation, routing to the department, failures, abuse limits."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from tickets import forms, services
from tickets.models import Ticket, TicketCount, TicketEvent

pytestmark = pytest.mark.django_db(databases="__all__")


def submission(to, **overrides) -> dict[str, str]:
    return {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0958",
        "department": to.slug,
        "subject": "Printer on fire",
        "message": "It is on fire.\nAgain.",
        "submission_token": forms.submission_token_new(),
        **overrides,
    }


def tickets_everywhere(departments) -> dict[str, int]:
    return {d.slug: Ticket.objects.using(d.alias).count() for d in departments}


def test_form_is_accessible_and_offers_every_department(client, departments):
    page = client.get(reverse("home")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    for field in ["id_name", "id_email", "id_phone", "id_subject", "id_message"]:
        assert f'<label for="{field}">' in page
    assert re.search(r'<input type="email" name="email"[^>]*autocomplete="email"', page)
    assert re.search(r'<input type="tel" name="phone"[^>]*autocomplete="tel"', page)
    assert "<legend>Which department is it for?</legend>" in page
    for index, department in enumerate(departments):
        assert f'type="radio" name="department" value="{department.slug}"' in page
        label = department.label.replace("&", "&amp;")
        assert f'<label for="id_department_{index}">{label}</label>' in page


def test_ticket_goes_to_the_chosen_department_only(client, departments, billing):
    response = client.post(reverse("home"), submission(billing))
    assert response.status_code == 302
    ticket = Ticket.objects.using(billing.alias).get()
    assert response["Location"] == reverse("ticket_submitted", args=[ticket.reference])
    assert ticket.reference.startswith("BIL-")
    assert (ticket.customer_name, ticket.customer_phone) == ("Ada Lovelace", "+44 20 7946 0958")
    assert list(ticket.events.values_list("kind", "actor_name")) == [
        (TicketEvent.Kind.CREATED, "Customer")
    ]
    assert tickets_everywhere(departments) == {d.slug: int(d == billing) for d in departments}


def test_confirmation_shows_reference_department_and_next_steps(client, billing):
    response = client.post(reverse("home"), submission(billing), follow=True)
    ticket = Ticket.objects.using(billing.alias).get()
    page = response.content.decode()
    assert ticket.reference in page
    assert "Account &amp; Billing" in page
    assert "What happens next" in page
    assert reverse("status_detail", args=[ticket.reference]) in page
    # The confirmation's status link works in the same browser without typing anything.
    status = client.get(reverse("status_detail", args=[ticket.reference]), follow=True)
    assert status.status_code == 200 and "New" in status.content.decode()
    assert status.redirect_chain[-1][0].startswith("/ticket/")


def test_confirmation_is_only_for_the_browser_that_submitted(client, billing):
    client.post(reverse("home"), submission(billing))
    reference = Ticket.objects.using(billing.alias).get().reference
    stranger = Client()
    response = stranger.get(reverse("ticket_submitted", args=[reference]))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('status_lookup')}?reference={reference}"
    page = stranger.get(response["Location"]).content.decode()
    assert "Printer on fire" not in page and "ada@example.com" not in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", forms.MSG_NAME_REQUIRED),
        ({"name": "x" * (forms.NAME_MAX + 1)}, "name", forms.MSG_NAME_TOO_LONG),
        ({"email": "ada@"}, "email", forms.MSG_EMAIL_INVALID),
        ({"email": ""}, "email", forms.MSG_EMAIL_REQUIRED),
        ({"phone": "call me maybe"}, "phone", forms.MSG_PHONE_INVALID),
        ({"phone": "12"}, "phone", forms.MSG_PHONE_INVALID),
        ({"department": "no-such-department"}, "department", forms.MSG_DEPARTMENT_REQUIRED),
        ({"department": ""}, "department", forms.MSG_DEPARTMENT_REQUIRED),
        ({"subject": " "}, "subject", forms.MSG_SUBJECT_REQUIRED),
        ({"subject": "s" * (forms.SUBJECT_MAX + 1)}, "subject", forms.MSG_SUBJECT_TOO_LONG),
        ({"message": ""}, "message", forms.MSG_MESSAGE_REQUIRED),
        ({"message": "m" * (forms.MESSAGE_MAX + 1)}, "message", "10,000 characters or fewer"),
        ({"message": "nul \x00 byte"}, "message", "Null characters are not allowed."),
    ],
)
def test_invalid_input_is_explained_next_to_the_field_and_kept(
    client, departments, tech, overrides, field, message
):
    data = submission(tech, **overrides)
    response = client.post(reverse("home"), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    page = response.content.decode()
    anchor = "id_department_0" if field == "department" else f"id_{field}"
    assert f'<a href="#{anchor}">' in page  # the error summary links to the field
    assert f'id="id_{field}_error"' in page
    assert "<title>Error: " in page
    # Everything else typed is still there.
    for name in {"name", "email", "subject"} - {field}:
        assert f'value="{data[name]}"' in page
    assert tickets_everywhere(departments) == dict.fromkeys((d.slug for d in departments), 0)


def test_invalid_field_is_marked_for_assistive_technology(client, tech):
    page = client.post(reverse("home"), submission(tech, email="nope")).content.decode()
    email_input = re.search(r'<input type="email" name="email"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in email_input
    assert 'aria-describedby="id_email_helptext id_email_error"' in email_input


def test_phone_is_optional_and_accepts_common_formats(client, tech):
    for phone in ["", "(020) 7946-0958 ext. 12", "+1 555.123.4567"]:
        response = client.post(reverse("home"), submission(tech, phone=phone))
        assert response.status_code == 302, response.context["form"].errors
    assert Ticket.objects.using(tech.alias).count() == 3


def test_script_in_subject_is_shown_as_text_on_confirmation(client, tech):
    response = client.post(
        reverse("home"), submission(tech, subject="<script>alert(1)</script>"), follow=True
    )
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_csrf_is_required(tech):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("home"), submission(tech))
    assert response.status_code == 403
    assert "Please send the form again" in response.content.decode()
    assert Ticket.objects.using(tech.alias).count() == 0


def test_database_down_keeps_the_form_and_says_so(client, departments, billing):
    with mock.patch.object(
        services.Ticket, "save", side_effect=OperationalError("connection refused")
    ):
        response = client.post(reverse("home"), submission(billing))
    assert response.status_code == 503
    page = response.content.decode()
    assert "We could not save your ticket to Account &amp; Billing right now" in page
    assert "please try again" in page
    assert 'value="Ada Lovelace"' in page and "It is on fire.\nAgain.</textarea>" in page
    assert re.search(r'value="account-billing"[^>]*checked', page)
    assert tickets_everywhere(departments) == dict.fromkeys((d.slug for d in departments), 0)


def test_failure_midway_leaves_nothing_half_written(client, billing):
    # The ticket row is written, then the count update fails: the whole ticket must go.
    with mock.patch.object(
        services, "bump_counts", side_effect=OperationalError("server closed the connection")
    ):
        response = client.post(reverse("home"), submission(billing))
    assert response.status_code == 503
    assert Ticket.objects.using(billing.alias).count() == 0
    assert TicketEvent.objects.using(billing.alias).count() == 0
    assert sum(TicketCount.objects.using(billing.alias).values_list("count", flat=True)) == 0


def test_really_unreachable_department_database(
    client, database_down, departments, billing, caplog
):
    with database_down(billing):
        response = client.post(reverse("home"), submission(billing))
        assert client.get(reverse("home")).status_code == 200  # the form itself needs no database
    assert response.status_code == 503
    page = response.content.decode()
    assert "We could not save your ticket to Account &amp; Billing right now" in page
    assert 'value="Ada Lovelace"' in page
    assert tickets_everywhere(departments) == dict.fromkeys((d.slug for d in departments), 0)
    [record] = [r for r in caplog.records if r.name == "tickets.views.public"]
    assert record.department == billing.slug and "OperationalError" in record.error
    # Back up: the same submission goes through.
    assert client.post(reverse("home"), submission(billing)).status_code == 302


def test_submissions_are_rate_limited_per_client(client, settings, tech):
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "ticket-submit": (2, 600)}
    for _ in range(2):
        assert client.post(reverse("home"), submission(tech)).status_code == 302
    response = client.post(reverse("home"), submission(tech, subject="Third one"))
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "Please wait before sending another ticket" in page
    assert 'value="Third one"' in page
    assert Ticket.objects.using(tech.alias).count() == 2
    # Another client (address) is not affected.
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert other.post(reverse("home"), submission(tech)).status_code == 302


def test_a_replayed_submission_neither_counts_nor_is_refused_while_paused(client, settings, tech):
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "ticket-submit": (2, 600)}
    first = submission(tech)
    made = client.post(reverse("home"), first)
    assert client.post(reverse("home"), first)["Location"] == made["Location"]  # not counted
    assert client.post(reverse("home"), submission(tech, subject="Second")).status_code == 302
    assert client.post(reverse("home"), submission(tech, subject="Third")).status_code == 429
    # Paused now, yet the first form sent again still leads to its own confirmation.
    again = client.post(reverse("home"), first)
    assert again.status_code == 302 and again["Location"] == made["Location"]
    assert Ticket.objects.using(tech.alias).count() == 2


def test_invalid_posts_do_not_use_up_the_allowance(client, settings, tech):
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "ticket-submit": (1, 600)}
    for _ in range(3):
        assert client.post(reverse("home"), submission(tech, email="bad")).status_code == 200
    assert client.post(reverse("home"), submission(tech)).status_code == 302


def test_signed_in_staff_are_not_rate_limited_and_are_recorded(client, settings, tech):
    settings.HELPDESK_RATE_LIMITS = {**settings.HELPDESK_RATE_LIMITS, "ticket-submit": (1, 600)}
    agent = UserFactory(first_name="Sam", last_name="Phone", departments=[tech])
    client.force_login(agent)
    for _ in range(3):
        response = client.post(reverse("home"), submission(tech), follow=True)
        assert response.status_code == 200
    assert Ticket.objects.using(tech.alias).count() == 3
    event = TicketEvent.objects.using(tech.alias).first()
    assert (event.actor_id, event.actor_name) == (agent.pk, "Sam Phone")
    # A member of the department can jump from the confirmation to the ticket.
    assert "Open the ticket (staff)" in response.content.decode()


def test_get_and_post_only(client):
    assert client.put(reverse("home")).status_code == 405


# --- The same form sent twice is one ticket -------------------------------------------------------

_TOKEN_INPUT = re.compile(r'<input type="hidden" name="submission_token" value="([^"]+)"')


def token_in(response) -> str:
    return _TOKEN_INPUT.search(response.content.decode()).group(1)


def test_the_same_post_twice_is_one_ticket_and_the_same_confirmation(client, departments, billing):
    data = submission(billing)
    first = client.post(reverse("home"), data)
    again = client.post(reverse("home"), data)
    assert first.status_code == again.status_code == 302
    assert again["Location"] == first["Location"]
    ticket = Ticket.objects.using(billing.alias).get()
    assert first["Location"] == reverse("ticket_submitted", args=[ticket.reference])
    assert TicketEvent.objects.using(billing.alias).count() == 1
    assert sum(TicketCount.objects.using(billing.alias).values_list("count", flat=True)) == 1
    assert tickets_everywhere(departments) == {d.slug: int(d == billing) for d in departments}


def test_a_replay_from_a_browser_that_lost_the_answer_still_shows_the_confirmation(billing):
    data = submission(billing)
    Client().post(reverse("home"), data)  # its answer never arrived
    retry = Client()
    response = retry.post(reverse("home"), data, follow=True)
    ticket = Ticket.objects.using(billing.alias).get()
    assert response.redirect_chain == [(reverse("ticket_submitted", args=[ticket.reference]), 302)]
    assert ticket.reference in response.content.decode()
    opened = retry.get(reverse("status_detail", args=[ticket.reference]), follow=True)
    assert opened.status_code == 200


def test_every_load_of_the_form_gets_a_new_token_and_each_makes_its_own_ticket(client, tech):
    tokens = {token_in(client.get(reverse("home"))) for _ in range(2)}
    assert len(tokens) == 2
    for token in tokens:  # the same words sent from two loads of the form: two tickets
        client.post(reverse("home"), submission(tech, submission_token=token))
    assert Ticket.objects.using(tech.alias).count() == 2


def test_a_form_shown_again_with_errors_keeps_its_token(client, tech):
    token = token_in(client.get(reverse("home")))
    shown = client.post(reverse("home"), submission(tech, email="ada@", submission_token=token))
    assert shown.status_code == 200 and token_in(shown) == token
    fixed = submission(tech, submission_token=token)
    sent, again = (client.post(reverse("home"), fixed) for _ in range(2))
    assert sent.status_code == 302 and again["Location"] == sent["Location"]
    assert Ticket.objects.using(tech.alias).count() == 1


def test_a_form_shown_again_after_a_503_keeps_its_token(client, database_down, billing):
    data = submission(billing)
    with database_down(billing):
        down = client.post(reverse("home"), data)
    assert down.status_code == 503 and token_in(down) == data["submission_token"]
    sent, again = (client.post(reverse("home"), data) for _ in range(2))
    assert sent.status_code == 302 and again["Location"] == sent["Location"]
    assert Ticket.objects.using(billing.alias).count() == 1


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", forms.MSG_FORM_NOT_RECOGNISED),
        ("made-up", forms.MSG_FORM_NOT_RECOGNISED),
        (forms.submission_token_new()[:-1] + "x", forms.MSG_FORM_NOT_RECOGNISED),
        ("expired", forms.MSG_FORM_EXPIRED),
    ],
)
def test_a_bad_or_expired_token_is_explained_and_the_form_kept(client, tech, token, message):
    if token == "expired":
        old = time.time() - forms.SUBMISSION_TOKEN_MAX_AGE.total_seconds() - 60
        with mock.patch("django.core.signing.time.time", return_value=old):
            token = forms.submission_token_new()
    data = submission(tech, subject="Kept subject", submission_token=token)
    response = client.post(reverse("home"), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page and "<title>Error: " in page
    assert 'value="Kept subject"' in page and "It is on fire.\nAgain.</textarea>" in page
    assert Ticket.objects.using(tech.alias).count() == 0
    # The form comes back with a good token of its own: sending it again works.
    fresh = token_in(response)
    assert fresh != token
    resent = client.post(reverse("home"), {**data, "submission_token": fresh})
    assert resent.status_code == 302
    assert Ticket.objects.using(tech.alias).count() == 1


def test_the_same_form_sent_again_with_changes_is_a_new_ticket(client, tech):
    # Back, correct the email address, send: a replay must not swallow the correction, and
    # a token alone must not open the confirmation of a ticket sent with other details.
    data = submission(tech)
    first = client.post(reverse("home"), data)
    corrected = client.post(reverse("home"), {**data, "email": "ada.l@example.com"})
    assert corrected.status_code == 302 and corrected["Location"] != first["Location"]
    emails = set(Ticket.objects.using(tech.alias).values_list("customer_email", flat=True))
    assert emails == {"ada@example.com", "ada.l@example.com"}


def test_the_same_token_sent_to_another_department_is_a_ticket_there(client, tech, billing):
    # Uniqueness is per department database, which cannot see the others. Only an edited POST
    # does this (a double click sends the same department); a department that was down, then
    # changed, must work. Documented in the README.
    data = submission(tech)
    client.post(reverse("home"), data)
    other = client.post(reverse("home"), {**data, "department": billing.slug})
    assert other.status_code == 302
    assert Ticket.objects.using(tech.alias).count() == 1
    assert Ticket.objects.using(billing.alias).count() == 1
