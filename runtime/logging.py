"""JSON log lines for production, with credentials scrubbed from every message.

Department failures are logged with ``extra={"department": slug, "error": ...}``; driver error
texts can embed connection strings, so passwords are removed before anything is written.
"""

from __future__ import annotations

import json
import logging
import re

_SCRUB = [
    # scheme://user:password@host
    (re.compile(r"(?P<head>\w+://[^:/@\s]+:)[^@\s]+@"), r"\g<head>***@"),
    # password=... / password: '...' in libpq and MySQL messages
    (re.compile(r"(?i)(?P<head>password\s*[=:]\s*)('[^']*'|\"[^\"]*\"|\S+)"), r"\g<head>***"),
]
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def scrub(text: str) -> str:
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)
