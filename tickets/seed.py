"""Fast bulk generation of believable tickets, for demos and the dashboard benchmark.

Rows are generated in Python (references unique per department, made from its code) and written
in large batches: PostgreSQL ``COPY``, ``executemany`` elsewhere. Each ticket gets its "created"
event in one set-based statement afterwards, and the (status, priority) counts are rebuilt, so
the data looks exactly as if the services had written it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections, transaction

from departments.registry import Department
from tickets import search_index
from tickets.models import DONE_STATUSES, Status, Ticket, TicketEvent
from tickets.references import ALPHABET, RANDOM_LENGTH
from tickets.services import ticket_counts_rebuild

COLUMNS = (
    "reference",
    "customer_name",
    "customer_email",
    "customer_phone",
    "subject",
    "message",
    "status",
    "priority",
    "assignee_id",
    "created_at",
    "updated_at",
    "resolved_at",
    "version",
)
FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amara",
    "Anna",
    "Ben",
    "Carlos",
    "Chen",
    "Chloe",
    "Dan",
    "Dmitri",
    "Elena",
    "Emma",
    "Fatima",
    "Felix",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Ivan",
    "Jack",
    "Jade",
    "Jonas",
    "Kai",
    "Kenji",
    "Lara",
    "Leo",
    "Lina",
    "Luca",
    "Maya",
    "Mia",
    "Nadia",
    "Noah",
    "Olga",
    "Omar",
    "Priya",
    "Rafael",
    "Rosa",
    "Sam",
    "Sara",
    "Sofia",
    "Tariq",
    "Theo",
    "Uma",
    "Vera",
    "Wei",
    "Yara",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Abbott",
    "Adeyemi",
    "Bauer",
    "Becker",
    "Brown",
    "Castillo",
    "Chen",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Gupta",
    "Hansen",
    "Hughes",
    "Ivanova",
    "Jensen",
    "Kim",
    "Kowalski",
    "Lambert",
    "Larsen",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Murphy",
    "Nakamura",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Peters",
    "Quinn",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Smith",
    "Tanaka",
    "Torres",
    "Wagner",
    "Walsh",
    "Weber",
    "Wilson",
    "Wong",
    "Young",
    "Zhang",
]
DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "corp.example")
SUBJECTS = {
    "TEC": [
        "Cannot sign in after password change",
        "App crashes when uploading a photo",
        "Error 500 on the checkout page",
        "Two-factor code never arrives",
        "Sync stopped working on my phone",
        "Page loads very slowly",
        "Export to CSV is empty",
        "Notifications arrive twice",
    ],
    "BIL": [
        "Invoice shows the wrong amount",
        "Charged twice for one order",
        "Refund not received yet",
        "Change my billing address",
        "VAT number missing on invoice",
        "Card declined but money taken",
        "Cancel my subscription",
        "Question about my last statement",
    ],
    "PRD": [
        "Item arrived damaged",
        "Wrong size delivered",
        "When will this be back in stock?",
        "Missing part in the box",
        "Warranty claim for my device",
        "Product does not match the description",
        "Return label request",
        "Delivery is late",
    ],
}
GENERIC_SUBJECTS = [
    "Question about opening hours",
    "Where do I change my email address?",
    "Feature request: dark mode",
    "Great support last week, thank you",
    "Suggestion for the mobile app",
    "Complaint about a phone call",
    "How do I delete my account?",
    "Partnership enquiry",
]
STATUS_WEIGHTS = {
    Status.NEW: 10,
    Status.OPEN: 15,
    Status.PENDING: 10,
    Status.RESOLVED: 30,
    Status.CLOSED: 35,
}
PRIORITY_WEIGHTS = {1: 25, 2: 50, 3: 20, 4: 5}
MESSAGE = (
    "Hello,\n\nI am writing about {subject}. Could you please look into it?\n\nThank you,\n{name}"
)


@dataclass(frozen=True)
class SeedResult:
    created: dict[str, int]  # department slug -> tickets added
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.created.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


def seed_tickets(
    *,
    departments: list[Department],
    total: int,
    seed: int | None = None,
    batch_size: int = 20_000,
    span_days: int = 730,
    assignee_ids: dict[str, list[int]] | None = None,
    now: datetime | None = None,
    progress: Callable[[Department, int], None] | None = None,
    jobs: int = 1,
) -> SeedResult:
    """Add ``total`` tickets spread evenly over ``departments``; returns how many went where.

    ``assignee_ids`` maps a department slug to staff ids to assign tickets to (default: none,
    so every ticket starts unassigned unless staff are given). ``jobs`` > 1 seeds that many
    departments at once, each in its own transaction on its own connection: while one thread
    generates rows in Python, another's database builds indexes, so two cores both work. The
    data is the same for any ``jobs``: each department's generator is seeded up front.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    share, extra = divmod(total, len(departments)) if departments else (0, 0)
    tasks = []
    for index, department in enumerate(departments):
        count = share + (1 if index < extra else 0)
        staff = (assignee_ids or {}).get(department.slug, [])
        department_rng = random.Random(rng.random())

        def task(department=department, count=count, staff=staff, department_rng=department_rng):
            return _seed_department(
                department,
                count,
                department_rng,
                batch_size=batch_size,
                start=now - timedelta(days=span_days),
                end=now,
                staff=staff,
                progress=progress,
            )

        tasks.append((department, task))
    if jobs <= 1 or len(tasks) <= 1:
        created = {department.slug: task() for department, task in tasks}
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {department.slug: pool.submit(_in_thread, task) for department, task in tasks}
            created = {slug: future.result() for slug, future in futures.items()}
    return SeedResult(created, time.perf_counter() - started)


