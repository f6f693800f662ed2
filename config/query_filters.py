"""Query-string filters of the list endpoints: exact matches, a clear 400 for a value outside its
choices or an id that is not one (rather than a database error: SQLite overflows past 2**63-1)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db.models import QuerySet

from config.errors import ApiError

__all__ = ["MAX_ID", "filter_by_query"]

#: The largest id a database integer column holds; a bigger number names no row.
MAX_ID = 2**63 - 1


def filter_by_query(
    rows: QuerySet, params: Mapping[str, str], lookups: Mapping[str, str],
    choices: Mapping[str, Iterable[str]] | None = None, ids: Iterable[str] = (),
) -> QuerySet:
    """``rows`` narrowed by each ``param=value`` given (``lookups`` maps a param to its field);
    the params named in ``ids`` must be row ids."""
    ids = set(ids)
    for param, lookup in lookups.items():
        value = params.get(param)
        if not value:
            continue
        if "\x00" in value:  # PostgreSQL cannot compare a string holding one (a 500 there, not a filter)
            raise ApiError(f"{param} must not contain a NUL character.",
                           details=[{"field": param, "code": "null_characters_not_allowed",
                                     "message": "Null characters are not allowed."}])
        if param in ids and not (value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID):
            raise ApiError(f"{param} must be a positive integer.",
                           details=[{"field": param, "code": "invalid", "message": "Not a positive integer."}])
        allowed = list((choices or {}).get(param) or [])
        if allowed and value not in allowed:
            text = ", ".join(allowed)
            raise ApiError(f"{param} must be one of {text}.",
                           details=[{"field": param, "code": "invalid_choice", "message": f"One of {text}."}])
        rows = rows.filter(**{lookup: value})
    return rows
