"""Sending the outbox: claim a batch of one department's due rows, send them over one
connection, mark them sent or schedule the next attempt.

- **Claim.** A row is taken by writing a random ``claim`` and a lease (``claimed_until``); other
  senders skip leased rows, and every later write names the claim, so only its holder can mark
  the row sent. Where the backend has ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL, MariaDB
  10.6+) candidates are locked that way, so concurrent senders pass each other instead of
  queueing; elsewhere (SQLite) one conditional ``UPDATE`` claims them, which SQLite serialises.
- **At least once.** A row is marked sent after the mail server accepted it. A sender that dies
  in between leaves a leased row that comes back when the lease runs out and is sent again with
  the same Message-ID, which receivers use to drop the duplicate. Nothing is lost.
- **Retries.** A failed attempt waits ``backoff(attempts)`` (30 s doubling, at most an hour);
  after ``HELPDESK_OUTBOX_MAX_ATTEMPTS`` the row is ``failed`` and waits for a person
  (``outbox_retry``, the failed-mail admin page).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.selectors import notification_recipients
from departments.errors import DepartmentUnavailable, department_errors
from departments.fanout.dialects import dialect_of
from departments.registry import Department, all_departments
from tickets.mail.compose import NoRecipients, build_messages
from tickets.models import OutboxEmail

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
State = OutboxEmail.State

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
DEFAULT_BATCH = 100
# Rows marked sent per UPDATE: fewer round trips, and at most this many resent after a crash.
MARK_SENT_GROUP = 20
NO_RECIPIENTS = "no recipients: nobody is to receive this notification (nothing to send)"
_ERROR_LENGTH = 2000


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def lease() -> timedelta:
    return timedelta(seconds=settings.HELPDESK_OUTBOX_LEASE_SECONDS)


def _lease_margin() -> timedelta:
    # Stop sending a batch while this much of the lease is left: one more message (connect,
    # several commands, each up to EMAIL_TIMEOUT) must end before another sender may take it.
    return timedelta(seconds=3 * (settings.EMAIL_TIMEOUT or 20))


@dataclass
class BatchResult:
    department: Department
    claimed: int = 0
    sent: int = 0
    retrying: int = 0  # failed attempts that will be tried again
    failed: int = 0  # gave up: state failed
    no_recipients: int = 0
    error: str = ""  # the department's database could not be read or written

    def add(self, other: BatchResult) -> None:
        for name in ("claimed", "sent", "retrying", "failed", "no_recipients"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.error = other.error or self.error


@dataclass
class _Failure:
    row: OutboxEmail
    error: str


@dataclass
class _Batch:
    department: Department
    token: str
    rows: list[OutboxEmail]
    until: datetime
    sent: list[int] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    no_recipients: list[int] = field(default_factory=list)


def _due(alias: str, now: datetime):
    return (
        OutboxEmail.objects.using(alias)
        .filter(state=State.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .order_by("next_attempt_at", "id")
    )


def claim_due(department: Department, *, now: datetime, limit: int) -> _Batch:
    """Lease up to ``limit`` due rows to a new claim and return them."""
    alias = department.alias
    token = uuid.uuid4().hex
    until = now + lease()
    outbox = OutboxEmail.objects.using(alias)
    if connections[alias].features.has_select_for_update_skip_locked:
        with transaction.atomic(using=alias):
            ids = list(
                _due(alias, now)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:limit]
            )
            if ids:
                outbox.filter(pk__in=ids).update(claim=token, claimed_until=until)
    else:
        # No row locks to skip (SQLite): the UPDATE repeats the due check, so a row another
        # sender claimed between the read and the write is simply not ours (compare-and-set;
        # SQLite runs one write at a time).
        ids = list(_due(alias, now).values_list("pk", flat=True)[:limit])
        if ids:
            _due(alias, now).filter(pk__in=ids).order_by().update(claim=token, claimed_until=until)
    rows = list(outbox.filter(claim=token).order_by("next_attempt_at", "id"))
    return _Batch(department=department, token=token, rows=rows, until=until)


def _mark_sent(batch: _Batch, ids: list[int], now: datetime, note: str = "") -> None:
    if not ids:
        return
    OutboxEmail.objects.using(batch.department.alias).filter(pk__in=ids, claim=batch.token).update(
        state=State.SENT,
        sent_at=now,
        attempts=F("attempts") + 1,
        claim="",
        claimed_until=None,
        last_error=note,
    )


def _record_failures(batch: _Batch, now: datetime) -> tuple[int, int]:
    """Count each failure as an attempt; returns (retrying, failed)."""
    max_attempts = settings.HELPDESK_OUTBOX_MAX_ATTEMPTS
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for failure in batch.failures:
        groups[(failure.row.attempts + 1, failure.error[:_ERROR_LENGTH])].append(failure.row.pk)
    retrying = failed = 0
    outbox = OutboxEmail.objects.using(batch.department.alias)
    for (attempts, error), ids in groups.items():
        gave_up = attempts >= max_attempts
        outbox.filter(pk__in=ids, claim=batch.token).update(
            attempts=attempts,
            state=State.FAILED if gave_up else State.PENDING,
            next_attempt_at=now + backoff(attempts),
            claim="",
            claimed_until=None,
            last_error=error,
        )
        if gave_up:
            failed += len(ids)
        else:
            retrying += len(ids)
    return retrying, failed


def _release(batch: _Batch, ids: list[int]) -> None:
    """Give rows back untried (the lease is nearly over): due again at once, no attempt used."""
    OutboxEmail.objects.using(batch.department.alias).filter(pk__in=ids, claim=batch.token).update(
        claim="", claimed_until=None
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _recipient_resolver(department: Department) -> Callable[[OutboxEmail], list[str]]:
    """Staff recipients as settings are now, read once per (kind, person) per batch."""
    known: dict[tuple[str, int | None], list[str]] = {}

    def resolve(row: OutboxEmail) -> list[str]:
        key = (row.kind, row.staff_user_id)
        if key not in known:
            known[key] = notification_recipients(department, row.kind, row.staff_user_id)
        return known[key]

    return resolve


def send_batch(batch: _Batch, *, clock: Clock) -> None:
    """Send the batch's rows over one connection; failures are collected, never raised."""
    department = batch.department
    resolve = _recipient_resolver(department)
    connection = get_connection(fail_silently=False)
    # Opened at the first message there is to send, once per batch; a server that refuses it
    # (down) fails the batch's remaining messages without trying each.
    opened, refused = False, ""
    unsent: list[int] = []
    try:
        for index, row in enumerate(batch.rows):
            if clock() >= batch.until - _lease_margin():
                unsent = [r.pk for r in batch.rows[index:]]
                break
            try:
                messages = build_messages(row, department, staff_recipients=resolve)
            except NoRecipients:
                batch.no_recipients.append(row.pk)
                continue
            except Exception as exc:  # a template, URL or system-database problem: this row
                logger.exception("outbox: cannot build %s", row.message_id)
                batch.failures.append(_Failure(row, _describe(exc)))
                continue
            if not opened and not refused:
                try:
                    connection.open()
                    opened = True
                except Exception as exc:
                    refused = _describe(exc)
                    logger.warning("outbox: cannot reach the mail server", extra={"error": refused})
            if refused:
                batch.failures.append(_Failure(row, refused))
                continue
            try:
                # The row is sent when all its emails are: a failure sends them all again,
                # each with its own stable Message-ID.
                if connection.send_messages(messages) != len(messages):
                    raise RuntimeError("the email backend did not send every message")
            except Exception as exc:
                batch.failures.append(_Failure(row, _describe(exc)))
                # The connection may be broken (dropped, timed out): the next message gets a
                # fresh one rather than failing on the old one.
                connection.close()
                opened = False
                continue
            batch.sent.append(row.pk)
            if len(batch.sent) % MARK_SENT_GROUP == 0:
                _mark_sent(batch, batch.sent[-MARK_SENT_GROUP:], clock())
    finally:
        connection.close()
    if unsent:
        _release(batch, unsent)


