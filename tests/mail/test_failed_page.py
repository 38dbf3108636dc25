"""Mail the sender gave up on: the failed-email page under /manage/, retry, /healthz detail."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from tests.factories import TicketFactory, UserFactory
from tickets.mail.delivery import deliver_all
from tickets.models import OutboxEmail

State = OutboxEmail.State
PAGE = "/manage/outbox/failed/"
TOKEN = "healthz-token-for-mail-tests"


def fail_customer_mail(department, error="SMTPRecipientsRefused: 550 no such user"):
    ticket = TicketFactory(department=department)
    rows = OutboxEmail.objects.using(department.alias).filter(ticket_id=ticket.pk, kind="received")
    rows.update(state=State.FAILED, attempts=8, last_error=error)
    return ticket, rows.get()


@pytest.fixture
def boss_client(client):
    boss = User.objects.create_superuser("boss", "boss@example.com", "correct horse battery")
    client.force_login(boss)
    return client


@pytest.mark.django_db(databases="__all__")
def test_failed_mail_is_listed_and_retried_then_sent(boss_client, smtp_server, tech):
    ticket, row = fail_customer_mail(tech)

    assert reverse("admin:outbox_failed") == PAGE
    assert PAGE in boss_client.get("/manage/").content.decode()  # linked from the admin index
    page = boss_client.get(PAGE).content.decode()
    assert ticket.reference in page and "550 no such user" in page

    response = boss_client.post(
        PAGE, {"department": tech.slug, "id": [str(row.pk)], "action": "selected"}, follow=True
    )
    assert "1 email will be sent again" in response.content.decode()
    row.refresh_from_db(using=tech.alias)
    assert (row.state, row.attempts) == (State.PENDING, 0)

    deliver_all([tech])
    assert row.message_id in {r.message_id for r in smtp_server.received}
    assert ticket.reference not in boss_client.get(PAGE).content.decode()


@pytest.mark.django_db(databases="__all__")
def test_agents_see_and_retry_only_their_departments(client, tech, billing):
    _, tech_row = fail_customer_mail(tech)
    billing_ticket, _ = fail_customer_mail(billing)
    agent = UserFactory(departments=[billing], is_staff=True)
    client.force_login(agent)

    page = client.get(PAGE).content.decode()
    assert billing_ticket.reference in page and tech_row.context["reference"] not in page

    client.post(PAGE, {"department": tech.slug, "id": [str(tech_row.pk)]})
    tech_row.refresh_from_db(using=tech.alias)
    assert tech_row.state == State.FAILED


@pytest.mark.django_db(databases="__all__")
def test_people_without_admin_rights_are_sent_to_sign_in(client, tech):
    client.force_login(UserFactory(departments=[tech]))  # an agent, not staff in Django's sense
    assert client.get(PAGE).status_code == 302
    client.logout()
    assert client.post(PAGE, {"department": tech.slug, "action": "all"}).status_code == 302


@pytest.mark.django_db(databases="__all__")
def test_a_department_that_is_down_is_named_and_the_others_listed(
    boss_client, tech, billing, database_down
):
    billing_ticket, _ = fail_customer_mail(billing)
    with database_down(tech):
        response = boss_client.get(PAGE)
        retry = boss_client.post(PAGE, {"department": tech.slug, "id": ["1"]}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Technical Issues database is unavailable" in body
    assert billing_ticket.reference in body
    assert "unavailable" in retry.content.decode()


@pytest.mark.django_db(databases="__all__")
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    department=st.text(max_size=30),
    ids=st.lists(st.text(max_size=25), max_size=4),
    action=st.sampled_from(["", "all", "selected", "\x00"]),
)
def test_any_form_input_is_answered_without_an_error(boss_client, tech, department, ids, action):
    for slug in (department, tech.slug):
        response = boss_client.post(PAGE, {"department": slug, "id": ids, "action": action})
        assert response.status_code == 302


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_healthz_detail_counts_failed_and_waiting_mail_per_department(client, tech, settings):
    settings.HELPDESK_HEALTHZ_TOKEN = TOKEN
    fail_customer_mail(tech)
    TicketFactory(department=tech)  # its confirmation still waiting

    detail = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    public = client.get("/healthz")

    by_name = {d["name"]: d for d in detail.json()["departments"]}
    assert by_name[tech.slug]["details"]["outbox"] == {"failed": 1, "pending": 1}
    assert all(d["details"]["outbox"]["failed"] == 0 for n, d in by_name.items() if n != tech.slug)
    # Failed mail is for operators: the public status and code stay those of the databases.
    assert (public.status_code, public.json()) == (200, {"status": "ok"})


@pytest.mark.django_db(databases="__all__")
def test_sent_mail_is_pruned_after_its_keeping_time_and_nothing_else(tech, settings):
    from datetime import timedelta

    from django.utils import timezone

    from tickets.mail.delivery import prune_sent

    settings.HELPDESK_OUTBOX_KEEP_DAYS = 30
    now = timezone.now()
    for _ in range(4):
        TicketFactory(department=tech)
    old_sent, new_sent, old_failed, pending = OutboxEmail.objects.using(tech.alias).order_by("id")
    OutboxEmail.objects.using(tech.alias).filter(pk=old_sent.pk).update(
        state=State.SENT, sent_at=now - timedelta(days=31)
    )
    OutboxEmail.objects.using(tech.alias).filter(pk=new_sent.pk).update(
        state=State.SENT, sent_at=now - timedelta(days=29)
    )
    OutboxEmail.objects.using(tech.alias).filter(pk=old_failed.pk).update(
        state=State.FAILED, created_at=now - timedelta(days=90)
    )

    assert prune_sent(tech, now=now) == 1
    left = set(OutboxEmail.objects.using(tech.alias).values_list("pk", flat=True))
    assert left == {new_sent.pk, old_failed.pk, pending.pk}
