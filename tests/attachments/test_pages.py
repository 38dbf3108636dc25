"""Files on the pages: the public form, the staff page and the customer's page; downloads
checked like the ticket page, sent as downloads, never rendered."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.attachments.conftest import HTML, PDF, png_bytes, upload
from tests.factories import SuperadminFactory, UserFactory
from tickets import forms
from tickets.attachments.storage import storage_for, stored_keys
from tickets.mail.addresses import customer_link_path, customer_link_token
from tickets.models import Attachment, Message, Ticket, Visibility

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("storage_backend"),
]


def submission(to, **overrides):
    return {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "department": to.slug,
        "subject": "Printer on fire",
        "message": "It is on fire.",
        "submission_token": forms.submission_token_new(),
        **overrides,
    }


def submit(client, to, *files, **overrides):
    data = submission(to, **overrides)
    data["attachments"] = list(files)
    return client.post(reverse("home"), data)


def staff_url(department, row: Attachment) -> str:
    return reverse("attachment_staff", args=[department.slug, row.ticket_id, row.pk])


def customer_url(ticket: Ticket, row: Attachment, token: str = "") -> str:
    token = token or customer_link_token(ticket.reference, ticket.customer_email)
    return reverse("attachment_customer", args=[token, row.pk])


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def agent(tech):
    return UserFactory(departments=[tech])


@pytest.fixture
def submitted(tech):
    """A ticket from the public form with a PNG and a PDF."""
    response = submit(Client(), tech, upload("screen.png", png_bytes()), upload("bill.pdf", PDF))
    assert response.status_code == 302
    ticket = Ticket.objects.using(tech.alias).get()
    return ticket, list(Attachment.objects.using(tech.alias).filter(ticket_id=ticket.pk))


def test_the_form_takes_several_files(client):
    page = client.get(reverse("home")).content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert re.search(r'<input type="file" name="attachments"[^>]*multiple', page)
    assert '<label for="id_attachments">Attach files (optional)</label>' in page
    assert "Up to 10 files, 10.0\xa0MB each and 25.0\xa0MB in all" in page


def test_a_refused_file_is_named_next_to_the_field_and_everything_typed_is_kept(client, tech):
    response = submit(
        client,
        tech,
        upload("fine.pdf", PDF),
        upload("cat.png", HTML, "image/png"),
        subject="Keep me",
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert not Ticket.objects.using(tech.alias).exists()
    assert list(stored_keys(storage_for(tech))) == []
    assert re.search(r'id="id_attachments_error">.*“cat.png” is a web page \(HTML\)', page)
    assert 'value="Keep me"' in page and "It is on fire." in page
    # The browser forgot both files: the page says which to choose again.
    assert "Choose the files again: fine.pdf, cat.png." in page


def test_an_error_elsewhere_asks_for_the_files_again(client, tech):
    page = submit(client, tech, upload("fine.pdf", PDF), email="not-an-email").content.decode()
    assert "Choose the file again: fine.pdf." in page
    assert "nothing else you typed was lost" in page


def test_a_replayed_form_with_files_makes_one_ticket_with_its_files_once(client, tech):
    data = submission(tech)
    for _ in range(2):
        data["attachments"] = [upload("bill.pdf", PDF)]
        response = client.post(reverse("home"), data)
        assert response.status_code == 302
    assert Ticket.objects.using(tech.alias).count() == 1
    assert len(list(stored_keys(storage_for(tech)))) == 1


def test_files_storage_down_keeps_the_form_and_writes_nothing(
    client, tech, settings, tmp_path, storage_backend
):
    if storage_backend == "s3":
        settings.HELPDESK_S3_BUCKET = "no-such-bucket"
    else:
        (tmp_path / "file").write_bytes(b"")
        settings.HELPDESK_ATTACHMENTS_DIR = tmp_path / "file" / "below"
    response = submit(client, tech, upload("bill.pdf", PDF), subject="Still here")
    page = response.content.decode()
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert "We could not store your files right now" in page
    assert 'value="Still here"' in page and "Choose the file again: bill.pdf." in page
    assert not Ticket.objects.using(tech.alias).exists()


def test_staff_see_thumbnails_and_download_with_safe_headers(tech, agent, submitted):
    ticket, (png, pdf) = submitted
    client = Client()
    client.force_login(agent)
    page = client.get(reverse("ticket_detail", args=[tech.slug, ticket.pk])).content.decode()
    assert f'<img class="attachment-thumb" src="{staff_url(tech, png)}?inline=1"' in page
    assert f'src="{staff_url(tech, pdf)}?inline=1"' not in page

    response = client.get(staff_url(tech, pdf))
    assert response.status_code == 200 and body_of(response) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="bill.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(PDF))
    assert "sandbox" in response["Content-Security-Policy"]
    thumbnail = client.get(staff_url(tech, png) + "?inline=1")
    assert thumbnail["Content-Disposition"] == 'inline; filename="screen.png"'
    assert thumbnail["Content-Type"] == "image/png"
    # inline is asked for, not granted, for anything but raster images.
    assert client.get(staff_url(tech, pdf) + "?inline=1")["Content-Disposition"].startswith(
        "attachment;"
    )


def test_a_scriptable_file_allowed_by_configuration_is_still_only_a_download(tech, agent, settings):
    settings.HELPDESK_ATTACHMENT_TYPES = [*settings.HELPDESK_ATTACHMENT_TYPES, "text/html"]
    submit(Client(), tech, upload("page.png", HTML), subject="HTML")
    row = Attachment.objects.using(tech.alias).get(content_type="text/html")
    assert row.name == "page.png.html"
    client = Client()
    client.force_login(agent)
    response = client.get(staff_url(tech, row) + "?inline=1")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_agents_of_another_department_and_strangers_get_what_the_ticket_page_gives(
    tech, billing, submitted
):
    ticket, (png, _) = submitted
    outsider = Client()
    outsider.force_login(UserFactory(departments=[billing]))
    page = reverse("ticket_detail", args=[tech.slug, ticket.pk])
    assert outsider.get(page).status_code == 404
    assert outsider.get(staff_url(tech, png)).status_code == 404
    # The same file id under another department's URL is no way in either.
    assert outsider.get(staff_url(billing, png)).status_code == 404
    anonymous = Client().get(staff_url(tech, png))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    boss = Client()
    boss.force_login(SuperadminFactory())
    assert boss.get(staff_url(tech, png)).status_code == 200


def test_a_file_of_another_ticket_is_not_found_under_this_one(tech, agent, submitted):
    ticket, (png, _) = submitted
    other = submit(Client(), tech, subject="Other")
    assert other.status_code == 302
    other_ticket = Ticket.objects.using(tech.alias).exclude(pk=ticket.pk).get()
    client = Client()
    client.force_login(agent)
    url = reverse("attachment_staff", args=[tech.slug, other_ticket.pk, png.pk])
    assert client.get(url).status_code == 404


def test_staff_attach_files_to_a_note_and_the_customer_never_reaches_them(tech, agent, submitted):
    ticket, (png, _) = submitted
    client = Client()
    client.force_login(agent)
    url = reverse("ticket_detail", args=[tech.slug, ticket.pk])
    for send, name in (("note", "internal.txt"), ("reply", "answer.pdf")):
        ticket.refresh_from_db(using=tech.alias)
        content = b"secret internal\n" if send == "note" else PDF
        response = client.post(
            url,
            {
                "version": ticket.version,
                "status": ticket.status,
                "priority": ticket.priority,
                "assignee": "",
                "body": f"Text of the {send}.",
                "send": send,
                "attachments": [upload(name, content)],
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
    note_file = Attachment.objects.using(tech.alias).get(name="internal.txt")
    reply_file = Attachment.objects.using(tech.alias).get(name="answer.pdf")
    assert note_file.message.visibility == Visibility.INTERNAL
    assert reply_file.message.visibility == Visibility.PUBLIC

    customer = Client()
    path = customer_link_path(ticket.reference, ticket.customer_email)
    text = customer.get(path).content.decode()
    token = path.split("/")[2]
    assert customer_url(ticket, reply_file, token) in text
    assert customer_url(ticket, png, token) in text
    assert "internal.txt" not in text
    assert customer.get(customer_url(ticket, note_file)).status_code == 404
    assert body_of(customer.get(customer_url(ticket, reply_file))) == PDF


def test_files_need_a_reply_or_a_note(tech, agent, submitted):
    ticket, _ = submitted
    client = Client()
    client.force_login(agent)
    response = client.post(
        reverse("ticket_detail", args=[tech.slug, ticket.pk]),
        {
            "version": ticket.version,
            "status": "open",
            "priority": ticket.priority,
            "assignee": "",
            "body": "",
            "send": "save",
            "attachments": [upload("a.pdf", PDF)],
        },
    )
    assert response.status_code == 200
    assert forms.MSG_FILES_NEED_MESSAGE in response.content.decode()
    assert Attachment.objects.using(tech.alias).count() == 2  # only the submission's


def test_a_customer_reply_with_files(tech, submitted):
    ticket, _ = submitted
    client = Client()
    path = customer_link_path(ticket.reference, ticket.customer_email)
    page = client.get(path).content.decode()
    token = re.search(r'name="reply_token" value="([^"]+)"', page).group(1)
    response = client.post(
        path,
        {
            "body": "Another photo.",
            "reply_token": token,
            "attachments": [upload("more.png", png_bytes(3, 3))],
        },
    )
    assert response.status_code == 302
    message = Message.objects.using(tech.alias).get(from_customer=True)
    [row] = message.attachments.all()
    assert (row.name, row.uploader_id, row.uploader_name) == ("more.png", None, "Ada Lovelace")


def test_customer_downloads_need_a_good_link_to_this_ticket(tech, submitted):
    ticket, (png, _) = submitted
    client = Client()
    assert client.get(customer_url(ticket, png)).status_code == 200
    forged = reverse("attachment_customer", args=["forged-token", png.pk])
    assert client.get(forged).status_code == 404
    other = submit(Client(), tech, email="bob@example.com", subject="Bob's")
    assert other.status_code == 302
    bobs = Ticket.objects.using(tech.alias).get(customer_email="bob@example.com")
    # Bob's link does not open Ada's file.
    assert client.get(customer_url(bobs, png)).status_code == 404


def test_a_lost_object_is_a_clear_404(tech, agent, submitted):
    _, (png, _) = submitted
    storage_for(tech).delete(png.storage_key)
    client = Client()
    client.force_login(agent)
    response = client.get(staff_url(tech, png))
    assert response.status_code == 404
    assert "is no longer available" in response.content.decode()


def staff_post(client, department, ticket, **overrides):
    data = {
        "version": ticket.version,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": "",
        "body": "See the log.",
        "send": "note",
        **overrides,
    }
    return client.post(reverse("ticket_detail", args=[department.slug, ticket.pk]), data)


def test_a_storage_outage_on_the_staff_page_saves_nothing_and_keeps_the_note(
    tech, agent, submitted, settings, tmp_path, storage_backend
):
    ticket, _ = submitted
    if storage_backend == "s3":
        settings.HELPDESK_S3_BUCKET = "no-such-bucket"
    else:
        (tmp_path / "file").write_bytes(b"")
        settings.HELPDESK_ATTACHMENTS_DIR = tmp_path / "file" / "below"
    client = Client()
    client.force_login(agent)
    response = staff_post(client, tech, ticket, attachments=[upload("log.txt", b"42\n")])
    page = response.content.decode()
    assert response.status_code == 503
    assert "Not saved: the files could not be stored" in page
    assert "See the log." in page and "Choose the file again: log.txt." in page
    assert not Message.objects.using(tech.alias).exists()


def test_a_conflict_asks_for_the_files_again(tech, agent, submitted):
    ticket, _ = submitted
    client = Client()
    client.force_login(agent)
    stale = Ticket.objects.using(tech.alias).get(pk=ticket.pk)
    assert staff_post(client, tech, stale, body="First.").status_code == 302
    response = staff_post(client, tech, stale, attachments=[upload("log.txt", b"42\n")])
    assert response.status_code == 409
    assert "Choose the file again: log.txt." in response.content.decode()
    assert Attachment.objects.using(tech.alias).filter(name="log.txt").count() == 0
    assert len(list(stored_keys(storage_for(tech)))) == 2  # the submission's files only


def test_the_choose_again_note_describes_the_file_input(client, tech):
    """Screen readers hear the note on the file input itself, with its hint and error."""
    import re as _re

    from tickets import forms as ticket_forms

    response = client.post(
        "/",
        {
            "name": "",  # an error elsewhere: the form comes back
            "email": "ada@example.com",
            "department": tech.slug,
            "subject": "Printer",
            "message": "See the screenshot",
            "submission_token": ticket_forms.submission_token_new(),
            "attachments": upload("screen.png", png_bytes(4, 4)),
        },
    )
    page = response.content.decode()
    tag = _re.search(r'<input[^>]*type="file"[^>]*>', page).group(0)
    described = _re.search(r'aria-describedby="([^"]+)"', tag).group(1).split()
    assert "id_attachments_again" in described and "id_attachments_helptext" in described
    assert 'id="id_attachments_again"' in page