# How long one outbox statement may take. The worker goes through departments one by one: a
# department whose database holds a lock for minutes (a migration, a stuck transaction) must
# fail its own pass, not hold up every other department's mail behind it.
STATEMENT_SECONDS = 10


def _bound_statements(department: Department) -> None:
    """Give this department's connection a server-side statement timeout, once per session
    (the dialect says how; SQLite has none and needs none: its busy timeout bounds waits)."""
    connection = connections[department.alias]
    connection.ensure_connection()
    session = connection.connection
    if getattr(connection, "_outbox_bounded", None) is session:
        return
    statement = dialect_of(connection).statement_timeout_sql(STATEMENT_SECONDS)
    if statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(*statement)
    connection._outbox_bounded = session


def deliver_batch(
    department: Department, *, clock: Clock = timezone.now, batch_size: int = DEFAULT_BATCH
) -> BatchResult:
    """Claim and send one batch of ``department``'s due mail.

    Raises :class:`DepartmentUnavailable` when its database cannot be read or written; rows it
    had claimed by then come back when their lease runs out."""
    result = BatchResult(department)
    with department_errors(department, "deliver its email"):
        _bound_statements(department)
        batch = claim_due(department, now=clock(), limit=batch_size)
        result.claimed = len(batch.rows)
        if not batch.rows:
            return result
        try:
            send_batch(batch, clock=clock)
        finally:
            # Whatever happened, what was sent is recorded (the last, partial group).
            done = len(batch.sent) - len(batch.sent) % MARK_SENT_GROUP
            _mark_sent(batch, batch.sent[done:], clock())
        _mark_sent(batch, batch.no_recipients, clock(), note=NO_RECIPIENTS)
        result.retrying, result.failed = _record_failures(batch, clock())
    result.sent = len(batch.sent)
    result.no_recipients = len(batch.no_recipients)
    return result


