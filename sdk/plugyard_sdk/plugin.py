"""The Ops-Center style: a `Plugin` object whose decorators mark async handlers.

`plugin.storage / config / logger / api / scheduler` are clients of whatever host is bound:
inside the sandbox the host over RPC, outside it (local runs) the in-memory
`plugyard_sdk._local.LocalBackend`; `ops_center_sdk.testing.create_test_plugin` swaps in the
guide's mocks instead. Their calls are rows of `plugyard_sdk.ctx_methods`. Decorators attach options
to the function and remember it on the plugin; `_collect` builds the registrations.
Standard library only: this module is imported inside the sandbox.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from . import routing
from .context import _runtime, current_backend
from .ctx_methods import match_keys  # noqa: F401  (plugins_core.host.storage imports it from here)
from .sbh import MARK

__all__ = ["AppDescriptor", "Plugin", "PluginMetadata"]

F = TypeVar("F", bound=Callable[..., Any])
API_RESOURCES = ("devices", "users", "organizations", "alerts", "webhooks")


@dataclass(frozen=True)
class PluginMetadata:
    id: str
    name: str
    version: str
    description: str = ""
    author: str = ""
    category: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _call(rpc_method: str, /, **args: Any) -> Any:
    return current_backend().call(rpc_method, args)


class RemoteStorage:
    """Key-value storage of this installation (host-side, per installation)."""

    async def get(self, key: str, default: Any = None) -> Any:
        value = _call("storage.get", key=key)
        return default if value is None else value

    async def set(self, key: str, value: Any) -> None:
        _call("storage.set", key=key, value=value)

    async def exists(self, key: str) -> bool:
        return bool(_call("storage.exists", key=key))

    async def list_keys(self, pattern: str = "*") -> list[str]:
        return list(_call("storage.list_keys", pattern=pattern) or [])

    async def delete(self, key: str) -> bool:
        return bool(_call("storage.delete", key=key))

    async def clear(self) -> None:
        _call("storage.clear")


class RemoteConfig:
    """Installation config: read from the invocation; `save()` asks the host to persist."""

    def get(self, key: str, default: Any = None) -> Any:
        return _runtime_config().get(key, default)

    def set(self, key: str, value: Any) -> None:
        _runtime_config()[key] = value

    def all(self) -> dict[str, Any]:
        return dict(_runtime_config())

    async def save(self) -> None:
        _call("config.save", values=dict(_runtime_config()))

    async def reload(self) -> None:
        fresh = _call("config.get") or {}
        cfg = _runtime_config()
        cfg.clear()
        cfg.update(fresh)


def _runtime_config() -> dict[str, Any]:
    return _runtime.config


class RemoteLogger:
    """Log lines are captured with the invocation (capped), like `print()`."""

    def _log(self, level: str, message: Any, *args: Any) -> None:
        text = str(message) % args if args else str(message)
        if not _runtime.log(level, text):
            print(f"{level.upper()}: {text}")

    def debug(self, message: Any, *args: Any) -> None:
        self._log("debug", message, *args)

    def info(self, message: Any, *args: Any) -> None:
        self._log("info", message, *args)

    def warning(self, message: Any, *args: Any) -> None:
        self._log("warning", message, *args)

    warn = warning

    def error(self, message: Any, *args: Any) -> None:
        self._log("error", message, *args)

    def exception(self, message: Any, *args: Any) -> None:
        self._log("error", message, *args)

    def critical(self, message: Any, *args: Any) -> None:
        self._log("critical", message, *args)


class RemoteResource:
    """`plugin.api.<resource>.<verb>(...)` → one `api.call` to the host."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _api(self, action: str, id: Any = None, data: Any = None, params: Any = None) -> Any:
        return _call("api.call", resource=self._name, action=action, id=id, data=data, params=params or {})

    async def list(self, **params: Any) -> list[dict[str, Any]]:
        return self._api("list", params=params) or []

    async def get(self, id: Any) -> Any:
        return self._api("get", id=id)

    async def create(self, data: dict[str, Any]) -> Any:
        return self._api("create", data=data)

    async def update(self, id: Any, data: dict[str, Any]) -> Any:
        return self._api("update", id=id, data=data)

    async def delete(self, id: Any) -> Any:
        return self._api("delete", id=id)

    async def acknowledge(self, id: Any) -> Any:
        return self._api("acknowledge", id=id)


