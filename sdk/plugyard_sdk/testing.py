"""Local fakes for both SDK styles: test a plugin without a server or a sandbox.

- SBH: `LocalBackend` is what `PluginContext("test-tenant", "test-user")` talks to when no
  host is bound: in-memory secrets, db tables, files, canned HTTP responses; every call is
  recorded (`.calls`, `.emitted`, `.emails`).
- Ops-Center: `MockAPIClient`, `MockStorage`, `MockScheduler`, `MockConfig`, `MockLogger`,
  `create_test_plugin()` and `trigger_hook()` exactly as the guide's Testing section uses
  them (re-exported by `ops_center_sdk.testing`).
Standard library only.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .plugin import Plugin, _handler_name, match_keys

__all__ = [
    "LocalBackend", "MockAPIClient", "MockConfig", "MockLogger", "MockScheduler", "MockStorage",
    "call_route", "create_test_plugin", "run_sync", "trigger_filter", "trigger_hook",
]

# Which permission a local call needs, mirroring the host (only checked when a test sets
# `LocalBackend(permissions=[...])`).
_PERMISSION_OF = {
    "db.query": "db.read", "db.get_by_id": "db.read", "db.insert": "db.write", "db.update": "db.write",
    "files.list": "files.read", "files.read": "files.read", "files.upload": "files.write",
    "files.delete": "files.write", "http.request": "outbound_http", "email.send": "send_email",
    "llm.run": "llm.use",
}


class LocalBackend:
    """In-memory stand-in for the host, recording every call."""

    def __init__(self, *, secrets: dict[str, str] | None = None, tables: dict[str, list[dict[str, Any]]] | None = None,
                 files: dict[str, str | bytes] | None = None, permissions: list[str] | None = None,
                 http_responses: dict[str, dict[str, Any]] | None = None) -> None:
        self.secrets = dict(secrets or {})
        self.tables = {k: [dict(r) for r in v] for k, v in (tables or {}).items()}
        self.files = dict(files or {})
        self.permissions = None if permissions is None else set(permissions)
        self.http_responses = dict(http_responses or {})
        self.storage: dict[str, Any] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.emitted: list[tuple[str, dict[str, Any]]] = []
        self.emails: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def call(self, method: str, args: dict[str, Any]) -> Any:
        self.calls.append((method, args))
        needed = _PERMISSION_OF.get(method)
        if needed and self.permissions is not None and needed not in self.permissions:
            raise PermissionError(f"{method} requires permission '{needed}'")
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        return handler(**args) if handler else None

    def _secrets_get(self, name: str) -> Any:
        return self.secrets.get(name)

    def _http_request(self, method: str, url: str, **_: Any) -> dict[str, Any]:
        return self.http_responses.get(f"{method} {url}") or self.http_responses.get(url) or {
            "status_code": 200, "headers": {"content-type": "application/json"}, "text": "{}"}

    def _db_query(self, table: str, filters: dict[str, Any], limit: int | None = None, **_: Any) -> list[dict[str, Any]]:
        rows = [r for r in self.tables.get(table, []) if all(r.get(k) == v for k, v in filters.items())]
        return rows[:limit] if limit else rows

    def _db_get_by_id(self, table: str, id: Any) -> dict[str, Any] | None:
        return next((r for r in self.tables.get(table, []) if str(r.get("id")) == str(id)), None)

    def _db_insert(self, table: str, data: dict[str, Any]) -> dict[str, Any]:
        row = {"id": next(self._ids), **data}
        self.tables.setdefault(table, []).append(row)
        return row

    def _db_update(self, table: str, id: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        row = self._db_get_by_id(table, id)
        if row is not None:
            row.update(data)
        return row

    def _files_list(self, prefix: str = "") -> list[str]:
        return sorted(p for p in self.files if p.startswith(prefix))

    def _files_read(self, path: str) -> Any:
        return self.files.get(path)

    def _files_upload(self, path: str, content: str | None = None, base64: str | None = None, **_: Any) -> dict[str, Any]:
        self.files[path] = content if content is not None else (base64 or "")
        return {"path": path}

    def _files_delete(self, path: str) -> bool:
        return self.files.pop(path, None) is not None

    def _llm_run(self, prompt: str, options: dict[str, Any] | None = None) -> str:
        return f"[local llm] {prompt[:80]}"

    def _emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.emitted.append((event_type, data))

    def _email_send(self, **message: Any) -> None:
        self.emails.append(message)


class MockStorage:
    """In-memory key-value storage with the guide's async API."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    async def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def exists(self, key: str) -> bool:
        return key in self.data

    async def list_keys(self, pattern: str = "*") -> list[str]:
        return match_keys(self.data, pattern)

    async def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    async def clear(self) -> None:
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

    def _record(self, method: str, endpoint: str, data: Any = None, params: Any = None) -> None:
        self._client.requests.append({"method": method, "endpoint": endpoint, "data": data, "params": params or {}})

    async def list(self, **params: Any) -> list[dict[str, Any]]:
        self._record("GET", f"/{self._name}", params=params)
        keys = {k: v for k, v in params.items() if k not in ("page", "per_page", "limit")}
        return [i for i in self.items.values() if all(i.get(k) == v for k, v in keys.items())]

    async def get(self, id: Any) -> dict[str, Any] | None:
        self._record("GET", f"/{self._name}/{id}")
        return self.items.get(str(id))

    async def create(self, data: dict[str, Any]) -> dict[str, Any]:
        self._record("POST", f"/{self._name}", data=data)
        item = {"id": f"{self._name.rstrip('s')}-{next(self._client._ids)}", **data}
        self.items[str(item["id"])] = item
        return item

    async def update(self, id: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        self._record("PUT", f"/{self._name}/{id}", data=data)
        item = self.items.get(str(id))
        if item is not None:
            item.update(data)
        return item

    async def delete(self, id: Any) -> bool:
        self._record("DELETE", f"/{self._name}/{id}")
        return self.items.pop(str(id), None) is not None

    async def acknowledge(self, id: Any) -> dict[str, Any] | None:
        self._record("POST", f"/{self._name}/{id}/acknowledge")
        item = self.items.get(str(id))
        if item is not None:
            item["status"] = "acknowledged"
        return item


class MockAPIClient:
    """Mock Ops-Center API: resources answer from memory; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        for name in ("devices", "users", "organizations", "alerts", "webhooks"):
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
        return self._add(type="once", run_at=when.isoformat(), handler=_handler_name(handler), kwargs=kwargs,
                         callable=handler)

    async def run_in(self, delay: timedelta | float, handler: Callable[..., Any], **kwargs: Any) -> str:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        return await self.run_at(datetime.now() + timedelta(seconds=seconds), handler, **kwargs)

    async def schedule(self, cron: str, task_name: str, handler: Callable[..., Any], **kwargs: Any) -> str:
        return self._add(type="cron", cron=cron, task_name=task_name, handler=_handler_name(handler),
                         kwargs=kwargs, callable=handler)

    async def cancel(self, task_id: str) -> bool:
        return self.tasks.pop(task_id, None) is not None

    async def cancel_all(self) -> None:
        self.tasks.clear()

    def get_tasks(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in t.items() if k != "callable"} for t in self.tasks.values()]


def create_test_plugin(plugin_id: str = "test-plugin", **metadata: Any) -> Plugin:
    """A `Plugin` wired to fresh mocks (`plugin.api` is a `MockAPIClient`, etc.)."""
    plugin = Plugin(id=plugin_id, name=metadata.pop("name", plugin_id), version=metadata.pop("version", "0.0.0"),
                    **metadata)
    plugin._services.update(storage=MockStorage(), config=MockConfig(), logger=MockLogger(),
                            api=MockAPIClient(), scheduler=MockScheduler())
    return plugin


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def trigger_hook(plugin: Plugin, event: str, **payload: Any) -> list[Any]:
    """Run the plugin's action hooks for `event` (priority order) with the payload as kwargs."""
    from ._collect import collect_plugin

    return [await _maybe_await(h.fn(**payload)) for h in collect_plugin(plugin).handlers_for(event)]


async def trigger_filter(plugin: Plugin, name: str, value: Any) -> Any:
    from ._collect import collect_plugin

    for h in collect_plugin(plugin).handlers_for(name, "filter"):
        value = await _maybe_await(h.fn(value))
    return value


async def call_route(plugin: Plugin, method: str, path: str) -> Any:
    from ._collect import collect_plugin

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
