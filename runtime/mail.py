"""The embedded email transport: each message an ``.eml`` file (RFC 822, as sent), so `make run`
needs no mail server. Open one with any mail program, or read it as text."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend


class EmlFileBackend(BaseEmailBackend):
    def __init__(self, *, file_path: str | os.PathLike | None = None, **kwargs):
        super().__init__(**kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            data = message.message().as_bytes(linesep="\r\n")
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
            final = self.directory / name
            temporary = self.directory / f".{name}.tmp"
            try:
                # Written aside, then renamed: a reader never sees half a message.
                temporary.write_bytes(data)
                temporary.replace(final)
            except OSError:
                temporary.unlink(missing_ok=True)
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent
