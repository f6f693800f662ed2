"""Local fakes for both SDK styles: test a plugin without a server or a sandbox.

- SBH: `LocalBackend` (from the runtime's `_local`, re-exported here) is what
  `PluginContext("test-tenant", "test-user")` talks to when no host is bound: in-memory
  secrets, db tables, files, canned HTTP responses; every call is recorded (`.calls`,
  `.emitted`, `.emails`).
- Ops-Center: `MockAPIClient`, `MockStorage`, `MockScheduler`, `MockConfig`, `MockLogger`,
  `create_test_plugin()` and `trigger_hook()` exactly as the guide's Testing section uses
  them (re-exported by `ops_center_sdk.testing`).
Every fake checks its calls against `plugyard_sdk.ctx_methods`, so a call the host would
refuse (an unknown method, a missing or mistyped argument) fails in a test too. The runtime
never imports this module. Standard library only.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ._collect import collect_plugin
from ._local import LocalBackend
from .ctx_methods import check_call, match_keys
from .plugin import API_RESOURCES, Plugin, _handler_name

__all__ = [
    "LocalBackend", "MockAPIClient", "MockConfig", "MockLogger", "MockScheduler", "MockStorage",
    "call_route", "create_test_plugin", "run_sync", "trigger_filter", "trigger_hook", "use_mocks",
]

def _checked(method: str, **args: Any) -> None:
    """Refuse what the host would refuse: the mocks check each call against the ctx table."""
    check_call(method, args)


class MockStorage:
    """In-memory key-value storage with the guide's async API."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def get(self, key: str, default: Any = None) -> Any:
        _checked("storage.get", key=key)
        return self.data.get(key, default)

    async def set(self, key: str, value: Any) -> None:
        _checked("storage.set", key=key, value=value)
        self.data[key] = value

    async def exists(self, key: str) -> bool:
        _checked("storage.exists", key=key)
        return key in self.data

    async def list_keys(self, pattern: str = "*") -> list[str]:
        _checked("storage.list_keys", pattern=pattern)
        return match_keys(self.data, pattern)

    async def delete(self, key: str) -> bool:
        _checked("storage.delete", key=key)
        return self.data.pop(key, None) is not None

    async def clear(self) -> None:
        _checked("storage.clear")
        self.data.clear()


class MockConfig:
    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})
        self.saved = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def all(self) -> dict[str, Any]:
        return dict(self.values)

    async def save(self) -> None:
        _checked("config.save", values=self.values)
        self.saved += 1

    async def reload(self) -> None:
        """Nothing to reload from in memory."""


class MockLogger:
    """Records `(level, message)`; `get_logs("info")` and `has_log("text")` inspect them."""

    def __init__(self) -> None:
        self.logs: list[tuple[str, str]] = []

    def _log(self, level: str, message: Any, *args: Any) -> None:
        self.logs.append((level, str(message) % args if args else str(message)))

    def debug(self, m: Any, *a: Any) -> None: self._log("debug", m, *a)
    def info(self, m: Any, *a: Any) -> None: self._log("info", m, *a)
    def warning(self, m: Any, *a: Any) -> None: self._log("warning", m, *a)
    def error(self, m: Any, *a: Any) -> None: self._log("error", m, *a)
    def critical(self, m: Any, *a: Any) -> None: self._log("critical", m, *a)
    warn = warning
    exception = error

    @property
    def messages(self) -> list[str]:
        return [m for _, m in self.logs]

    def get_logs(self, level: str | None = None) -> list[str]:
        return [m for lv, m in self.logs if level is None or lv == level]

    def has_log(self, text: str, level: str | None = None) -> bool:
        return any(text in m for m in self.get_logs(level))