class RemoteAPIClient:
    def __init__(self) -> None:
        for name in API_RESOURCES:
            setattr(self, name, RemoteResource(name))

    async def close(self) -> None:
        """Nothing to close: the host owns the connection."""


def _handler_name(handler: Callable[..., Any] | str) -> str:
    return handler if isinstance(handler, str) else getattr(handler, "__name__", str(handler))


class RemoteScheduler:
    """Tasks are persisted by the host and later run as `task` invocations by handler name."""

    async def run_at(self, when: datetime, handler: Callable[..., Any], **kwargs: Any) -> str:
        return _call("scheduler.run_at", when=when.isoformat(), handler=_handler_name(handler), kwargs=kwargs)

    async def run_in(self, delay: timedelta | float, handler: Callable[..., Any], **kwargs: Any) -> str:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        return _call("scheduler.run_in", delay_seconds=seconds, handler=_handler_name(handler), kwargs=kwargs)

    async def schedule(self, cron: str, task_name: str, handler: Callable[..., Any], **kwargs: Any) -> str:
        return _call("scheduler.schedule", cron=cron, task_name=task_name, handler=_handler_name(handler),
                     kwargs=kwargs)

    async def cancel(self, task_id: str) -> bool:
        return bool(_call("scheduler.cancel", task_id=task_id))

    async def cancel_all(self) -> None:
        _call("scheduler.cancel_all")

    def get_tasks(self) -> list[dict[str, Any]]:
        return list(_call("scheduler.get_tasks") or [])


_SERVICES: dict[str, Callable[[], Any]] = {
    "storage": RemoteStorage, "config": RemoteConfig, "logger": RemoteLogger, "api": RemoteAPIClient,
    "scheduler": RemoteScheduler,
}


class AppDescriptor:
    """What `create_app()` returns: a description of the plugin's surface, not a web app.

    Plyard mounts routes itself (`/ext/<slug>/…`), so no FastAPI is needed or loaded.
    """

    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin

    @property
    def routes(self) -> list[dict[str, Any]]:
        return [{"path": m["path"], "methods": m["methods"], "handler": fn.__name__}
                for fn, m in self.plugin._marked() if m["type"] == "route"]

    def __repr__(self) -> str:
        return f"<AppDescriptor plugin={self.plugin.metadata.id!r} routes={len(self.routes)}>"


_MANIFESTS = ("plugin.yaml", "plugin.yml", "plugin.json")


def _manifest_version(directory: str | None) -> str | None:
    """The ``version`` of the manifest in ``directory`` (a local run), or None."""
    if not directory:
        return None
    for name in _MANIFESTS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            # Host-side only (never in the sandbox, where the host sends the version): the
            # SDK's document reader, which needs PyYAML, is not among the jail's modules.
            from ._documents import load_document

            try:
                with open(path, "rb") as fh:
                    document = load_document(name, fh.read())
            except Exception:  # an unreadable manifest: `plugyard validate` says why
                return None
            version = document.get("version") if isinstance(document, dict) else None
            return str(version) if version is not None else None
    return None


