"""The timestamptz reader gives exactly what Django's own loader gives."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import pytest

psycopg = pytest.importorskip("psycopg")

from django.db import connections  # noqa: E402
from django.db.backends.postgresql.psycopg_any import register_tzloader  # noqa: E402
from psycopg.postgres import types  # noqa: E402
from psycopg.pq import Format  # noqa: E402

from departments.timestamps import fast_loader  # noqa: E402

OID = types["timestamptz"].oid
TEXTS = [
    b"2026-11-22 06:31:00.123456+00",
    b"2026-11-22 06:31:00+00",
    b"2026-11-22 06:31:00.12+00",
    b"2000-02-29 23:59:59.999999+00",
    b"0001-01-01 00:00:00+00",
    b"2026-11-22 06:31:00.5+05:30",  # another session zone: Django's loader
    b"2026-11-22 06:31:00+00:00:12",
    b"0044-03-15 12:00:00+00 BC",
    b"infinity",
    b"-infinity",
]


def django_loader(zone):
    context = psycopg.adapt.AdaptersMap(psycopg.adapters)
    register_tzloader(zone, context)
    return context.get_loader(OID, Format.TEXT)(OID, None)


def outcome(loader, data):
    try:
        value = loader.load(memoryview(data))
    except Exception as exc:  # both must fail alike
        return type(exc)
    return value, value.tzinfo, value.utcoffset()


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=2)), None])
@pytest.mark.parametrize("data", TEXTS)
def test_same_value_and_zone_as_djangos_loader(zone, data):
    fast = fast_loader(zone)(OID, None)
    assert outcome(fast, data) == outcome(django_loader(zone), data)


@pytest.mark.django_db(databases="__all__")
def test_postgresql_connections_use_it(settings):
    if settings.TEST_BACKEND != "postgres":
        pytest.skip("PostgreSQL connections only")
    for alias in connections:
        connection = connections[alias]
        connection.ensure_connection()
        loader = connection.connection.adapters.get_loader(OID, Format.TEXT)
        assert loader.__name__ == "FastTzLoader"
        assert loader.timezone == connection.timezone
