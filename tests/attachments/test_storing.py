"""Files are stored with the transaction that records them, on the filesystem and on S3: a
rollback, a replay or a storage outage leaves no object behind and no half-written message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from departments.errors import DepartmentUnavailable
from tests.attachments.conftest import PDF, png_bytes, upload
from tests.factories import UserFactory
from tickets.attachments.audit import attachments_audit
from tickets.attachments.batch import AttachmentsUnavailable, attachments_stored
from tickets.attachments.storage import storage_for, stored_keys
from tickets.attachments.transfer import attachments_transferred
from tickets.attachments.uploads import check_files
from tickets.conversation import customer_reply
from tickets.models import Attachment, Message, OutboxEmail, Ticket
from tickets.services import Actor, ticket_create, ticket_delete, ticket_update

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("storage_backend"),
]

SENT = {
    "customer_name": "Ann Customer",
    "customer_email": "ann@example.com",
    "subject": "Printer on fire",
    "message": "See the photo.",
}


def files(*named: tuple[str, bytes]):
    return check_files([(upload(name, content), name) for name, content in named])


def objects(department) -> list[str]:
    return list(stored_keys(storage_for(department)))


def read(department, key: str) -> bytes:
    with storage_for(department).open(key, "rb") as stream:
        return stream.read()


def create(department, uploads, **extra):
    with attachments_stored(department, uploads) as batch:
        return ticket_create(department=department, attachments=batch, **{**SENT, **extra})


def test_a_ticket_keeps_its_files_bytes_and_metadata(tech):
    ticket = create(tech, files(("photo.png", png_bytes()), ("invoice.pdf", PDF)))

    rows = list(Attachment.objects.using(tech.alias).filter(ticket_id=ticket.pk))
    assert [(r.name, r.content_type, r.message_id) for r in rows] == [
        ("photo.png", "image/png", None),
        ("invoice.pdf", "application/pdf", None),
    ]
    assert rows[1].size == len(PDF) and len(rows[1].sha256) == 64
    assert rows[0].uploader_id is None and rows[0].uploader_name == "Ann Customer"
    assert sorted(objects(tech)) == sorted(r.storage_key for r in rows)
    assert read(tech, rows[1].storage_key) == PDF
    # The confirmation email may say files came with it (they are never attached to mail).
    received = OutboxEmail.objects.using(tech.alias).get(kind=OutboxEmail.Kind.RECEIVED)
    assert received.context["attachments"] == 2


def test_departments_keep_their_files_apart(tech, billing):
    create(tech, files(("a.pdf", PDF)))
    assert len(objects(tech)) == 1 and objects(billing) == []


def test_a_transaction_that_rolls_back_leaves_no_object(tech):
    class Boom(Exception):
        pass

    with (
        pytest.raises(Boom),
        attachments_stored(tech, files(("a.pdf", PDF))) as batch,
        transaction.atomic(using=tech.alias),
    ):
        ticket_create(department=tech, attachments=batch, **SENT)
        raise Boom
    assert objects(tech) == []
    assert not Ticket.objects.using(tech.alias).exists()


def test_a_replayed_submission_stores_its_files_once(tech):
    first = create(tech, files(("a.pdf", PDF)), submission_token="token-1")
    again = create(tech, files(("a.pdf", PDF)), submission_token="token-1")

    assert again.pk == first.pk
    assert len(objects(tech)) == 1
    assert Attachment.objects.using(tech.alias).count() == 1


def test_other_files_make_another_submission(tech):
    first = create(tech, files(("a.pdf", PDF)), submission_token="token-1")
    other = create(tech, files(("a.pdf", PDF + b"%changed")), submission_token="token-1")
    assert other.pk != first.pk and len(objects(tech)) == 2


def test_a_storage_outage_midway_stores_nothing_and_writes_nothing(tech, monkeypatch):
    storage = storage_for(tech)
    real_save = storage.save
    saved = []

    def fail_on_second(name, content, **kwargs):
        if saved:
            raise OSError("storage went away")
        saved.append(real_save(name, content, **kwargs))
        return saved[-1]

    monkeypatch.setattr(storage, "save", fail_on_second)
    with pytest.raises(AttachmentsUnavailable):
        create(tech, files(("a.pdf", PDF), ("b.png", png_bytes())))
    monkeypatch.undo()
    assert len(saved) == 1 and objects(tech) == []
    assert not Ticket.objects.using(tech.alias).exists()


def test_an_unreachable_storage_is_a_clear_error(tech, settings, tmp_path, storage_backend):
    if storage_backend == "s3":
        settings.HELPDESK_S3_BUCKET = "no-such-bucket"
    else:
        (tmp_path / "a-file").write_bytes(b"")
        settings.HELPDESK_ATTACHMENTS_DIR = tmp_path / "a-file" / "attachments"
    with pytest.raises(AttachmentsUnavailable) as caught:
        create(tech, files(("a.pdf", PDF)))
    assert caught.value.department == tech
    assert not Ticket.objects.using(tech.alias).exists()


def test_a_database_outage_removes_the_stored_files(tech, database_down):
    uploads = files(("a.pdf", PDF))
    with database_down(tech), pytest.raises(DepartmentUnavailable):
        create(tech, uploads)
    assert objects(tech) == []


def test_staff_files_go_with_the_reply_or_the_note(tech):
    agent = UserFactory(departments=[tech])
    ticket = create(tech, [])
    with attachments_stored(tech, files(("log.txt", b"error 42\n"))) as batch:
        ticket = ticket_update(
            department=tech,
            ticket_id=ticket.pk,
            expected_version=ticket.version,
            actor=Actor.from_user(agent),
            note="Seen this before.",
            attachments=batch,
        )
    note = Message.objects.using(tech.alias).get()
    row = Attachment.objects.using(tech.alias).get()
    assert (row.message_id, row.uploader_id, row.content_type) == (note.pk, agent.pk, "text/plain")
    # A note causes no customer email, so nothing counts its files there.
    assert not OutboxEmail.objects.using(tech.alias).filter(kind=OutboxEmail.Kind.REPLY).exists()


def test_a_customer_reply_sent_twice_keeps_its_files_once(tech):
    ticket = create(tech, [])
    for _ in range(2):
        with attachments_stored(tech, files(("more.png", png_bytes()))) as batch:
            customer_reply(
                department=tech, ticket_id=ticket.pk, body="Here.", key="k1", attachments=batch
            )
    assert Message.objects.using(tech.alias).count() == 1
    assert Attachment.objects.using(tech.alias).count() == 1 and len(objects(tech)) == 1


def test_deleting_a_ticket_deletes_its_objects_after_commit(
    tech, django_capture_on_commit_callbacks
):
    keep = create(tech, files(("keep.pdf", PDF)))
    gone = create(tech, files(("a.pdf", PDF), ("b.png", png_bytes())))
    with django_capture_on_commit_callbacks(using=tech.alias, execute=True):
        ticket_delete(department=tech, ticket_id=gone.pk)
    [kept] = Attachment.objects.using(tech.alias).filter(ticket_id=keep.pk)
    assert objects(tech) == [kept.storage_key]


def test_clean_attachments_finds_objects_without_rows_and_rows_without_objects(tech, billing):
    ticket = create(tech, files(("a.pdf", PDF), ("b.pdf", PDF + b"b")))
    [first, second] = Attachment.objects.using(tech.alias).filter(ticket_id=ticket.pk)
    storage = storage_for(tech)
    # A crash between storing and committing leaves an object nobody recorded...
    stray = storage.save("2020/01/01/deadbeef", upload("x", b"stray"))
    # ...and a lost object leaves a row pointing at nothing.
    storage.delete(second.storage_key)

    young = attachments_audit(tech, grace=timedelta(hours=1))
    assert young.orphan_objects == [] and young.too_young == 1
    assert young.missing_objects == [second.storage_key]

    found = attachments_audit(tech, grace=timedelta(0))
    assert (found.orphan_objects, found.missing_objects) == ([stray], [second.storage_key])
    assert objects(tech) == sorted([stray, first.storage_key])  # a report deletes nothing

    cleaned = attachments_audit(tech, grace=timedelta(0), delete=True)
    assert (cleaned.deleted_objects, cleaned.deleted_rows) == (1, 1)
    assert objects(tech) == [first.storage_key]
    assert list(Attachment.objects.using(tech.alias).values_list("pk", flat=True)) == [first.pk]
    assert attachments_audit(tech, grace=timedelta(0)).clean
    assert attachments_audit(billing, grace=timedelta(0)).clean


def test_a_transfer_copies_the_files_and_deleting_the_source_removes_its_objects(
    tech, billing, django_capture_on_commit_callbacks
):
    agent = UserFactory(departments=[tech])
    source = create(tech, files(("photo.png", png_bytes())))
    with attachments_stored(tech, files(("note.txt", b"internal\n"))) as batch:
        ticket_update(
            department=tech,
            ticket_id=source.pk,
            expected_version=source.version,
            actor=Actor.from_user(agent),
            note="Moving this.",
            attachments=batch,
        )
    old_note = Message.objects.using(tech.alias).get()

    # What the transfer does: copy, then write the target rows in the target's transaction.
    with (
        attachments_transferred(source=tech, target=billing, ticket_id=source.pk) as moved,
        transaction.atomic(using=billing.alias),
    ):
        target = ticket_create(department=billing, **SENT)
        new_note = Message.objects.using(billing.alias).create(
            ticket=target, author_name=old_note.author_name, body=old_note.body
        )
        moved.record(ticket=target, messages={old_note.pk: new_note})
    with django_capture_on_commit_callbacks(using=tech.alias, execute=True):
        ticket_delete(department=tech, ticket_id=source.pk)

    rows = list(Attachment.objects.using(billing.alias).filter(ticket_id=target.pk))
    assert [(r.name, r.message_id, r.uploader_id) for r in rows] == [
        ("photo.png", None, None),
        ("note.txt", new_note.pk, agent.pk),
    ]
    assert read(billing, rows[1].storage_key) == b"internal\n"
    assert sorted(objects(billing)) == sorted(r.storage_key for r in rows)
    assert objects(tech) == []


def test_a_transfer_that_fails_leaves_no_copies(tech, billing):
    source = create(tech, files(("photo.png", png_bytes())))
    with (
        pytest.raises(RuntimeError),
        attachments_transferred(source=tech, target=billing, ticket_id=source.pk),
    ):
        raise RuntimeError("the target's transaction failed")
    assert objects(billing) == [] and len(objects(tech)) == 1
