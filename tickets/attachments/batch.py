"""Storing a message's files with the transaction that records them.

The bytes are stored first, outside any transaction (nothing slow runs while rows are locked);
the rows are written in the message's transaction (``AttachmentBatch.record``). When the block
that stored them ends, whatever the database does not know is deleted: all of it after an
exception, and after a normal end every object without a committed (or, inside a caller's
transaction, written) row, such as the files of a replayed submission. A process that dies in
between leaves objects without rows, which ``clean_attachments`` finds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from departments.errors import DATABASE_ERRORS
from departments.registry import Department
from tickets.attachments.storage import new_key, storage_for
from tickets.attachments.uploads import Upload
from tickets.models import Attachment, Message, Ticket

logger = logging.getLogger(__name__)


class AttachmentsUnavailable(Exception):
    """The department's file storage failed while storing; nothing of the message was kept."""

    def __init__(self, department: Department):
        super().__init__(f"{department.slug}: could not store attachments")
        self.department = department


@dataclass(frozen=True)
class StoredFile:
    upload: Upload
    key: str


class AttachmentBatch:
    """One message's files, stored in ``department``'s storage and waiting for their rows."""

    def __init__(self, department: Department, stored: Sequence[StoredFile]):
        self.department = department
        self.stored = list(stored)

    def __len__(self) -> int:
        return len(self.stored)

    @property
    def uploads(self) -> list[Upload]:
        return [item.upload for item in self.stored]

    def record(
        self,
        *,
        ticket: Ticket,
        message: Message | None,
        uploader_id: int | None,
        uploader_name: str,
        created_at: datetime,
    ) -> list[Attachment]:
        """The rows, written on the ticket's database (call it inside the message's
        transaction). ``message`` None: the ticket's first message."""
        rows = [
            Attachment(
                ticket=ticket,
                message=message,
                original_name=item.upload.original_name,
                name=item.upload.name,
                content_type=item.upload.content_type,
                size=item.upload.size,
                sha256=item.upload.sha256,
                storage_key=item.key,
                uploader_id=uploader_id,
                uploader_name=uploader_name[:150],
                created_at=created_at,
            )
            for item in self.stored
        ]
        return Attachment.objects.using(self.department.alias).bulk_create(rows)


def delete_objects(department: Department, keys: Iterable[str]) -> list[str]:
    """Delete stored objects, never raising: returns the keys that could not be deleted
    (``clean_attachments`` finds them later)."""
    storage = storage_for(department)
    failed = []
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # any storage failure: the object stays for clean_attachments
            logger.warning(
                "attachment object not deleted",
                exc_info=True,
                extra={"department": department.slug, "key": key},
            )
            failed.append(key)
    return failed


def delete_after_commit(department: Department, keys: Sequence[str]) -> None:
    """Delete objects once the transaction removing their rows commits (never if it rolls
    back). Call inside that transaction."""
    if keys:
        keys = list(keys)
        transaction.on_commit(
            lambda: delete_objects(department, keys), using=department.alias, robust=True
        )


def _store(department: Department, uploads: Sequence[Upload]) -> list[StoredFile]:
    storage = storage_for(department)
    stored: list[StoredFile] = []
    try:
        for upload in uploads:
            upload.file.seek(0)
            key = storage.save(new_key(), upload.file)
            stored.append(StoredFile(upload=upload, key=key))
    except Exception as exc:  # OSError, botocore errors, ...: the storage is not usable now
        logger.warning(
            "attachments not stored: storage failed",
            extra={"department": department.slug, "error": repr(exc)},
        )
        delete_objects(department, [item.key for item in stored])
        raise AttachmentsUnavailable(department) from exc
    return stored


def _unrecorded(department: Department, keys: list[str]) -> list[str]:
    known = set(
        Attachment.objects.using(department.alias)
        .filter(storage_key__in=keys)
        .values_list("storage_key", flat=True)
    )
    return [key for key in keys if key not in known]


@contextmanager
def attachments_stored(
    department: Department, uploads: Sequence[Upload]
) -> Iterator[AttachmentBatch]:
    """Store ``uploads`` now (raises ``AttachmentsUnavailable``, having stored nothing) and
    yield the batch whose ``record`` the block calls in its transaction. See the module."""
    if not uploads:
        yield AttachmentBatch(department, [])
        return
    batch = AttachmentBatch(department, _store(department, uploads))
    keys = [item.key for item in batch.stored]
    try:
        yield batch
    except BaseException:
        delete_objects(department, keys)
        raise
    try:
        orphans = _unrecorded(department, keys)
    except DATABASE_ERRORS:
        logger.warning(
            "could not check stored attachments; clean_attachments will",
            extra={"department": department.slug},
        )
        return
    delete_objects(department, orphans)
