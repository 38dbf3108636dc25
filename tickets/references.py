"""Ticket references such as ``BIL-7K3F9Q``: the department code, a dash, six random characters.

The code alone finds the department database, so a lookup by reference never scans departments.
The alphabet leaves out characters people confuse when reading a reference over the phone
(0/O, 1/I/L, U/V); 29^6 gives about 600 million references per department.
"""

from __future__ import annotations

import re
import secrets

from departments.registry import Department, UnknownDepartment, registry

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
RANDOM_LENGTH = 6
_SHAPE = re.compile(rf"^(?P<code>[A-Z][A-Z0-9]{{1,5}})-?(?P<body>[{ALPHABET}]{{{RANDOM_LENGTH}}})$")


class InvalidReference(ValueError):
    """The text is not shaped like a ticket reference of a configured department."""


def new_reference(department: Department) -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{department.code}-{body}"


def normalize_reference(text: str) -> str:
    """Upper-case, trim, and restore the dash: `` bil7k3f9q`` -> ``BIL-7K3F9Q``."""
    cleaned = re.sub(r"\s+", "", text or "").upper()
    match = _SHAPE.match(cleaned)
    if not match:
        raise InvalidReference(text)
    return f"{match['code']}-{match['body']}"


def department_for_reference(text: str) -> tuple[Department, str]:
    """The department a reference belongs to, and the reference in its stored form."""
    reference = normalize_reference(text)
    code = reference.split("-", 1)[0]
    try:
        return registry().for_code(code), reference
    except UnknownDepartment:
        raise InvalidReference(text) from None
