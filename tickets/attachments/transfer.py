"""Moving a ticket's files to another department (for the ticket transfer).

The protocol, with the same guarantees as an upload: copy the bytes into the target's storage
before the target's transaction (``attachments_transferred``), write the rows there with the
new ticket and messages (``TransferredFiles.record``), and once that commits delete the source
ticket with ``ticket_delete``, which removes the source objects after its own commit. A failure
before the target commits removes the copies; a crash after it leaves the source objects to
``ticket_delete`` (or ``clean_attachments``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

from departments.errors import department_errors
from departments.registry import Department
from tickets.attachments.batch import AttachmentBatch, AttachmentsUnavailable, attachments_stored
from tickets.attachments.storage import storage_for
from tickets.attachments.uploads import Upload
from tickets.models import Attachment, Message, Ticket


class TransferredFiles:
    """The source rows and their copies in the target's storage, waiting for their rows."""

    def __init__(self, rows: list[Attachment], batch: AttachmentBatch):
        self.rows = rows
        self.batch = batch

    def record(self, *, ticket: Ticket, messages: Mapping[int, Message]) -> list[Attachment]:
        """Write the target rows (call inside the target's transaction). ``messages``: the
        source message id -> the target message it became."""
        made = []
        for row, stored in zip(self.rows, self.batch.stored, strict=True):
            single = AttachmentBatch(self.batch.department, [stored])
            made += single.record(
                ticket=ticket,
                message=messages[row.message_id] if row.message_id else None,
                uploader_id=row.uploader_id,
                uploader_name=row.uploader_name,
                created_at=row.created_at,
            )
        return made


@contextmanager
def attachments_transferred(
    *, source: Department, target: Department, ticket_id: int
) -> Iterator[TransferredFiles]:
    """Copy the files of ``source``'s ticket into ``target``'s storage for the block (see the
    module). Raises ``DepartmentUnavailable`` or ``AttachmentsUnavailable``."""
    with department_errors(source, "read this ticket's files"):
        rows = list(Attachment.objects.using(source.alias).filter(ticket_id=ticket_id))
    storage = storage_for(source)
    with ExitStack() as streams:
        try:
            uploads = [
                Upload(
                    file=streams.enter_context(storage.open(row.storage_key, "rb")),
                    original_name=row.original_name,
                    name=row.name,
                    content_type=row.content_type,
                    size=row.size,
                    sha256=row.sha256,
                )
                for row in rows
            ]
        except Exception as exc:  # the source storage failed or lost an object
            raise AttachmentsUnavailable(source) from exc
        with attachments_stored(target, uploads) as batch:
            yield TransferredFiles(rows, batch)
