"""Field types shared by the manifest and webhook models: slug, semver, paths, events, cron.

Route paths are checked by `routing`, the one route grammar (`route_key` is re-exported
for the manifest rules).

Each is an ``Annotated`` type whose validator raises a pydantic custom error whose type is a
`ProblemCode` value, so the problem converter keeps our codes. Internal to the SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from croniter import croniter
from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

from .problems import ProblemCode
from .routing import RouteError, route_key
from .routing import parse as parse_route

__all__ = [
    "Cron",
    "EmitPattern",
    "EntryPath",
    "EventName",
    "Identifier",
    "RoutePath",
    "SecretName",
    "SemVer",
    "Slug",
    "Url",
    "Version",
    "custom_error",
    "entry_path_error",
    "route_key",
]


def custom_error(code: ProblemCode, message: str) -> PydanticCustomError:
    # The message goes through the context: a literal template would choke on "{device_id}".
    return PydanticCustomError(code.value, "{reason}", {"reason": message})


_SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,
)


@dataclass(frozen=True, eq=False)
class SemVer:
    """A semantic version (semver 2.0); compares by precedence, ignoring build metadata."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SemVer:
        """Parse ``1.2.3-rc.1+build.5``; raise ValueError if it is not strict semver."""
        match = _SEMVER_RE.fullmatch(text) if isinstance(text, str) and len(text) <= 128 else None
        if match is None:
            raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)")
        major, minor, patch, pre, build = match.groups()
        return cls(
            int(major),
            int(minor),
            int(patch),
            tuple(pre.split(".")) if pre else (),
            tuple(build.split(".")) if build else (),
        )

    def _key(self) -> tuple[Any, ...]:
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, not self.prerelease, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __le__(self, other: SemVer) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: SemVer) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: SemVer) -> bool:
        return self._key() >= other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def _version(value: str) -> str:
    try:
        SemVer.parse(value)
    except ValueError as exc:
        raise custom_error(ProblemCode.INVALID_SEMVER, str(exc)) from None
    return value


def _regex_check(pattern: str, code: ProblemCode, explain: str) -> AfterValidator:
    compiled = re.compile(pattern, re.ASCII)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise custom_error(code, f"{value[:100]!r} {explain}")
        return value

    return AfterValidator(check)


def entry_path_error(value: str) -> str | None:
    """Why ``value`` is not a safe relative ``.py`` path, or None when it is."""
    reason = None
    if "\\" in value or re.match(r"^[A-Za-z]:", value):
        reason = "must use forward slashes and no drive letter"
    elif value.startswith("/"):
        reason = "must be relative to the plugin folder"
    elif any(part in ("", ".", "..") for part in value.split("/")):
        reason = "must not contain empty, '.' or '..' segments"
    elif not re.fullmatch(
        r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*\.py", value, re.ASCII
    ):
        reason = "must be a .py file path made of letters, digits, '_', '-' and '.'"
    return reason


def _entry_path(value: str) -> str:
    reason = entry_path_error(value)
    if reason:
        raise custom_error(ProblemCode.INVALID_PATH, f"{value[:100]!r} {reason}")
    return value


def _route_path(value: str) -> str:
    try:
        parse_route(value)
    except RouteError as exc:
        raise custom_error(ProblemCode.INVALID_ROUTE, str(exc)) from None
    return value


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        raise custom_error(
            ProblemCode.INVALID_CRON,
            f"{value!r} must have 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}",
        )
    try:
        croniter(" ".join(fields))
    except Exception as exc:  # croniter raises a family of errors (and the odd KeyError)
        raise custom_error(
            ProblemCode.INVALID_CRON, f"{value!r} is not a valid cron expression: {exc}"
        ) from None
    return " ".join(fields)


Slug = Annotated[
    str,
    _regex_check(
        r"[a-z0-9][a-z0-9_-]{1,63}",
        ProblemCode.INVALID_SLUG,
        "is not a valid slug: use 2-64 lowercase letters, digits, '-' or '_', starting with a letter or digit",
    ),
]
Version = Annotated[str, AfterValidator(_version)]
EntryPath = Annotated[str, AfterValidator(_entry_path)]
EventName = Annotated[
    str,
    StringConstraints(max_length=128),
    _regex_check(
        r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+",
        ProblemCode.INVALID_EVENT,
        "is not an event name (lowercase dotted words, e.g. device.created)",
    ),
]
EmitPattern = Annotated[
    str,
    StringConstraints(max_length=128),
    _regex_check(
        r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\.(?:[a-z][a-z0-9_]*|\*)",
        ProblemCode.INVALID_EVENT,
        "is not an event name or namespace (e.g. notification.sent or email.*)",
    ),
]
Identifier = Annotated[
    str,
    _regex_check(
        r"[A-Za-z_][A-Za-z0-9_]{0,63}",
        ProblemCode.INVALID_IDENTIFIER,
        "is not a Python identifier (letters, digits and '_', at most 64)",
    ),
]
SecretName = Annotated[
    str,
    _regex_check(
        r"[A-Za-z_][A-Za-z0-9_]{0,63}",
        ProblemCode.INVALID_IDENTIFIER,
        "is not a secret name (letters, digits and '_', not starting with a digit, at most 64)",
    ),
]
RoutePath = Annotated[str, AfterValidator(_route_path)]
Cron = Annotated[str, AfterValidator(_cron)]
Url = Annotated[
    str,
    StringConstraints(max_length=500),
    _regex_check(r"https?://[^\s/?#]+[^\s]*", ProblemCode.INVALID_URL, "is not an http(s) URL"),
]
