"""Route grammar: the one definition of a plugin route path, its HTTP methods, and matching.

The manifest check, the ``@route`` decorators, the jail's collector and the host's route
table all read this module, so a path is accepted, refused and matched the same way
everywhere (it lived in four places once, and a ``<float:x>`` route uploaded fine and
answered 404). Standard library only: it runs inside the sandbox.

A path is ``/`` or ``/segment/segment...`` (a trailing ``/`` is ignored); each segment is
literal text (letters, digits, ``._~-``) or exactly one parameter::

    <name>  <str:name>  {name}  {name:str}    one segment            -> str
    <int:name>          {name:int}            digits 0-9             -> int
    <slug:name>         {name:slug}           letters, digits, - _   -> str
    <uuid:name>         {name:uuid}           lowercase 8-4-4-4-12   -> str
    <path:name>         {name:path}           the rest, '/' too      -> str

The converters are Django's (``<converter:name>``); ``{name}`` and ``{name:converter}``
are the Ops-Center (FastAPI) spelling of the same set. Parameters are Python identifiers,
once each; a route has at most one ``path`` parameter. One parameter per segment and one
``path`` per route keep matching linear in the request's length (no backtracking a hostile
URL can blow up) and unambiguous.

Methods follow Django's ``View``: HEAD is answered by a GET route (the host drops the
body), and OPTIONS by the host with ``Allow`` unless the plugin declares OPTIONS itself;
``Allow`` always lists HEAD beside GET, and OPTIONS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "CONVERTERS",
    "HTTP_METHODS",
    "MAX_PATH_LENGTH",
    "Converter",
    "Match",
    "Routable",
    "RouteError",
    "RoutePattern",
    "allowed_methods",
    "match",
    "parse",
    "parse_methods",
    "route_key",
]

#: Every method a route may declare, in the order ``Allow`` lists them (Django's order).
HTTP_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_PATH_LENGTH = 200


@dataclass(frozen=True)
class Converter:
    """What a parameter's value must look like, and the Python value the handler gets."""

    regex: str
    to_python: type[int] | type[str]


