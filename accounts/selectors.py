"""Reads of staff users (system database) that other apps need."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet

from accounts.models import NotificationSettings, Role, User
from departments.registry import Department


def staff_for_department(department: Department) -> QuerySet[User]:
    """Active people who may work this department's tickets: its members and all superadmins."""
    return _staff_of([department.slug])


def _staff_of(slugs: Iterable[str]) -> QuerySet[User]:
    """Active members of any of ``slugs`` and every active superadmin, by name."""
    return (
        User.objects.filter(is_active=True)
        .filter(Q(role=Role.SUPERADMIN) | Q(memberships__department__in=list(slugs)))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def users_by_id(ids: Iterable[int | None]) -> dict[int, User]:
    """Users for the ids department rows store (no foreign key can cross databases)."""
    wanted = {i for i in ids if i is not None}
    return User.objects.in_bulk(wanted) if wanted else {}


# Every save or delete of a user or a membership changes this value in the shared cache; a
# process's copy of the assignable staff is good for as long as the value it was read under.
STAFF_VERSION_KEY = "accounts:staff-version"
_MEMO_LIMIT = 256
_assignable: dict[tuple[str, ...], tuple[str, list[tuple[int, str]]]] = {}


def assignable_staff(slugs: Iterable[str], *, version: str | None = None) -> list[tuple[int, str]]:
    """(id, display name) of the active staff who may hold tickets in any of ``slugs``: their
    members and every superadmin, by name.

    Every dashboard page offers these in its Assignee filter. They change only when staff do, so
    each process keeps them and checks one version value in the cache per call instead of
    joining the staff tables per page. ``version``: the staff version this request already read
    (``StaffModelBackend`` leaves it on the signed-in user); None reads it here.
    """
    key = tuple(sorted(set(slugs)))
    if version is None:
        version = staff_version()
    kept = _assignable.get(key)
    if kept is not None and version is not None and kept[0] == version:
        return kept[1]
    staff = [(user.pk, user.get_full_name() or user.get_username()) for user in _staff_of(key)]
    if version is not None:
        if len(_assignable) >= _MEMO_LIMIT:
            _assignable.clear()
        _assignable[key] = (version, staff)
    return staff


def staff_version() -> str | None:
    """The current staff version: what a process kept under another one may be stale."""
    version = cache.get(STAFF_VERSION_KEY)
    if version is None:
        # Never set, or the cache lost it: whatever a process kept may predate a change.
        cache.add(STAFF_VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(STAFF_VERSION_KEY)
    return version


def staff_changed(**kwargs) -> None:
    """Signal receiver: a user or membership changed, so every process's kept staff is stale.

    Changed now and again after the commit: a page read between the two may have kept the
    rows from before the commit under the first new value.
    """
    _new_staff_version()
    transaction.on_commit(_new_staff_version, using="default")


def _new_staff_version() -> None:
    cache.set(STAFF_VERSION_KEY, uuid.uuid4().hex, None)


# Outbox kinds for staff -> the setting that must be on for the email to go out.
NOTIFICATION_FIELDS = {
    "new_ticket": "new_ticket",
    "assigned": "assigned_to_me",
    "customer_replied": "customer_replied",
}


def notification_recipients(
    department: Department, kind: str, staff_user_id: int | None = None
) -> list[str]:
    """The addresses a staff notification goes to, as settings are now: ``staff_user_id``
    alone (if still active and allowed in the department), or for a new ticket every active
    member of the department (superadmins included) who opted in. Staff without an email
    address, or with email off, get nothing."""
    field = NOTIFICATION_FIELDS[kind]
    default = NotificationSettings._meta.get_field(field).default
    people = staff_for_department(department)
    if staff_user_id is not None:
        people = people.filter(pk=staff_user_id)
    people = people.exclude(email="").select_related("notifications")
    recipients = []
    for user in people:
        settings_ = getattr(user, "notifications", None)
        wanted = (
            settings_.email_enabled and getattr(settings_, field)
            if settings_ is not None
            else default
        )
        if wanted:
            recipients.append(user.email)
    return sorted(set(recipients))