class _MockResource:
    def __init__(self, client: MockAPIClient, name: str) -> None:
        self._client, self._name = client, name
        self.items: dict[str, dict[str, Any]] = {}

    def _record(self, method: str, endpoint: str, data: Any = None, params: Any = None, *, action: str,
                id: Any = None) -> None:
        _checked("api.call", resource=self._name, action=action, id=id, data=data, params=params or {})
        self._client.requests.append({"method": method, "endpoint": endpoint, "data": data, "params": params or {}})

    async def list(self, **params: Any) -> list[dict[str, Any]]:
        self._record("GET", f"/{self._name}", params=params, action="list")
        keys = {k: v for k, v in params.items() if k not in ("page", "per_page", "limit")}
        return [i for i in self.items.values() if all(i.get(k) == v for k, v in keys.items())]

    async def get(self, id: Any) -> dict[str, Any] | None:
        self._record("GET", f"/{self._name}/{id}", action="get", id=id)
        return self.items.get(str(id))

    async def create(self, data: dict[str, Any]) -> dict[str, Any]:
        self._record("POST", f"/{self._name}", data=data, action="create")
        item = {"id": f"{self._name.rstrip('s')}-{next(self._client._ids)}", **data}
        self.items[str(item["id"])] = item
        return item

    async def update(self, id: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        self._record("PUT", f"/{self._name}/{id}", data=data, action="update", id=id)
        item = self.items.get(str(id))
        if item is not None:
            item.update(data)
        return item

    async def delete(self, id: Any) -> bool:
        self._record("DELETE", f"/{self._name}/{id}", action="delete", id=id)
        return self.items.pop(str(id), None) is not None

    async def acknowledge(self, id: Any) -> dict[str, Any] | None:
        self._record("POST", f"/{self._name}/{id}/acknowledge", action="acknowledge", id=id)
        item = self.items.get(str(id))
        if item is not None:
            item["status"] = "acknowledged"
        return item


class MockAPIClient:
    """Mock Ops-Center API: resources answer from memory; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        for name in API_RESOURCES:
            setattr(self, name, _MockResource(self, name))

    def get_requests(self, method: str | None = None, endpoint: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.requests if (method is None or r["method"] == method.upper())
                and (endpoint is None or r["endpoint"] == endpoint)]

    async def close(self) -> None:
        """Nothing to close."""


class MockScheduler:
    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def _add(self, **task: Any) -> str:
        task_id = f"task-{next(self._ids)}"
        self.tasks[task_id] = {"id": task_id, **task}
        return task_id

    async def run_at(self, when: datetime, handler: Callable[..., Any], **kwargs: Any) -> str:
        _checked("scheduler.run_at", when=when.isoformat(), handler=_handler_name(handler), kwargs=kwargs)
        return self._add(type="once", run_at=when.isoformat(), handler=_handler_name(handler), kwargs=kwargs,
                         callable=handler)

    async def run_in(self, delay: timedelta | float, handler: Callable[..., Any], **kwargs: Any) -> str:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        _checked("scheduler.run_in", delay_seconds=seconds, handler=_handler_name(handler), kwargs=kwargs)
        return await self.run_at(datetime.now() + timedelta(seconds=seconds), handler, **kwargs)

    async def schedule(self, cron: str, task_name: str, handler: Callable[..., Any], **kwargs: Any) -> str:
        _checked("scheduler.schedule", cron=cron, task_name=task_name, handler=_handler_name(handler), kwargs=kwargs)
        return self._add(type="cron", cron=cron, task_name=task_name, handler=_handler_name(handler),
                         kwargs=kwargs, callable=handler)

    async def cancel(self, task_id: str) -> bool:
        _checked("scheduler.cancel", task_id=task_id)
        return self.tasks.pop(task_id, None) is not None

    async def cancel_all(self) -> None:
        _checked("scheduler.cancel_all")
        self.tasks.clear()

    def get_tasks(self) -> list[dict[str, Any]]:
        _checked("scheduler.get_tasks")
        return [{k: v for k, v in t.items() if k != "callable"} for t in self.tasks.values()]


def use_mocks(plugin: Plugin, config: dict[str, Any] | None = None) -> Plugin:
    """Give an existing `Plugin` (the one a plugin's ``main.py`` made) fresh mocks, and return it.

    Its handlers refer to that object, not to one `create_test_plugin` makes, so a test of
    the real code swaps the mocks in behind it; ``config`` presets `plugin.config`.
    """
    plugin._services.update(storage=MockStorage(), config=MockConfig(config), logger=MockLogger(),
                            api=MockAPIClient(), scheduler=MockScheduler())
    return plugin


def create_test_plugin(plugin_id: str = "test-plugin", **metadata: Any) -> Plugin:
    """A `Plugin` wired to fresh mocks (`plugin.api` is a `MockAPIClient`, etc.)."""
    plugin = Plugin(id=plugin_id, name=metadata.pop("name", plugin_id), version=metadata.pop("version", "0.0.0"),
                    **metadata)
    return use_mocks(plugin)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def trigger_hook(plugin: Plugin, event: str, **payload: Any) -> list[Any]:
    """Run the plugin's action hooks for `event` (priority order) with the payload as kwargs."""
    return [await _maybe_await(h.fn(**payload)) for h in collect_plugin(plugin).handlers_for(event)]


async def trigger_filter(plugin: Plugin, name: str, value: Any) -> Any:
    for h in collect_plugin(plugin).handlers_for(name, "filter"):
        value = await _maybe_await(h.fn(value))
    return value


async def call_route(plugin: Plugin, method: str, path: str) -> Any:
    reg, params = collect_plugin(plugin).match_route(method, path)
    return await _maybe_await(reg.fn(**params))


def run_sync(awaitable: Any) -> Any:
    """Drive a coroutine that awaits only SDK calls (they complete at once) without asyncio."""
    if not inspect.isawaitable(awaitable):
        return awaitable
    coro = awaitable.__await__()
    try:
        yielded = coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError(f"awaited {yielded!r}: only SDK calls may be awaited in a plugin handler")
