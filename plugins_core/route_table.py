"""Matching a request path against a plugin's routes: ``<x>``, ``<int:x>`` and ``{x}``.

A route table is compiled once per plugin version (they are immutable) and cached.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["Match", "RouteTable", "compile_path"]

_PARAM = re.compile(r"<(?:(int|str|path):)?([A-Za-z_][A-Za-z0-9_]*)>|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CONVERTERS = {"int": r"-?\d+", "str": r"[^/]+", "path": r".+"}


def compile_path(template: str) -> tuple[re.Pattern[str], dict[str, str]]:
    """A regex for ``template`` and each parameter's converter."""
    pattern, converters, position = "", {}, 0
    for found in _PARAM.finditer(template):
        pattern += re.escape(template[position:found.start()])
        converter = found.group(1) or "str"
        name = found.group(2) or found.group(3)
        converters[name] = converter
        pattern += f"(?P<{name}>{_CONVERTERS[converter]})"
        position = found.end()
    pattern += re.escape(template[position:])
    return re.compile(f"^{pattern.rstrip('/') or ''}/?$"), converters


@dataclass(frozen=True)
class Match:
    handler: str
    template: str
    params: dict[str, Any]


class RouteTable:
    def __init__(self, routes: list[dict[str, Any]]) -> None:
        self._routes = []
        for route in routes:
            regex, converters = compile_path(route["path"])
            methods = tuple(m.upper() for m in (route.get("methods") or ["GET"]))
            self._routes.append((regex, converters, methods, route["path"], route.get("handler") or ""))

    def match(self, path: str, method: str) -> tuple[Match | None, list[str]]:
        """The matching route for ``method``, or None with the methods the path allows."""
        allowed: list[str] = []
        path = "/" + path.lstrip("/")
        for regex, converters, methods, template, handler in self._routes:
            found = regex.match(path) or (path == "/" and regex.match(""))
            if not found:
                continue
            if method.upper() not in methods:
                allowed.extend(m for m in methods if m not in allowed)
                continue
            params = {
                name: int(value) if converters[name] == "int" else value
                for name, value in found.groupdict().items()
            }
            return Match(handler, template, params), allowed
        return None, allowed


@lru_cache(maxsize=512)
def _table(version_id: int, routes_key: str) -> RouteTable:
    import json

    return RouteTable(json.loads(routes_key))


def table_for(version) -> RouteTable:
    import json

    routes = (version.load_report or {}).get("routes") or version.manifest.get("routes") or []
    if not isinstance(routes, list):
        routes = []
    return _table(version.pk, json.dumps(routes, sort_keys=True))
