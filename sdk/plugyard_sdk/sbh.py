"""SBH-style module decorators: `@hook`, `@route`, `@job`.

They only attach options to the function (`__plugyard__`); `_collect` turns a loaded
plugin's namespace into registrations in one place. Both `@hook("event")` and
`@hook(event="...")` work, and so does a bare `@hook` on a function whose name is the
event with dots written as underscores (`def auth_user_created(ctx, data)`) — handy, and
it keeps the decorator usable with and without arguments. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from . import routing
from .context import PluginContext

__all__ = ["MARK", "PluginContext", "hook", "job", "route"]

F = TypeVar("F", bound=Callable[..., Any])
MARK = "__plugyard__"


def _attach(fn: Callable[..., Any], option: dict[str, Any]) -> None:
    """Append one option set; a function may carry several (two events, one handler)."""
    marks = list(getattr(fn, MARK, ()))
    marks.append(option)
    setattr(fn, MARK, marks)


def hook(event: str | Callable[..., Any] | None = None, *, priority: int = 10) -> Any:
    """Subscribe the function to an event: `fn(ctx, event_data)`."""
    if callable(event):
        fn = event
        _attach(fn, {"type": "hook", "event": fn.__name__.replace("_", "."), "priority": priority,
                     "kind": "action", "style": "sbh"})
        return fn
    if not isinstance(event, str) or not event:
        raise TypeError("@hook needs an event name, e.g. @hook(\"auth.user.created\")")

    def decorate(fn: F) -> F:
        _attach(fn, {"type": "hook", "event": event, "priority": int(priority), "kind": "action",
                     "style": "sbh"})
        return fn

    return decorate


def route(path: str, methods: Iterable[str] | None = None) -> Callable[[F], F]:
    """Serve `/ext/<slug><path>`: `fn(ctx, **path_params)`; the grammar is `routing`'s.

    A path or method the grammar refuses raises `routing.RouteError` here, at load, so the
    upload names the file and line of the decorator.
    """
    if not isinstance(path, str):
        raise TypeError("@route needs a path starting with '/', e.g. @route(\"/ping\")")
    routing.parse(path)
    verbs = routing.parse_methods(methods, where=f"@route({path!r})")

    def decorate(fn: F) -> F:
        _attach(fn, {"type": "route", "path": path, "methods": verbs, "style": "sbh"})
        return fn

    return decorate


def job(name: str | Callable[..., Any] | None = None, schedule: str | None = None) -> Any:
    """A scheduled job: `fn(ctx)`. `@job` alone uses the function name and no schedule."""
    if callable(name):
        fn = name
        _attach(fn, {"type": "job", "name": fn.__name__, "schedule": schedule, "style": "sbh"})
        return fn

    def decorate(fn: F) -> F:
        _attach(fn, {"type": "job", "name": name or fn.__name__, "schedule": schedule, "style": "sbh"})
        return fn

    return decorate