def _in_thread(task: Callable[[], int]) -> int:
    """Run ``task`` on a pool thread, closing the connections it opened there."""
    try:
        return task()
    finally:
        connections.close_all()


def _seed_department(
    department: Department,
    count: int,
    rng: random.Random,
    *,
    batch_size: int,
    start: datetime,
    end: datetime,
    staff: list[int],
    progress,
) -> int:
    if count <= 0:
        return 0
    alias = department.alias
    connection = connections[alias]
    taken = set(Ticket.objects.using(alias).values_list("reference", flat=True))
    first_new_id = Ticket.objects.using(alias).order_by("-id").values_list("id", flat=True)[:1]
    after_id = next(iter(first_new_id), 0)
    rows = _rows(
        department,
        count,
        rng,
        start=start.replace(tzinfo=None),
        end=end.replace(tzinfo=None),
        staff=staff,
        taken=taken,
        as_text=connection.vendor != "postgresql",
    )
    done = 0
    with transaction.atomic(using=alias):
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                # Random-order indexes (reference, email, name) insert fast when they fit in
                # the page cache; this connection-level setting lasts until it closes.
                cursor.execute("PRAGMA cache_size = -262144")  # 256 MiB
        # Into an empty table, building the secondary indexes once afterwards is several
        # times faster than maintaining them row by row.
        dropped = _drop_secondary_indexes(connection) if not taken else []
        # Likewise the SQLite search index: no per-row triggers, one rebuild at the end.
        triggers = _drop_search_triggers(connection) if not taken else []
        while done < count:
            chunk = [next(rows) for _ in range(min(batch_size, count - done))]
            _write(connection, chunk)
            done += len(chunk)
            if progress:
                progress(department, done)
        _recreate_indexes(connection, dropped)
        _restore_search_triggers(connection, triggers)
        _add_created_events(connection, after_id)
    ticket_counts_rebuild(department=department)
    return done


def _drop_secondary_indexes(connection) -> list[str]:
    """Drop the ticket table's non-unique indexes; returns the SQL that recreates them.

    SQLite and PostgreSQL keep each index's CREATE statement; MySQL/MariaDB keep indexes as
    they are (its bulk insert path is executemany either way). Runs inside the load's
    transaction, so a failed load restores them.
    """
    table = Ticket._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql IS NOT NULL AND sql NOT LIKE %s",
                [table, "CREATE UNIQUE%"],
            )
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() AND tablename = %s "
                "AND indexdef NOT LIKE %s",
                [table, "CREATE UNIQUE%"],
            )
        else:
            return []
        found = cursor.fetchall()
        for name, _sql in found:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    return [sql for _name, sql in found]


def _drop_search_triggers(connection) -> list[str]:
    """Drop the triggers that keep the SQLite FTS table in sync; returns their SQL."""
    if connection.vendor != "sqlite":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
            [Ticket._meta.db_table],
        )
        found = cursor.fetchall()
        for name, _sql in found:
            cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
    return [sql for _name, sql in found]


