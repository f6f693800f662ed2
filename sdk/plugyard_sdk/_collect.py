"""Collection: the one place that turns a loaded plugin into registrations.

Decorators (`sbh.hook/route/job`, `Plugin.hook/...`) only attach options. Here we walk the
plugin's module namespaces, find marked SBH functions and `Plugin` objects, and build a
`Registry`: hooks and filters in priority order (higher first, then definition order),
routes parsed and matched by `routing` (the one route grammar), jobs, lifecycle handlers,
and the module-level functions a scheduled task may name. Standard library only: it runs
inside the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import routing
from .plugin import Plugin
from .sbh import MARK

__all__ = ["HookReg", "JobReg", "NoRoute", "Registry", "RouteReg", "collect"]


class NoRoute(LookupError):
    """No route matches; `allowed` lists methods when the path matched but the method did not."""

    def __init__(self, path: str, allowed: list[str] | None = None) -> None:
        super().__init__(path)
        self.allowed = allowed or []


@dataclass
class HookReg:
    event: str
    handler: str
    fn: Callable[..., Any]
    priority: int = 10
    kind: str = "action"
    style: str = "sbh"

    def describe(self) -> dict[str, Any]:
        return {"event": self.event, "handler": self.handler, "priority": self.priority, "kind": self.kind}


@dataclass
class RouteReg:
    path: str
    methods: list[str]
    handler: str
    fn: Callable[..., Any]
    style: str = "sbh"
    # None when the grammar refuses the path (a mark set by hand, not by a decorator): such
    # a route never matches, and the host refuses the upload on the path in the load report.
    pattern: routing.RoutePattern | None = None

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "methods": list(self.methods), "handler": self.handler,
                "summary": summary_of(self.fn)}


def summary_of(fn: Callable[..., Any]) -> str:
    """The first line of a handler's docstring: what the marketplace says the route does."""
    doc = getattr(fn, "__doc__", None)
    return doc.strip().splitlines()[0].strip()[:SUMMARY_CHARS] if isinstance(doc, str) and doc.strip() else ""


SUMMARY_CHARS = 200


@dataclass
class JobReg:
    name: str
    schedule: str | None
    handler: str
    fn: Callable[..., Any]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "schedule": self.schedule, "handler": self.handler}


@dataclass
class Registry:
    hooks: list[HookReg] = field(default_factory=list)
    routes: list[RouteReg] = field(default_factory=list)
    jobs: list[JobReg] = field(default_factory=list)
    lifecycle: dict[str, list[tuple[str, Callable[..., Any]]]] = field(default_factory=dict)
    plugins: list[Plugin] = field(default_factory=list)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)

    @property
    def style(self) -> str:
        styles = {h.style for h in self.hooks} | {r.style for r in self.routes}
        if self.plugins:
            styles.add("ops-center")
        if self.jobs:
            styles.add("sbh")
        if len(styles) > 1:
            return "mixed"
        return styles.pop() if styles else "sbh"

    def handlers_for(self, event: str, kind: str = "action") -> list[HookReg]:
        return [h for h in self.hooks if h.event == event and h.kind == kind]

    def job(self, name: str) -> JobReg | None:
        return next((j for j in self.jobs if j.name == name or j.handler == name), None)

    def match_route(self, method: str, path: str) -> tuple[RouteReg, dict[str, Any]]:
        """Resolve a request path (relative to the plugin's mount) to a handler and params."""
        found = routing.match(self.routes, path, method)
        if isinstance(found, routing.Match):
            return found.route, found.params
        raise NoRoute("/" + path.lstrip("/"), list(found))

    def describe(self) -> dict[str, Any]:
        meta = [p.metadata for p in self.plugins]
        return {
            "style": self.style,
            "hooks": [h.describe() for h in self.hooks],
            "routes": [r.describe() for r in self.routes],
            "jobs": [j.describe() for j in self.jobs],
            "lifecycle": {stage: [n for n, _ in fns] for stage, fns in self.lifecycle.items()},
            "functions": sorted(self.functions),
            "plugin": ({"id": meta[0].id, "name": meta[0].name, "version": meta[0].version,
                        "description": meta[0].description, "author": meta[0].author,
                        "category": meta[0].category} if meta else None),
        }


def _add(reg: Registry, fn: Callable[..., Any], mark: Mapping[str, Any]) -> None:
    name = getattr(fn, "__name__", repr(fn))
    kind = mark.get("type")
    if kind == "hook":
        reg.hooks.append(HookReg(mark["event"], name, fn, int(mark.get("priority", 10)),
                                 mark.get("kind", "action"), mark.get("style", "sbh")))
    elif kind == "route":
        try:
            pattern: routing.RoutePattern | None = routing.parse(mark["path"])
        except routing.RouteError:
            pattern = None
        reg.routes.append(RouteReg(mark["path"], list(mark["methods"]), name, fn, mark.get("style", "sbh"),
                                   pattern))
    elif kind == "job":
        reg.jobs.append(JobReg(mark["name"], mark.get("schedule"), name, fn))
    elif kind == "lifecycle":
        reg.lifecycle.setdefault(mark["stage"], []).append((name, fn))


def collect(namespaces: Iterable[Mapping[str, Any]]) -> Registry:
    """Build the registry from the plugin's own module namespaces (entry module first)."""
    reg = Registry()
    seen: set[int] = set()
    for ns in namespaces:
        for value in list(ns.values()):
            if isinstance(value, Plugin) and id(value) not in seen:
                seen.add(id(value))
                reg.plugins.append(value)
                for fn, mark in value._marked():
                    _add(reg, fn, mark)
            elif callable(value) and id(value) not in seen and isinstance(getattr(value, MARK, None), list):
                seen.add(id(value))
                for mark in getattr(value, MARK):
                    if mark.get("style") == "sbh":
                        _add(reg, value, mark)
            if callable(value) and getattr(value, "__name__", None) and not isinstance(value, type):
                reg.functions.setdefault(value.__name__, value)
    # Stable sort: higher priority first, definition order among equals.
    reg.hooks.sort(key=lambda h: -h.priority)
    return reg


def collect_plugin(plugin: Plugin) -> Registry:
    """Registrations of one `Plugin` object (the testing helpers use this)."""
    return collect([{"plugin": plugin, **{fn.__name__: fn for fn in plugin._handlers}}])
