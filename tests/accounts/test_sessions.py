"""Session engines: an existing session is saved with one UPDATE and no transaction."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runtime.sessions.cached_db import SessionStore as CachedStore
from runtime.sessions.db import SessionStore as DatabaseStore

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("store_class", [DatabaseStore, CachedStore])
def test_an_update_is_one_statement_and_a_new_session_is_created(store_class):
    store = store_class()
    store["a"] = 1
    store.save()  # creates: Django's own path
    key = store.session_key
    store["b"] = 2
    with CaptureQueriesContext(connection) as queries:
        store.save()
    # In a test transaction Django's atomic() would add a SAVEPOINT and its RELEASE.
    assert [q["sql"].split()[0] for q in queries] == ["UPDATE"]
    assert store_class(key).load() == {"a": 1, "b": 2}
    assert Session.objects.get(session_key=key).get_decoded() == {"a": 1, "b": 2}


@pytest.mark.parametrize("store_class", [DatabaseStore, CachedStore])
def test_a_session_deleted_meanwhile_is_not_recreated(store_class):
    store = store_class()
    store["a"] = 1
    store.save()
    Session.objects.filter(session_key=store.session_key).delete()  # signed out elsewhere
    store["b"] = 2
    with pytest.raises(UpdateError):
        store.save()
    assert not Session.objects.exists()


def test_the_cached_store_writes_the_cache_too():
    store = CachedStore()
    store["a"] = 1
    store.save()
    store["a"] = 2
    store.save()
    assert cache.get(store.cache_key) == {"a": 2}


@pytest.mark.parametrize("store_class", [DatabaseStore, CachedStore])
def test_sessions_written_by_djangos_engines_stay_valid(store_class):
    from django.contrib.sessions.backends.db import SessionStore as DjangoStore

    theirs = DjangoStore()
    theirs["user"] = "42"
    theirs.save()
    assert store_class(theirs.session_key).load() == {"user": "42"}
