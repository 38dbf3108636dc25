"""The email providers' inbound webhook (anymail): Postmark's real payload format, posted with
the shared secret, goes through the same service as ``ingest_email``."""

from __future__ import annotations

import base64
import json

import pytest
from django.conf import settings
from django.test import override_settings

from tests.factories import TicketFactory
from tests.mail.inbound_mail import reply_to
from tickets.mail.addresses import reply_address
from tickets.models import Attachment, Channel, Message, Ticket

pytestmark = pytest.mark.django_db(databases="__all__")

URL = "/anymail/postmark/inbound/"
SECRET = "postmark:s3cret-webhook-password"


@pytest.fixture(autouse=True)
def _webhook_secret():
    with override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET}):
        yield


@pytest.fixture
def general(departments):
    return next(d for d in departments if d.slug == settings.HELPDESK_INBOUND_DEFAULT_DEPARTMENT)


def auth(secret: str = SECRET) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def postmark_payload(*, to: str, from_email: str = "ann@example.com", **extra) -> dict:
    """Postmark's inbound webhook JSON (its documented sample, our values), without RawEmail."""
    payload = {
        "FromName": "Ann Customer",
        "MessageStream": "inbound",
        "From": from_email,
        "FromFull": {"Email": from_email, "Name": "Ann Customer", "MailboxHash": ""},
        "To": to,
        "ToFull": [{"Email": to, "Name": "", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": to,
        "Subject": "Printer on fire",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": "Fri, 1 Aug 2025 16:45:32 -04:00",
        "TextBody": "It is on fire.\n\nOn Thu, Help desk wrote:\n> earlier",
        "HtmlBody": "<p>It is on fire.</p>",
        "StrippedTextReply": "It is on fire.",
        "Tag": "",
        "Headers": [
            {"Name": "Return-Path", "Value": f"<{from_email}>"},
            {"Name": "X-Spam-Status", "Value": "No"},
            {"Name": "Message-ID", "Value": "<CAFx1@mail.example.com>"},
        ],
        "Attachments": [
            {
                "Name": "photo.txt",
                "Content": base64.b64encode(b"smoke").decode(),
                "ContentType": "text/plain",
                "ContentLength": 5,
            }
        ],
    }
    payload.update(extra)
    return payload


def post(client, payload: dict, **headers):
    return client.post(URL, data=json.dumps(payload), content_type="application/json", **headers)


def test_a_new_mail_posted_with_the_secret_becomes_a_ticket(client, general):
    response = post(client, postmark_payload(to="support@localhost"), **auth())

    assert response.status_code == 200
    ticket = Ticket.objects.using(general.alias).get()
    assert ticket.channel == Channel.EMAIL
    assert (ticket.customer_email, ticket.subject) == ("ann@example.com", "Printer on fire")
    assert ticket.message == "It is on fire."
    assert Attachment.objects.using(general.alias).filter(ticket_id=ticket.pk).count() == 1
    # The provider retrying the same event makes no second ticket.
    assert post(client, postmark_payload(to="support@localhost"), **auth()).status_code == 200
    assert Ticket.objects.using(general.alias).count() == 1


def test_the_wrong_secret_or_none_is_refused_and_nothing_is_written(client, general):
    for headers in (auth("postmark:guess"), {}):
        response = post(client, postmark_payload(to="support@localhost"), **headers)
        assert response.status_code == 400
    assert not Ticket.objects.using(general.alias).exists()


def test_a_raw_mime_reply_is_added_to_its_ticket(client, billing):
    ticket = TicketFactory(department=billing)
    raw = reply_to(ticket, "Raw MIME reply.").decode()
    payload = postmark_payload(
        to=reply_address(ticket.reference), from_email=ticket.customer_email, RawEmail=raw
    )

    assert post(client, payload, **auth()).status_code == 200

    [message] = Message.objects.using(billing.alias).filter(ticket_id=ticket.pk)
    assert (message.body, message.channel) == ("Raw MIME reply.", Channel.EMAIL)


def test_an_auto_reply_is_accepted_and_ignored(client, general):
    payload = postmark_payload(to="support@localhost")
    payload["Headers"].append({"Name": "Auto-Submitted", "Value": "auto-replied"})

    assert post(client, payload, **auth()).status_code == 200
    assert not Ticket.objects.using(general.alias).exists()


def test_a_department_that_is_down_answers_503_so_the_provider_retries(
    client, general, database_down
):
    with database_down(general):
        response = post(client, postmark_payload(to="support@localhost"), **auth())
    assert response.status_code == 503
    assert response["Retry-After"] == "60"

    assert post(client, postmark_payload(to="support@localhost"), **auth()).status_code == 200
    assert Ticket.objects.using(general.alias).count() == 1


def test_without_a_secret_configured_there_is_no_webhook(client, general):
    with override_settings(ANYMAIL={}):
        response = post(client, postmark_payload(to="support@localhost"))
    assert response.status_code == 404
    assert not Ticket.objects.using(general.alias).exists()


def test_a_payload_that_is_not_postmarks_is_a_400(client):
    response = client.post(URL, data="not json", content_type="application/json", **auth())
    assert response.status_code == 400