def _restore_search_triggers(connection, statements: list[str]) -> None:
    if not statements:
        return
    with connection.cursor() as cursor:
        search_index.sqlite_rebuild(cursor)
        for sql in statements:
            cursor.execute(sql)


def _recreate_indexes(connection, statements: list[str]) -> None:
    if not statements:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for sql in statements:
            cursor.execute(sql)


def _write(connection, chunk: list[tuple]) -> None:
    table = connection.ops.quote_name(Ticket._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in chunk:
                    copy.write_row((*row[:9], *(_utc(v) for v in row[9:12]), row[12]))
        else:
            placeholders = ", ".join(["%s"] * len(COLUMNS))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", chunk)


def _add_created_events(connection, after_id: int) -> None:
    """One "created" event per new ticket, as ``ticket_create`` writes, in one statement."""
    q = connection.ops.quote_name
    events = q(TicketEvent._meta.db_table)
    tickets = q(Ticket._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {events} ({q('ticket_id')}, {q('kind')}, {q('actor_id')}, "
            f"{q('actor_name')}, {q('old_value')}, {q('new_value')}, {q('created_at')}) "
            f"SELECT {q('id')}, %s, NULL, %s, %s, %s, {q('created_at')} FROM {tickets} "
            f"WHERE {q('id')} > %s",
            [TicketEvent.Kind.CREATED, "Customer", "", Status.NEW, after_id],
        )


def _rows(
    department: Department,
    count: int,
    rng: random.Random,
    *,
    start: datetime,
    end: datetime,
    staff: list[int],
    taken: set[str],
    as_text: bool,
) -> Iterator[tuple]:
    # Pools drawn once, then picked by index: generation must keep up with COPY.
    people = []
    for _ in range(min(count, 4000)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        number = rng.randint(1, 99)
        domain = rng.choice(DOMAINS)
        people.append(
            (first, f"{first} {last}", f"{first.lower()}.{last.lower()}{number}@{domain}")
        )
    subjects = SUBJECTS.get(department.code, GENERIC_SUBJECTS) + GENERIC_SUBJECTS[:3]
    pool = [
        (subject, MESSAGE.format(subject=subject.lower(), name=first), first)
        for subject in subjects
        for first in FIRST_NAMES
    ]
    texts = {(subject, first): message for subject, message, first in pool}
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=count)
    priorities = rng.choices(
        list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()), k=count
    )
    # References draw from their own generator: redrawing a clash must not shift the rest.
    reference_rng = random.Random(rng.random())
    span = (end - start).total_seconds()
    # Ids grow with creation time, as they do for real tickets.
    offsets = sorted(rng.random() * span for _ in range(count))
    random_ = rng.random
    n_people, n_subjects, n_staff = len(people), len(subjects), len(staff)
    twenty_days = 86400.0 * 20
    for i in range(count):
        reference = _reference(department.code, reference_rng, taken)
        first, name, email = people[int(random_() * n_people)]
        subject = subjects[int(random_() * n_subjects)]
        status = statuses[i]
        created = start + timedelta(seconds=offsets[i])
        if status == Status.NEW:
            updated, assignee, version = created, None, 1
        else:
            updated = min(end, created + timedelta(seconds=random_() * twenty_days))
            assignee = staff[int(random_() * n_staff)] if n_staff and random_() < 0.85 else None
            version = 2 + int(random_() * 5)
        resolved = updated if status in DONE_STATUSES else None
        if as_text:
            # What Django stores for an aware UTC datetime on SQLite/MySQL, without the
            # per-value conversion cost.
            created, updated = str(created), str(updated)
            resolved = str(resolved) if resolved else None
        yield (
            reference,
            name,
            email,
            "",
            subject,
            texts[(subject, first)],
            status,
            priorities[i],
            assignee,
            created,
            updated,
            resolved,
            version,
        )


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value else None


def _reference(code: str, rng: random.Random, taken: set[str]) -> str:
    while True:
        reference = f"{code}-{''.join(rng.choices(ALPHABET, k=RANDOM_LENGTH))}"
        if reference not in taken:
            taken.add(reference)
            return reference