#: Django's path converters, and no others. A uuid stays a str (lowercase, as matched):
#: handler values cross the host boundary as JSON, and a str needs no import in the plugin.
CONVERTERS: Mapping[str, Converter] = MappingProxyType({
    "str": Converter(r"[^/]+", str),
    "int": Converter(r"[0-9]+", int),
    "slug": Converter(r"[-a-zA-Z0-9_]+", str),
    "uuid": Converter(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", str),
    "path": Converter(r".+", str),
})
_VALID = ", ".join(sorted(CONVERTERS))
_LITERAL = re.compile(r"[A-Za-z0-9._~-]+", re.ASCII)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_ANGLE = re.compile(r"<(?:(?P<conv>[^:<>{}/]*):)?(?P<name>[^:<>{}/]*)>")
_BRACE = re.compile(r"\{(?P<name>[^:<>{}/]*)(?::(?P<conv>[^:<>{}/]*))?\}")


class RouteError(ValueError):
    """A route path or method the grammar does not accept; the message says why."""


@dataclass(frozen=True)
class RoutePattern:
    """A parsed route path: its template, its parameters (name, converter) and its regex."""

    path: str
    params: tuple[tuple[str, str], ...]
    regex: re.Pattern[str]
    key: str  # the path with parameters blanked: ``/a/<x>`` and ``/a/{y:int}`` overlap

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted parameters if ``path`` matches, else None.

        A value its converter refuses is no match, as in Django (``int`` of 5,000 digits).
        """
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        try:
            return {name: CONVERTERS[conv].to_python(found.group(name)) for name, conv in self.params}
        except ValueError:
            return None


def _param(segment: str) -> tuple[str, str] | None:
    """(name, converter) when the whole segment is written as one parameter, else None.

    Name and converter are checked by the caller, so the error can say which is wrong."""
    found = _ANGLE.fullmatch(segment) or _BRACE.fullmatch(segment)
    if found is None:
        return None
    return found.group("name"), found.group("conv") if found.group("conv") is not None else "str"


def _segment_error(segment: str) -> str:
    if any(mark in segment for mark in "<>{}"):
        return (f"has a segment {segment!r} that is not one parameter: write <name>, <converter:name>, "
                "{name} or {name:converter}, alone between slashes")
    bad = next((ch for ch in segment if not _LITERAL.fullmatch(ch)), "?")
    return (f"has the character {bad!r} in {segment!r}; literal segments use letters, digits "
            "and '._~-'")


def parse(path: str) -> RoutePattern:
    """Parse a route path; raise `RouteError` naming the path and what is wrong with it."""
    if not isinstance(path, str):
        raise RouteError(f"a route path must be a string, not {type(path).__name__}")
    return _parse(path)


@lru_cache(maxsize=1024)  # paths of immutable plugin versions, parsed by every matcher
def _parse(path: str) -> RoutePattern:
    def fail(reason: str) -> RouteError:
        return RouteError(f"route path {path[:100]!r} {reason}")

    if not path.startswith("/"):
        raise fail("must start with '/'")
    if len(path) > MAX_PATH_LENGTH:
        raise fail(f"is longer than {MAX_PATH_LENGTH} characters")
    if "//" in path:
        raise fail("has an empty segment ('//')")
    body = path[1:].removesuffix("/")
    params: list[tuple[str, str]] = []
    pattern, key = "", ""
    for segment in body.split("/") if body else []:
        param = _param(segment)
        if param is None:
            if not _LITERAL.fullmatch(segment):
                raise fail(_segment_error(segment))
            pattern += "/" + re.escape(segment)
            key += "/" + segment
            continue
        name, conv = param
        if not _NAME.fullmatch(name):
            raise fail(f"has the parameter name {name!r} in {segment!r}; use letters, digits and '_', "
                       "not starting with a digit")
        if conv not in CONVERTERS:
            raise fail(f"uses the unknown converter {conv!r} in {segment!r}; valid converters are {_VALID}")
        if any(name == seen for seen, _ in params):
            raise fail(f"repeats the parameter {name!r}")
        if conv == "path" and any(c == "path" for _, c in params):
            raise fail("has more than one path parameter")
        params.append((name, conv))
        pattern += f"/(?P<{name}>{CONVERTERS[conv].regex})"
        key += "/<>"
    # A trailing slash on the request is ignored, as on the template.
    return RoutePattern(path, tuple(params), re.compile(pattern + "/?"), key or "/")


def route_key(path: str) -> str:
    """The path with parameters blanked (for overlap checks); the text itself if it is invalid."""
    try:
        return parse(path).key
    except RouteError:
        return path


def parse_methods(methods: Iterable[str] | None, *, where: str = "route") -> list[str]:
    """Upper-cased methods (GET when none), once each; `RouteError` for one outside `HTTP_METHODS`."""
    if isinstance(methods, str):
        methods = [methods]
    verbs: list[str] = []
    for method in methods or ["GET"]:
        verb = method.upper() if isinstance(method, str) else repr(method)
        if verb not in HTTP_METHODS:
            raise RouteError(f"{where}: unknown HTTP method {verb!r}; use {', '.join(HTTP_METHODS)}")
        if verb not in verbs:
            verbs.append(verb)
    return verbs


def allowed_methods(declared: Iterable[str]) -> tuple[str, ...]:
    """What ``Allow`` says for a path whose routes declare ``declared``: + HEAD with GET, + OPTIONS."""
    found = set(declared) | {"OPTIONS"}
    if "GET" in found:
        found.add("HEAD")
    return tuple(method for method in HTTP_METHODS if method in found)


class Routable(Protocol):
    """What `match` needs of a route: its parsed pattern (None never matches) and methods."""

    @property
    def pattern(self) -> RoutePattern | None: ...

    @property
    def methods(self) -> Sequence[str]: ...


R = TypeVar("R", bound=Routable)


@dataclass(frozen=True)
class Match(Generic[R]):
    route: R
    params: dict[str, Any]


def match(routes: Iterable[R], path: str, method: str) -> Match[R] | tuple[str, ...]:
    """The first route for ``path`` that takes ``method``, or the methods ``path`` allows.

    An empty tuple means no route has this path (404); otherwise the tuple is the ``Allow``
    list (405, or the answer to an OPTIONS no route declares). HEAD falls back to the first
    GET route for the path, as Django's ``View`` does.
    """
    path = "/" + path.lstrip("/")
    method = method.upper()
    candidates: list[tuple[R, dict[str, Any]]] = []
    for route in routes:
        params = route.pattern.match(path) if route.pattern is not None else None
        if params is None:
            continue
        if method in route.methods:
            return Match(route, params)
        candidates.append((route, params))
    if method == "HEAD":
        for route, params in candidates:
            if "GET" in route.methods:
                return Match(route, params)
    if not candidates:
        return ()
    return allowed_methods(m for route, _ in candidates for m in route.methods)
