"""Files offered for storing, checked before any byte is stored: type detected from the
content and on the allowed list (``HELPDESK_ATTACHMENT_TYPES``), not empty, and within the
limits per file, per message and in number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.template.defaultfilters import filesizeformat

from tickets.attachments.detection import detect
from tickets.attachments.names import safe_name, storable_original

MSG_EMPTY = "“%(name)s” is empty (0 bytes): choose the file itself, not a shortcut to it."
MSG_TYPE = "“%(name)s” is %(what)s, which we do not accept. We accept %(accepted)s."
MSG_FILE_TOO_BIG = "“%(name)s” is %(size)s: each file must be %(limit)s or smaller."
MSG_TOTAL_TOO_BIG = "These files come to %(size)s together: the limit is %(limit)s per message."
MSG_TOO_MANY = "You chose %(count)s files: attach %(limit)s or fewer to one message."

_CHUNK = 64 * 1024
_ACCEPTED_WORDS = {
    "image/png": "images",
    "image/jpeg": "images",
    "image/gif": "images",
    "image/webp": "images",
    "application/pdf": "PDF",
    "text/plain": "text",
    "text/csv": "CSV",
    "application/zip": "ZIP",
}


@dataclass(frozen=True)
class Upload:
    """One checked file, ready to store: its bytes (``file``, binary and seekable) and what
    its row will say."""

    file: BinaryIO
    original_name: str
    name: str
    content_type: str
    size: int
    sha256: str

    @property
    def identity(self) -> tuple[str, str]:
        """What makes two submissions' files the same (see ``submission_key``)."""
        return (self.name, self.sha256)


def accepted_types_text() -> str:
    words: list[str] = []
    for kind in settings.HELPDESK_ATTACHMENT_TYPES:
        office = any(part in kind for part in ("officedocument", "opendocument", "ms-", "msword"))
        word = _ACCEPTED_WORDS.get(kind, "office documents" if office else kind)
        if word not in words:
            words.append(word)
    return ", ".join(words) or "no files"


def limits_text() -> str:
    """The limits as a hint next to the field."""
    return (
        f"Up to {settings.HELPDESK_ATTACHMENT_MAX_FILES} files, "
        f"{filesizeformat(settings.HELPDESK_ATTACHMENT_MAX_FILE_BYTES)} each and "
        f"{filesizeformat(settings.HELPDESK_ATTACHMENT_MAX_MESSAGE_BYTES)} in all: "
        f"{accepted_types_text()}."
    )


def _size_of(file: BinaryIO) -> int:
    size = getattr(file, "size", None)
    if size is not None:
        return int(size)
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    return size


def _digest(file: BinaryIO) -> tuple[str, int]:
    file.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := file.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    return digest.hexdigest(), size


def check_file(file: BinaryIO, name: str) -> Upload:
    """``file`` checked on its own (emptiness, size, type); raises ``ValidationError``."""
    shown = safe_name(name)
    limit = settings.HELPDESK_ATTACHMENT_MAX_FILE_BYTES
    # The size the upload handler counted, checked before reading the bytes.
    size = _size_of(file)
    if size > limit:
        raise ValidationError(
            MSG_FILE_TOO_BIG,
            code="file_too_big",
            params={"name": shown, "size": filesizeformat(size), "limit": filesizeformat(limit)},
        )
    if size == 0:
        raise ValidationError(MSG_EMPTY, code="empty", params={"name": shown})
    detected = detect(file, name=name)
    if detected.content_type not in settings.HELPDESK_ATTACHMENT_TYPES:
        raise ValidationError(
            MSG_TYPE,
            code="type",
            params={"name": shown, "what": detected.description, "accepted": accepted_types_text()},
        )
    sha256, size = _digest(file)
    return Upload(
        file=file,
        original_name=storable_original(name),
        name=safe_name(name, content_type=detected.content_type),
        content_type=detected.content_type,
        size=size,
        sha256=sha256,
    )


def check_files(files: Sequence[tuple[BinaryIO, str]]) -> list[Upload]:
    """Every file checked, then the message's limits; raises one ``ValidationError`` listing
    every problem (so the person fixes them all at once)."""
    errors: list[ValidationError] = []
    limit = settings.HELPDESK_ATTACHMENT_MAX_FILES
    if len(files) > limit:
        raise ValidationError(
            MSG_TOO_MANY, code="too_many", params={"count": len(files), "limit": limit}
        )
    uploads = []
    for file, name in files:
        try:
            uploads.append(check_file(file, name))
        except ValidationError as exc:
            errors.append(exc)
    total = sum(_size_of(file) for file, _ in files)
    total_limit = settings.HELPDESK_ATTACHMENT_MAX_MESSAGE_BYTES
    if total > total_limit:
        errors.append(
            ValidationError(
                MSG_TOTAL_TOO_BIG,
                code="total_too_big",
                params={"size": filesizeformat(total), "limit": filesizeformat(total_limit)},
            )
        )
    if errors:
        raise ValidationError(errors)
    return uploads


def _short_reason(error: ValidationError) -> str:
    params = error.params or {}
    if error.code == "type":
        return f"{params['what']}, which we do not accept"
    if error.code == "file_too_big":
        return f"larger than {params['limit']}"
    return "it is empty"


def check_email_files(files: Iterable[tuple[bytes, str]]) -> tuple[list[Upload], list[str]]:
    """An email's files: those within the limits, in order, and a line for each one that was
    not kept (a mail is never refused for its attachments)."""
    kept: list[Upload] = []
    dropped: list[str] = []
    total = 0
    for content, name in files:
        shown = safe_name(name)
        if len(kept) >= settings.HELPDESK_ATTACHMENT_MAX_FILES:
            dropped.append(f"[{shown} not kept: more than {len(kept)} files]")
            continue
        try:
            upload = check_file(ContentFile(content, name=shown), name)
        except ValidationError as exc:
            dropped.append(f"[{shown} not kept: {_short_reason(exc)}]")
            continue
        if total + upload.size > settings.HELPDESK_ATTACHMENT_MAX_MESSAGE_BYTES:
            dropped.append(f"[{shown} not kept: the message's files would be too large]")
            continue
        total += upload.size
        kept.append(upload)
    return kept, dropped