class Plugin:
    """One Ops-Center plugin: metadata, decorators, and installation-bound services.

    ``metadata.version`` is the manifest's, not the constructor's: on the server the
    installed version's (the host sends it with each call), locally the ``version`` of the
    ``plugin.yaml`` / ``plugin.json`` beside the module that made the plugin. The
    constructor's ``version`` is used only when there is no manifest (a test's plugin).
    """

    def __init__(self, id: str, name: str | None = None, version: str = "0.0.0", description: str = "",
                 author: str = "", category: str = "", **extra: Any) -> None:
        self._metadata = PluginMetadata(id, name or id, version, description, author, category, extra)
        self._handlers: list[Callable[..., Any]] = []
        self._services: dict[str, Any] = {}
        self._local_version: str | None = None
        if not _runtime.in_sandbox:
            origin = sys._getframe(1).f_globals.get("__file__")
            self._local_version = _manifest_version(os.path.dirname(os.path.abspath(origin)) if origin else None)

    @property
    def metadata(self) -> PluginMetadata:
        version = _runtime.plugin_version if _runtime.in_sandbox else self._local_version
        if version and version != self._metadata.version:
            return dataclasses.replace(self._metadata, version=version)
        return self._metadata

    # -- services, made on first use; they call whichever backend is bound when they are used,
    # so the same object works in the sandbox and outside it (create_test_plugin presets mocks)
    def _service(self, name: str) -> Any:
        if name not in self._services:
            self._services[name] = _SERVICES[name]()
        return self._services[name]

    storage = property(lambda self: self._service("storage"))
    config = property(lambda self: self._service("config"))
    logger = property(lambda self: self._service("logger"))
    api = property(lambda self: self._service("api"))
    scheduler = property(lambda self: self._service("scheduler"))

    # -- decorators: attach options, remember the function
    def _mark(self, fn: F, option: dict[str, Any]) -> F:
        marks = list(getattr(fn, MARK, ()))
        marks.append({**option, "style": "ops-center"})
        setattr(fn, MARK, marks)
        if fn not in self._handlers:
            self._handlers.append(fn)
        return fn

    def _marked(self) -> Iterable[tuple[Callable[..., Any], dict[str, Any]]]:
        for fn in self._handlers:
            for mark in getattr(fn, MARK, ()):
                if mark.get("style") == "ops-center":
                    yield fn, mark

    def hook(self, event: str | Callable[..., Any], priority: int = 10) -> Any:
        """An action hook: `await fn(**payload)`; higher priority runs first."""
        if callable(event):
            return self._mark(event, {"type": "hook", "event": event.__name__.replace("_", "."),
                                      "priority": priority, "kind": "action"})
        return lambda fn: self._mark(fn, {"type": "hook", "event": event, "priority": int(priority),
                                          "kind": "action"})

    def filter_hook(self, name: str, priority: int = 10) -> Callable[[F], F]:
        """A filter: `await fn(value) -> value`, chained in priority order."""
        return lambda fn: self._mark(fn, {"type": "hook", "event": name, "priority": int(priority),
                                          "kind": "filter"})

    def route(self, path: str, methods: Iterable[str] | None = None) -> Callable[[F], F]:
        """An HTTP route: `await fn(**path_params)`; a path `routing` refuses raises here, at load."""
        routing.parse(path)
        verbs = routing.parse_methods(methods, where=f"plugin.route({path!r})")
        return lambda fn: self._mark(fn, {"type": "route", "path": path, "methods": verbs})

    def _lifecycle(self, stage: str, fn: Callable[..., Any] | None) -> Any:
        if fn is None:
            return lambda f: self._mark(f, {"type": "lifecycle", "stage": stage})
        return self._mark(fn, {"type": "lifecycle", "stage": stage})

    def on_install(self, fn: Callable[..., Any] | None = None) -> Any:
        return self._lifecycle("install", fn)

    def on_enable(self, fn: Callable[..., Any] | None = None) -> Any:
        return self._lifecycle("enable", fn)

    def on_disable(self, fn: Callable[..., Any] | None = None) -> Any:
        return self._lifecycle("disable", fn)

    def on_uninstall(self, fn: Callable[..., Any] | None = None) -> Any:
        return self._lifecycle("uninstall", fn)

    def create_app(self) -> AppDescriptor:
        return AppDescriptor(self)

    def __repr__(self) -> str:
        return f"<Plugin {self.metadata.id}@{self.metadata.version}>"
