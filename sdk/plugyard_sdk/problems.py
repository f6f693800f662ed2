"""Validation problems: one record per thing wrong with a plugin, and the error that carries them.

Every check in the SDK (manifest, webhooks, archive, static scan) reports a `Problem` with a
field path (``permissions[1]``, ``jobs[0].schedule``, ``main.py:12``) and a code from
`ProblemCode`, and raises `PackageInvalid` once with all of them, so a publisher sees every
mistake in one round trip. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "PackageInvalid",
    "Problem",
    "ProblemCode",
    "format_loc",
    "problems_from_pydantic",
]


class ProblemCode(StrEnum):
    """Every code a `Problem` can carry. Values are stable: the API and the CLI show them."""

    # shape
    REQUIRED = "required"
    INVALID_TYPE = "invalid_type"
    INVALID_VALUE = "invalid_value"
    INVALID_CHOICE = "invalid_choice"
    UNKNOWN_FIELD = "unknown_field"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    # manifest rules
    INVALID_SLUG = "invalid_slug"
    INVALID_SEMVER = "invalid_semver"
    INVALID_PATH = "invalid_path"
    INVALID_URL = "invalid_url"
    INVALID_EVENT = "invalid_event"
    INVALID_IDENTIFIER = "invalid_identifier"
    INVALID_DOMAIN = "invalid_domain"
    INVALID_ROUTE = "invalid_route"
    UNKNOWN_PERMISSION = "unknown_permission"
    INVALID_CRON = "invalid_cron"
    INVALID_SCHEMA = "invalid_schema"
    INVALID_PRICE = "invalid_price"
    # manifest and webhook files
    INVALID_ENCODING = "invalid_encoding"
    INVALID_JSON = "invalid_json"
    INVALID_YAML = "invalid_yaml"
    INVALID_PLACEHOLDER = "invalid_placeholder"
    PLAIN_SECRET = "plain_secret"
    MISSING_FILE = "missing_file"
    # archive
    INVALID_ARCHIVE = "invalid_archive"
    ARCHIVE_TOO_LARGE = "archive_too_large"
    TOO_MANY_ENTRIES = "too_many_entries"
    COMPRESSION_BOMB = "compression_bomb"
    UNSAFE_PATH = "unsafe_path"
    LINK_ENTRY = "link_entry"
    SPECIAL_FILE = "special_file"
    ENCRYPTED_ENTRY = "encrypted_entry"
    MISSING_MANIFEST = "missing_manifest"
    AMBIGUOUS_MANIFEST = "ambiguous_manifest"
    MISSING_ENTRY = "missing_entry"
    # code
    SYNTAX_ERROR = "syntax_error"
    FORBIDDEN_IMPORT = "forbidden_import"
    CODE_TOO_LARGE = "code_too_large"  # a .py file, or all of them, over the scan's size limit
    CODE_TOO_COMPLEX = "code_too_complex"  # the scan ran out of memory, depth or time on it
    # warnings (never make a package invalid)
    IGNORED_FILE = "ignored_file"
    SANDBOX_BLOCKED = "sandbox_blocked"
    UNDEFINED_NAME = "undefined_name"  # a name no scope, import or builtin defines (pyflakes)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plugin: where (`field`), what kind (`code`), and a sentence."""

    field: str
    code: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", str(self.code))  # a plain str, even when given the enum

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.code}]"

    def as_dict(self) -> dict[str, str]:
        """The problem as JSON-ready data (what the API answers with)."""
        return {"field": self.field, "code": self.code, "message": self.message}


class PackageInvalid(Exception):
    """A plugin (or one of its files) was refused; `problems` lists every reason at once."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        summary = "; ".join(str(p) for p in self.problems[:5])
        more = len(self.problems) - 5
        if more > 0:
            summary += f"; and {more} more"
        super().__init__(summary or "invalid plugin package")


def format_loc(loc: Sequence[str | int], prefix: str = "") -> str:
    """Render a location tuple as a field path: ``("jobs", 0, "schedule")`` → ``jobs[0].schedule``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


# pydantic's error types, grouped into our codes; anything else becomes invalid_value.
_PYDANTIC_CODES: Mapping[str, ProblemCode] = {
    "missing": ProblemCode.REQUIRED,
    "extra_forbidden": ProblemCode.UNKNOWN_FIELD,
    "literal_error": ProblemCode.INVALID_CHOICE,
    "enum": ProblemCode.INVALID_CHOICE,
}
_TYPE_SUFFIXES = ("_type", "_parsing")


def _code_for(error_type: str) -> str:
    if error_type in ProblemCode._value2member_map_:
        return error_type  # raised by our own validators with a ProblemCode value as type
    if error_type in _PYDANTIC_CODES:
        return _PYDANTIC_CODES[error_type].value
    if error_type.endswith(("_type", "_parsing")) or error_type in {"is_instance_of"}:
        return ProblemCode.INVALID_TYPE.value
    return ProblemCode.INVALID_VALUE.value


def _message_for(error: Mapping[str, Any], field: str) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return f"{field or 'value'} is required"
    if kind == "extra_forbidden":
        return f"unknown field {field.rsplit('.', 1)[-1]!r}"
    message = str(error.get("msg", "invalid value"))
    if kind.endswith(_TYPE_SUFFIXES) and kind not in ProblemCode._value2member_map_:
        got = type(error.get("input")).__name__
        message = f"{message} (got {got})"
    return message


def problems_from_pydantic(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> list[Problem]:
    """Turn ``ValidationError.errors()`` into Problems with field paths and codes.

    ``prefix`` is prepended to each path (e.g. ``"webhooks/x.yaml: "``).
    """
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        loc = [part for part in error.get("loc", ()) if isinstance(part, (str, int))]
        field = format_loc(loc)
        code = _code_for(str(error.get("type", "")))
        key = (field, code)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(f"{prefix}{field or '(root)'}", code, _message_for(error, field)))
    return problems
