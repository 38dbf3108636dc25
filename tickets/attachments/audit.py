"""Stored objects and rows that lost each other, per department (``clean_attachments``).

An object without a row is what a process that died between storing the bytes and committing
its transaction leaves (or a deletion whose cleanup failed); a row without an object is a file
lost from the storage. Objects younger than the grace period are left alone: their
transaction may still be running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from departments.errors import department_errors
from departments.registry import Department
from tickets.attachments.batch import delete_objects
from tickets.attachments.storage import storage_for, stored_keys
from tickets.models import Attachment


@dataclass
class AuditResult:
    department: Department
    objects: int = 0  # stored objects seen
    rows: int = 0  # attachment rows seen
    orphan_objects: list[str] = field(default_factory=list)  # keys with no row
    missing_objects: list[str] = field(default_factory=list)  # rows' keys with no object
    too_young: int = 0  # objects without a row yet, inside the grace period
    deleted_objects: int = 0
    deleted_rows: int = 0
    failed: list[str] = field(default_factory=list)  # keys that could not be deleted
    # Why rows without their object were not deleted (the storage looks wrong, not the rows).
    rows_kept: str = ""

    @property
    def clean(self) -> bool:
        return not (self.orphan_objects or self.missing_objects)


def _known_keys(department: Department, keys: list[str]) -> set[str]:
    return set(
        Attachment.objects.using(department.alias)
        .filter(storage_key__in=keys)
        .values_list("storage_key", flat=True)
    )


def attachments_audit(
    department: Department, *, delete: bool = False, grace: timedelta | None = None
) -> AuditResult:
    """Compare ``department``'s storage with its rows; with ``delete``, remove orphan objects
    and rows whose object is gone. Raises ``DepartmentUnavailable``; storage errors propagate."""
    if grace is None:
        grace = timedelta(seconds=settings.HELPDESK_ATTACHMENT_ORPHAN_GRACE_SECONDS)
    result = AuditResult(department)
    storage = storage_for(department)
    alias = department.alias
    # Rows first, then objects: a file stored and committed meanwhile is then seen as an
    # object (young, so left alone), never as a row without its object.
    with department_errors(department, "read its attachments"):
        rows = set(Attachment.objects.using(alias).values_list("storage_key", flat=True))
    result.rows = len(rows)
    listed: set[str] = set()
    candidates: list[str] = []
    for key in stored_keys(storage):
        listed.add(key)
        if key not in rows:
            candidates.append(key)
    result.objects = len(listed)
    cutoff = timezone.now() - grace
    for key in candidates:
        if storage.get_modified_time(key) > cutoff:
            result.too_young += 1
        else:
            result.orphan_objects.append(key)
    # A row read above may have been deleted (with its object) since: check again, one by one.
    gone = [key for key in sorted(rows - listed) if not storage.exists(key)]
    with department_errors(department, "read its attachments"):
        result.missing_objects = sorted(_known_keys(department, gone))
        # Committed since the rows were read: not orphans after all.
        adopted = _known_keys(department, result.orphan_objects)
    result.orphan_objects = [key for key in result.orphan_objects if key not in adopted]
    if delete:
        result.failed = delete_objects(department, result.orphan_objects)
        result.deleted_objects = len(result.orphan_objects) - len(result.failed)
        result.rows_kept = _storage_looks_wrong(result)
        if not result.rows_kept:
            with department_errors(department, "remove rows of lost files"):
                result.deleted_rows, _ = (
                    Attachment.objects.using(alias)
                    .filter(storage_key__in=result.missing_objects)
                    .delete()
                )
    return result


def _storage_looks_wrong(result: AuditResult) -> str:
    """Why deleting the rows without an object would be a mistake, or ``""``.

    An unmounted volume, a wrong folder or bucket, or a renamed department lists no objects at
    all (or few): every row then looks lost, and deleting them would throw away what a fixed
    configuration would find again. Rows are deleted only when most objects are there.
    """
    missing = len(result.missing_objects)
    if not missing:
        return ""
    if result.objects == 0:
        return "the storage lists no objects at all: check its configuration"
    if missing * 2 > result.rows:
        return f"{missing:,} of {result.rows:,} rows have no object: check the storage"
    return ""