def deliver_pass(
    departments: Iterable[Department] | None = None,
    *,
    clock: Clock = timezone.now,
    batch_size: int = DEFAULT_BATCH,
) -> list[BatchResult]:
    """One batch from every department in turn; a department that is down is logged and
    skipped, so it delays only its own mail."""
    results = []
    for department in all_departments() if departments is None else departments:
        try:
            results.append(deliver_batch(department, clock=clock, batch_size=batch_size))
        except DepartmentUnavailable as exc:
            logger.warning(
                "outbox: department database unavailable, its mail waits",
                extra={"department": department.slug, "error": _describe(exc.__cause__ or exc)},
            )
            # A dead connection is not reused on the next pass.
            connections[department.alias].close()
            results.append(BatchResult(department, error=_describe(exc.__cause__ or exc)))
    return results


def deliver_all(
    departments: Iterable[Department] | None = None,
    *,
    clock: Clock = timezone.now,
    batch_size: int = DEFAULT_BATCH,
) -> dict[str, BatchResult]:
    """Passes until nothing is due anywhere (``deliver_outbox --once``); totals per slug."""
    targets = list(all_departments() if departments is None else departments)
    totals = {d.slug: BatchResult(d) for d in targets}
    while True:
        results = deliver_pass(targets, clock=clock, batch_size=batch_size)
        for result in results:
            totals[result.department.slug].add(result)
        # A department whose batch was full may have more; errors end its turn for this call.
        targets = [r.department for r in results if r.claimed >= batch_size and not r.error]
        if not targets:
            return totals


def outbox_retry(*, department: Department, ids: Iterable[int], now: datetime | None = None) -> int:
    """Failed rows of ``department`` become due again with a fresh allowance of attempts."""
    with department_errors(department, "retry its email"):
        return (
            OutboxEmail.objects.using(department.alias)
            .filter(pk__in=list(ids), state=State.FAILED)
            .update(
                state=State.PENDING,
                attempts=0,
                next_attempt_at=now or timezone.now(),
                claim="",
                claimed_until=None,
            )
        )


def prune_sent(department: Department, *, now: datetime | None = None) -> int:
    """Delete ``department``'s sent rows older than ``HELPDESK_OUTBOX_KEEP_DAYS``; how many.

    A sent row keeps the text it sent (a reply, the customer's first message) only to be
    looked into for a while; kept for ever it would be personal data nobody reads, and a table
    that grows with every ticket. Failed and pending rows are never pruned.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.HELPDESK_OUTBOX_KEEP_DAYS)
    with department_errors(department, "prune its sent email"):
        deleted, _ = (
            OutboxEmail.objects.using(department.alias)
            .filter(state=State.SENT, sent_at__lt=cutoff)
            .delete()
        )
    return deleted
