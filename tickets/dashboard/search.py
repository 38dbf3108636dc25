"""Search strategy: how the search box's text is matched in each department.

A reference or an email address is an exact match; other text goes through the department's
search index where it can serve the term (``tickets/search_index.py``: trigram FTS5 on SQLite,
trigram GIN on PostgreSQL, FULLTEXT word prefixes on MariaDB), else a substring scan.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.db import connections

from departments.config import postgres_schema
from departments.fanout import Dialect, dialect_for
from departments.registry import Department, all_departments
from tickets import search_index
from tickets.dashboard import limits

_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REFERENCE_BODY = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTWXYZ]{6}$")


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# InnoDB's default stopword list (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD): never indexed,
# so a prefix query on one of them would miss rows; such terms scan instead.
_INNODB_STOPWORDS = frozenset(
    (
        "a",
        "about",
        "an",
        "are",
        "as",
        "at",
        "be",
        "by",
        "com",
        "de",
        "en",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "la",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "who",
        "will",
        "with",
        "und",
        "www",
    )
)

_FULLTEXT_TEXT = re.compile(r"^[^\W_]+(?:\s+[^\W_]+)*$")


def fulltext_query(search: str, min_token: int) -> str | None:
    """``+word* +word*`` for a search made only of indexable words, else None (scan)."""
    if not _FULLTEXT_TEXT.match(search):
        return None
    words = search.split()
    if any(len(w) < min_token or len(w) > 84 or w.lower() in _INNODB_STOPWORDS for w in words):
        return None
    return " ".join(f"+{w}*" for w in words)


_search_index_cache: dict[tuple, str | int | None] = {}


@functools.lru_cache(maxsize=512)
def _fts_probe(alias: str, name: str, phrase: str, at_least: int) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT rowid FROM {search_index.FTS_TABLE} "
            f"WHERE {search_index.FTS_TABLE} MATCH %s LIMIT %s)",
            [phrase, at_least],
        )
        return cursor.fetchone()[0] >= at_least


def _fts_many_matches(department: Department, phrase: str, *, counting: bool = False) -> bool:
    """Whether ``phrase`` matches many rows of ``department`` (a LIMITed FTS read, ~1 ms for a
    page, more for a count; remembered per term: a stale answer only picks the slower plan,
    never other rows)."""
    name = str(connections.settings[department.alias].get("NAME"))
    at_least = limits.FTS_MANY_MATCHES_FOR_COUNT if counting else limits.FTS_MANY_MATCHES
    return _fts_probe(department.alias, name, phrase, at_least)


def text_search_index(department: Department) -> str | int | None:
    """Which search index ``department`` has: "fts5" (SQLite), the FULLTEXT minimum token
    size (MariaDB), "trigram" (PostgreSQL) or None. Looked up once per database."""
    config = connections.settings[department.alias]
    key = (department.alias, str(config.get("NAME")), postgres_schema(config) or "")
    if key in _search_index_cache:
        return _search_index_cache[key]
    with connections[department.alias].cursor() as cursor:
        found = dialect_for(department.alias).text_index(
            cursor,
            fts_table=search_index.FTS_TABLE,
            table=search_index.TABLE,
            fulltext_index=search_index.FULLTEXT_INDEX,
            trigram_index=next(iter(search_index.TRIGRAM_INDEXES)),
        )
    _search_index_cache[key] = found
    return found


def search_shape(text: str) -> tuple[str, list[str]]:
    """How a search box text is matched: ("reference", [refs]), ("email", []) or ("text", [])."""
    from tickets.references import InvalidReference, normalize_reference

    compact = re.sub(r"\s+", "", text).upper()
    try:
        reference = normalize_reference(compact)
    except InvalidReference:
        pass
    else:
        # Only a known department code makes it a reference: "printer jam" squeezes into the
        # reference shape (PRIN-TERJAM) but is text.
        if reference.split("-", 1)[0] in {d.code for d in all_departments()}:
            return "reference", [reference]
    if _REFERENCE_BODY.match(compact):
        # A reference typed without its department code: try it in every department.
        return "reference", [f"{d.code}-{compact}" for d in all_departments()]
    if _EMAIL_SHAPE.match(text.strip()):
        return "email", []
    return "text", []


def text_search_sql(
    search: str,
    department: Department,
    dialect: Dialect,
    table_prefix: str,
    *,
    counting: bool = False,
) -> tuple[str, list[Any]]:
    """The free-text condition: through the department's search index where it can serve
    the term (tickets/search_index.py), else a substring scan of the four columns."""
    index = text_search_index(department)
    if index == "fts5" and len(search) >= 3:
        # Trigram FTS5: a quoted phrase is a case-insensitive substring match (3+ chars).
        phrase = '"' + search.replace('"', '""') + '"'
        # A count sees every match (up to its cap), so the scan pays off only for far more
        # matches than a page needs ('patel': 336 ms by scan, 53 ms from the index at 1M).
        many = _fts_many_matches(department, phrase, counting=counting)
        if not (many and search.isascii()):
            # Few matches: read them by rowid and sort them. Many: "+id" stops SQLite from
            # driving by rowid, so it walks the sort index and stops after a page (a term in
            # every email would otherwise fetch and sort the whole table).
            column = "+id" if many else "id"
            return dialect.fts_match(search_index.FTS_TABLE, table_prefix, column), [phrase]
        # Many matches of an ASCII term: even "+id IN (...)" first collects every matching
        # rowid (965 ms for "example" at 1M tickets), while a LIKE walk of the sort index finds
        # a page after a few rows (24 ms). For ASCII both match the same rows: case-insensitive
        # substrings.
    if isinstance(index, int):
        boolean = fulltext_query(search, index)
        if boolean:
            # Word-prefix semantics (documented): every word must start a word in one of
            # the columns. InnoDB FULLTEXT cannot do infix matches.
            return dialect.fulltext_match(search_index.COLUMNS), [boolean]
    pattern = like_pattern(search)
    fields = search_index.COLUMNS
    return "(" + " OR ".join(dialect.contains(c) for c in fields) + ")", [pattern] * len(fields)
