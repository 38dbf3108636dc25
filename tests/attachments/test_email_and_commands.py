"""Email attachments are kept within the limits (what is dropped is said in the message), and
``clean_attachments`` reports and deletes what lost its other half."""

from __future__ import annotations

from email.message import EmailMessage
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.attachments.conftest import HTML, PDF, png_bytes, upload
from tests.factories import TicketFactory
from tickets.attachments.storage import storage_for, stored_keys
from tickets.mail.addresses import reply_address
from tickets.mail.inbound import Kind, ingest_email
from tickets.models import Attachment, Message, Ticket

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("storage_backend"),
]


@pytest.fixture
def general(departments):
    return next(d for d in departments if d.slug == settings.HELPDESK_INBOUND_DEFAULT_DEPARTMENT)


def mail(body: str, files: list[tuple[str, bytes, str]], *, to="support@localhost", mid="1"):
    message = EmailMessage()
    message["From"] = "Ann Customer <ann@example.com>"
    message["To"] = to
    message["Subject"] = "Printer"
    message["Message-ID"] = f"<att-{mid}@mail.example>"
    message.set_content(body)
    for name, content, kind in files:
        maintype, subtype = kind.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)


def test_a_new_mail_keeps_its_files_and_names_the_ones_dropped(general):
    raw = mail(
        "See attached.",
        [("photo.png", png_bytes(), "image/png"), ("page.png", HTML, "image/png")],
    )
    assert ingest_email(raw).kind == Kind.CREATED
    again = ingest_email(raw)

    ticket = Ticket.objects.using(general.alias).get()
    assert again.kind == Kind.DUPLICATE
    assert ticket.message == (
        "See attached.\n\n[page.png not kept: a web page (HTML), which we do not accept]"
    )
    [row] = Attachment.objects.using(general.alias).all()
    assert (row.name, row.content_type, row.message_id) == ("photo.png", "image/png", None)
    assert list(stored_keys(storage_for(general))) == [row.storage_key]


def test_a_reply_by_mail_keeps_its_files_on_the_message(tech):
    ticket = TicketFactory(department=tech, customer_email="ann@example.com")
    raw = mail(
        "Log attached.",
        [("log.txt", b"error 42\n", "text/plain")],
        to=reply_address(ticket.reference),
    )
    assert ingest_email(raw).kind == Kind.ADDED
    assert ingest_email(raw).kind == Kind.DUPLICATE  # the same mail again adds nothing
    message = Message.objects.using(tech.alias).get()
    [row] = Attachment.objects.using(tech.alias).all()
    assert row.message_id == message.pk and row.name == "log.txt"
    assert len(list(stored_keys(storage_for(tech)))) == 1


def test_a_storage_outage_defers_the_mail(general, settings, tmp_path, storage_backend):
    if storage_backend == "s3":
        settings.HELPDESK_S3_BUCKET = "no-such-bucket"
    else:
        (tmp_path / "file").write_bytes(b"")
        settings.HELPDESK_ATTACHMENTS_DIR = tmp_path / "file" / "below"
    outcome = ingest_email(mail("With a file.", [("a.pdf", PDF, "application/pdf")]))
    assert outcome.kind == Kind.DEFERRED
    assert "file storage is unavailable; deliver again later" in outcome.reason
    assert not Ticket.objects.using(general.alias).exists()


def run(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("clean_attachments", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code, err = exc.returncode, StringIO(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_clean_attachments_reports_then_deletes(tech, billing):
    stray = storage_for(tech).save("2020/01/01/feedface", upload("x", b"stray"))
    code, out, err = run("--department", tech.slug, "--grace", "0")
    assert code == 1
    assert "Technical Issues: 1 objects, 0 rows; 1 objects without a row" in out
    assert f"object without a row: {stray}" in out
    assert "Run again with --delete" in err

    code, out, _ = run("--grace", "0", "--delete")
    assert code == 0
    assert "deleted 1 objects without a row and 0 rows without their object" in out
    assert f"{billing.label}: 0 objects, 0 rows, nothing to clean" in out
    assert list(stored_keys(storage_for(tech))) == []


def test_clean_attachments_leaves_new_objects_alone_and_names_bad_departments(tech):
    storage_for(tech).save("2020/01/01/cafe", upload("x", b"new"))
    code, out, _ = run("--department", tech.slug)
    assert code == 0 and "1 new objects left alone, nothing to clean" in out
    assert run("--department", "nope")[0] == 1


def test_clean_attachments_never_deletes_rows_when_the_storage_looks_wrong(tech):
    """An unmounted volume or a wrong folder lists nothing: every row looks lost. Deleting
    them would throw away what the right configuration finds again."""
    from tickets.attachments.audit import attachments_audit
    from tickets.models import Attachment

    TicketFactory(department=tech)
    ticket = Ticket.objects.using(tech.alias).first()
    Attachment.objects.using(tech.alias).create(
        ticket=ticket,
        original_name="a.png",
        name="a.png",
        content_type="image/png",
        size=1,
        sha256="0" * 64,
        storage_key="2026/01/01/" + "a" * 32,
        uploader_name="Ada",
    )

    result = attachments_audit(tech, delete=True)

    assert result.missing_objects and result.deleted_rows == 0
    assert "no objects at all" in result.rows_kept
    assert Attachment.objects.using(tech.alias).count() == 1
