"""Query-string filters of the list endpoints: exact matches, a clear 400 for a value outside its choices."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db.models import QuerySet

from config.errors import ApiError

__all__ = ["filter_by_query"]


def filter_by_query(
    rows: QuerySet, params: Mapping[str, str], lookups: Mapping[str, str],
    choices: Mapping[str, Iterable[str]] | None = None,
) -> QuerySet:
    """``rows`` narrowed by each ``param=value`` given (``lookups`` maps a param to its field)."""
    for param, lookup in lookups.items():
        value = params.get(param)
        if not value:
            continue
        allowed = list((choices or {}).get(param) or [])
        if allowed and value not in allowed:
            text = ", ".join(allowed)
            raise ApiError(f"{param} must be one of {text}.",
                           details=[{"field": param, "code": "invalid_choice", "message": f"One of {text}."}])
        rows = rows.filter(**{lookup: value})
    return rows
