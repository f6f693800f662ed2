"""The host's table of a plugin version's routes, matched with the SDK's one route grammar.

The table is what the code registered (the load report), else the manifest's ``routes``;
it is built once per plugin version (versions are immutable) and cached. A stored path the
grammar refuses (a version uploaded before paths were checked) never matches: it answers
404, as it always did, without stopping the version's other routes.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from plugyard_sdk import routing

__all__ = ["HostRoute", "RouteTable", "table_for"]


@dataclass(frozen=True)
class HostRoute:
    """One route of a version: its parsed path (None: never matches), methods and handler."""

    pattern: routing.RoutePattern | None
    methods: Sequence[str]
    handler: str


class RouteTable:
    def __init__(self, routes: list[dict[str, Any]]) -> None:
        self._routes = [_host_route(route) for route in routes if isinstance(route, dict)]

    def match(self, path: str, method: str) -> routing.Match[HostRoute] | tuple[str, ...]:
        """The route for ``method`` at ``path``, or the methods ``path`` allows (empty: 404)."""
        return routing.match(self._routes, path, method)


def _host_route(route: dict[str, Any]) -> HostRoute:
    try:
        pattern: routing.RoutePattern | None = routing.parse(route.get("path"))
        methods = tuple(routing.parse_methods(route.get("methods")))
    except routing.RouteError:
        pattern, methods = None, ()
    return HostRoute(pattern, methods, str(route.get("handler") or ""))


@lru_cache(maxsize=512)
def _table(version_id: int, routes_key: str) -> RouteTable:
    return RouteTable(json.loads(routes_key))


def table_for(version) -> RouteTable:
    routes = (version.load_report or {}).get("routes") or version.manifest.get("routes") or []
    if not isinstance(routes, list):
        routes = []
    return _table(version.pk, json.dumps(routes, sort_keys=True))
