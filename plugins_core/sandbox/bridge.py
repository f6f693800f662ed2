"""The host half of `ctx`: what a worker's RPC calls are forwarded to.

The supervisor forwards each `ctx` call of an invocation to the `HostBridge` supplied with
that invocation — one installation's bridge — so a worker can never name another
installation: the RPC frame has no field for it. The methods, their arguments, permissions
and budgets are the rows of `plugyard_sdk.ctx_methods.CTX_METHODS`; a name outside it is
refused here, before any bridge sees it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from plugyard_sdk.ctx_methods import (
    CTX_METHODS,
    CallBudget,
    CallRefused,
    check_args,
    match_keys,
    method_named,
    resolve_budgets,
    unknown_method_message,
)

from .runtime import protocol

__all__ = ["BRIDGE_METHODS", "BridgeError", "DictBridge", "HostBridge", "PermissionDenied", "answer_rpc"]

log = logging.getLogger("plugyard.sandbox")

#: The ctx methods a HostBridge serves: the table's names, in its order.
BRIDGE_METHODS = tuple(CTX_METHODS)


@runtime_checkable
class HostBridge(Protocol):
    """Host services for one installation. Must be thread-safe only per invocation."""

    def call(self, method: str, args: dict[str, Any]) -> Any:
        """Serve one ctx call; return JSON-serialisable data, or raise PermissionDenied /
        BridgeError. Any other exception is shown to the plugin as a generic failure."""


class PermissionDenied(Exception):
    """The installation lacks `permission`; the plugin sees PermissionError naming it."""

    def __init__(self, permission: str, message: str | None = None) -> None:
        super().__init__(message or f"requires permission '{permission}'")
        self.permission = permission


class BridgeError(Exception):
    """A refusal whose message is safe to show the plugin (e.g. 'destination not allowed')."""


def answer_rpc(bridge: HostBridge | None, frame: dict[str, Any]) -> dict[str, Any]:
    """Serve one `rpc` frame with ``bridge``: the `rpc_result` fields the worker will see.

    The one place a ctx call meets host code, used by the service (towards its workers) and
    by callers (towards the service). Never raises: a failure is an answer.
    """
    method, args = frame.get("method"), frame.get("args")
    if not isinstance(method, str) or method not in CTX_METHODS:
        return {"ok": False, "error": {"type": "host", "message": unknown_method_message(method)}}
    if not isinstance(args, dict):
        return {"ok": False, "error": {"type": "host", "message": f"ctx.{method}: arguments must be an object"}}
    if bridge is None:
        return {"ok": False, "error": {"type": "host", "message": "no host services in this context"}}
    try:
        value = bridge.call(method, args)
        protocol.encode(value)  # must be JSON; fails here, not half-way through a frame
        return {"ok": True, "value": value}
    except PermissionDenied as denied:
        return {"ok": False, "error": {"type": "permission", "permission": denied.permission}}
    except BridgeError as refused:
        message = str(refused)
        named = message.startswith((f"{method}:", f"ctx.{method}:"))
        return {"ok": False, "error": {"type": "host", "message": message if named else f"{method}: {message}"}}
    except protocol.BadFrame as refused:
        return {"ok": False, "error": {"type": "host", "message": f"{method}: the answer is not JSON ({refused})"}}
    except Exception:
        log.exception("host bridge failed on %s", method)
        return {"ok": False, "error": {"type": "host", "message": f"{method} failed on the host"}}


class DictBridge:
    """Test helper: one installation's host services in dicts, with a fake policy.

    Reads the ctx table like the real bridge: unknown methods, bad arguments and calls past
    a method's budget (`budgets` overrides the table's) are refused with the host's messages;
    db.* need the generic db.read / db.write. Refuses HTTP to private addresses and to
    domains outside `allowed_domains`, and records every call in `.calls`. It stands for one
    invocation's bridge: its budget counts every call it serves.
    """

    def __init__(self, *, permissions: set[str] | None = None, secrets: dict[str, str] | None = None,
                 tables: dict[str, list[dict[str, Any]]] | None = None, files: dict[str, str] | None = None,
                 storage: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                 allowed_domains: tuple[str, ...] = ("api.example.com", "example.com"),
                 http: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 budgets: Mapping[str, int] | None = None) -> None:
        self.permissions = set(permissions or ())
        self.secrets = dict(secrets or {})
        self.tables = {k: [dict(r) for r in v] for k, v in (tables or {}).items()}
        self.files = dict(files or {})
        self.storage = dict(storage or {})
        self.config = dict(config or {})
        self.allowed_domains = allowed_domains
        self._http = http
        self.budget = CallBudget(resolve_budgets(budgets))
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.emitted: list[tuple[str, Any]] = []
        self.emails: list[dict[str, Any]] = []
        self.api_calls: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []

    def call(self, method: str, args: dict[str, Any]) -> Any:
        self.calls.append((method, args))
        try:
            spec = method_named(method)
            self.budget.charge(spec.name)
            clean = check_args(spec, args)
        except CallRefused as refused:
            raise BridgeError(str(refused)) from None
        needed = spec.local_permission
        if needed and needed not in self.permissions:
            raise PermissionDenied(needed)
        return getattr(self, "_" + spec.name.replace(".", "_"))(**clean)

    def _secrets_get(self, name: str) -> Any:
        return self.secrets.get(name)

    def _http_request(self, method: str, url: str, headers: Any = None, params: Any = None, json: Any = None,
                      data: Any = None, timeout: Any = None) -> dict[str, Any]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https"):
            raise BridgeError("destination not allowed: only http(s)")
        try:
            ip = ipaddress.ip_address(host)
            if not ip.is_global:
                raise BridgeError("destination not allowed: private address")
        except ValueError:
            pass
        if host == "localhost" or not any(host == d or host.endswith("." + d) for d in self.allowed_domains):
            raise BridgeError(f"destination not allowed: {host} is not in the plugin's allowed domains")
        if self._http:
            return self._http({"method": method, "url": url, "headers": headers, "params": params, "json": json,
                               "data": data, "timeout": timeout})
        return {"status_code": 200, "headers": {"content-type": "application/json"}, "text": '{"ok": true}'}

    def _db_query(self, table: str, filters: Any = None, limit: Any = None, order_by: Any = None) -> Any:
        rows = [r for r in self.tables.get(table, []) if all(r.get(k) == v for k, v in (filters or {}).items())]
        return rows[:limit] if limit else rows

    def _db_get_by_id(self, table: str, id: Any) -> Any:
        return next((r for r in self.tables.get(table, []) if str(r.get("id")) == str(id)), None)

    def _db_insert(self, table: str, data: dict[str, Any]) -> Any:
        row = {"id": len(self.tables.get(table, [])) + 1, **data}
        self.tables.setdefault(table, []).append(row)
        return row

    def _db_update(self, table: str, id: Any, data: dict[str, Any]) -> Any:
        row = self._db_get_by_id(table, id)
        if row is not None:
            row.update(data)
        return row

    def _files_list(self, prefix: str = "") -> list[str]:
        return sorted(p for p in self.files if p.startswith(prefix))

    def _files_read(self, path: str) -> Any:
        return self.files.get(path)

    def _files_upload(self, path: str, content: Any = None, base64: Any = None, content_type: Any = None) -> Any:
        self.files[path] = content if content is not None else {"base64": base64}
        return {"path": path}

    def _files_delete(self, path: str) -> bool:
        return self.files.pop(path, None) is not None

    def _llm_run(self, prompt: str, options: Any = None) -> str:
        return f"summary of: {prompt[:40]}"

    def _email_send(self, to: Any, subject: str, body: str, html: Any = None) -> dict[str, Any]:
        self.emails.append({"to": to, "subject": subject, "body": body, "html": html})
        return {"queued": True}

    def _emit(self, event_type: str, data: Any = None) -> None:
        self.emitted.append((event_type, {} if data is None else data))

    def _storage_get(self, key: str) -> Any:
        return self.storage.get(key)

    def _storage_set(self, key: str, value: Any) -> None:
        self.storage[key] = value

    def _storage_exists(self, key: str) -> bool:
        return key in self.storage

    def _storage_list_keys(self, pattern: str = "*") -> list[str]:
        return match_keys(self.storage, pattern)

    def _storage_delete(self, key: str) -> bool:
        return self.storage.pop(key, None) is not None

    def _storage_clear(self) -> None:
        self.storage.clear()

    def _config_get(self) -> dict[str, Any]:
        return dict(self.config)

    def _config_save(self, values: dict[str, Any]) -> None:
        self.config = dict(values)

    def _api_call(self, resource: str, action: str, id: Any = None, data: Any = None, params: Any = None) -> Any:
        self.api_calls.append({"resource": resource, "action": action, "id": id, "data": data, "params": params})
        if action == "list":
            return []
        return {"id": id or f"{resource}-1", **(data or {})}

    def _add_task(self, **task: Any) -> str:
        task_id = f"task-{len(self.tasks) + 1}"
        self.tasks.append({"id": task_id, **task})
        return task_id

    def _scheduler_run_at(self, when: str, handler: str, kwargs: Any = None) -> str:
        return self._add_task(type="once", when=when, handler=handler, kwargs=kwargs or {})

    def _scheduler_run_in(self, delay_seconds: float, handler: str, kwargs: Any = None) -> str:
        return self._add_task(type="once", delay_seconds=delay_seconds, handler=handler, kwargs=kwargs or {})

    def _scheduler_schedule(self, cron: str, task_name: str, handler: str, kwargs: Any = None) -> str:
        return self._add_task(type="cron", cron=cron, task_name=task_name, handler=handler, kwargs=kwargs or {})

    def _scheduler_cancel(self, task_id: str) -> bool:
        before = len(self.tasks)
        self.tasks = [t for t in self.tasks if t["id"] != task_id]
        return len(self.tasks) < before

    def _scheduler_cancel_all(self) -> None:
        self.tasks.clear()

    def _scheduler_get_tasks(self) -> list[dict[str, Any]]:
        return list(self.tasks)
