"""The host end of ``ctx``: one installation's calls, each checked against its granted permissions.

The sandbox hands every RPC a plugin makes (``secrets.get``, ``db.query``, ``api.call`` …) to
an :class:`InstallationBridge` built for the installation being served, one per invocation.
Every call goes the same way, from the SDK's one table of ctx methods
(:data:`plugyard_sdk.ctx_methods.CTX_METHODS`): the method is looked up (unknown →
``UnknownMethod``), charged to the invocation's budget for it (over → ``QuotaExceeded``,
code ``over_budget``, recorded), its arguments checked (→ ``BadArguments`` naming the
argument), its permission checked, and only then its handler runs with the installation's
tenant — handlers never take a tenant from the plugin.

In capture-emits mode (``captured=[]``, for test-event) the bridge stores and dispatches no
event: what the plugin raises with ``ctx.emit``, and what host resources raise on its behalf
(a file it uploads), is checked by the same rules and appended to ``captured`` to be reported.

Permissions come from the table: ``db.*`` and ``api.call`` are resource-dependent — the
resource's own permission (``devices.read``) or the generic ``db.read`` / ``db.write`` —
so their handlers check once they know the resource. Budgets are the table's unless the
``PLUGYARD_CTX_BUDGETS`` setting overrides them (``{"emit": 20}``).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from plugyard_sdk.ctx_methods import (
    API_READ_ACTIONS,
    CTX_METHODS,
    RESOURCE_DEPENDENT,
    CallBudget,
    CallRefused,
    check_args,
    method_named,
    resolve_budgets,
)

from plugins_core.events.emit import check_plugin_emit, emit_from_plugin
from plugins_core.host import files, llm, mail, resources, storage
from plugins_core.host import http as host_http
from plugins_core.host.current import current_bridge, serving
from plugins_core.host.errors import (
    BadArguments,
    HostCallError,
    PermissionDenied,
    QuotaExceeded,
    Refused,
    UnknownMethod,
)
from plugins_core.host.events import emit_event
from plugins_core.jobs import scheduler
from plugins_core.secrets import SECRET_NAME_RE, read_secret

__all__ = ["CallRecord", "InstallationBridge", "current_bridge", "serving"]

log = logging.getLogger("plugyard.host")


EVENT_NAME_RE = re.compile(r"^[a-z0-9_]+(?:[.-][a-z0-9_]+){1,7}$")
MAX_EVENT_BYTES = 64 * 1024
PAGING_PARAMS = frozenset({"page", "page_size", "limit", "offset", "order_by", "ordering"})

#: The host error each of the table's refusals becomes (all BridgeErrors: the plugin sees HostError).
_REFUSALS: dict[str, Callable[[str], HostCallError]] = {
    "unknown_method": UnknownMethod,
    "bad_arguments": BadArguments,
    "over_budget": lambda message: QuotaExceeded(message, code="over_budget"),
}


@dataclass(frozen=True)
class CallRecord:
    """One call, for the invocation's record: never its arguments (they may hold secrets)."""

    method: str
    outcome: str  # "ok", "denied" or an error code
    duration_ms: float


class InstallationBridge:
    """Serves one installation's ``ctx`` calls (``HostBridge.call(method, args)``)."""

    def __init__(self, installation, *, user=None, request=None, invocation=None,
                 budgets: Mapping[str, int] | None = None,
                 captured: list[dict[str, Any]] | None = None) -> None:
        self.installation = installation
        self.tenant = installation.tenant
        self.user = user
        self.request = request
        self.invocation = invocation
        self.granted = frozenset(installation.granted_permissions or ())
        self.calls: list[CallRecord] = []
        #: Capture-emits mode when a list: each event this call raised, ``{"event_type", "payload",
        #: "source"}``, in order, none of them stored or dispatched. None: events are raised for real.
        self.captured = captured
        #: This invocation's calls per method against the table's budgets (``budgets``, else
        #: the PLUGYARD_CTX_BUDGETS setting, override them); ``budget.exceeded`` is what was refused.
        self.budget = CallBudget(resolve_budgets(
            budgets if budgets is not None else getattr(settings, "PLUGYARD_CTX_BUDGETS", None)))
        self._handlers: dict[str, Callable[..., Any]] = {
            method: getattr(self, "_" + method.replace(".", "_")) for method in CTX_METHODS
        }

    def __repr__(self) -> str:
        return f"<InstallationBridge {self.installation}>"

    # -- dispatch -----------------------------------------------------------------------------

    def call(self, method: str, args: dict[str, Any] | None = None) -> Any:
        started = time.monotonic()
        outcome = "ok"
        try:
            with serving(self):
                return self._dispatch(method, args)
        except PermissionDenied:
            outcome = "denied"
            raise
        except HostCallError as exc:
            outcome = exc.code
            raise
        finally:
            name = method if isinstance(method, str) and method in CTX_METHODS else "(unknown)"
            self.calls.append(CallRecord(name, outcome, round((time.monotonic() - started) * 1000, 2)))

    def _dispatch(self, method: Any, args: Any) -> Any:
        try:
            spec = method_named(method)
            self.budget.charge(spec.name)  # every call of a known method counts, whatever its outcome
            clean = check_args(spec, args)
        except CallRefused as refused:
            if refused.code == "over_budget" and self.budget.exceeded.get(method) == 1:
                log.warning("installation %s: %s", getattr(self.installation, "pk", None), refused)
            raise _REFUSALS[refused.code](str(refused)) from None
        if spec.permission is not None and spec.permission != RESOURCE_DEPENDENT:
            self.require(spec.permission)
        return self._handlers[spec.name](**clean)

    def has(self, permission: str) -> bool:
        return permission in self.granted

    def require(self, permission: str, *alternatives: str) -> None:
        """Raise PermissionDenied(permission) unless it (or one of the alternatives) is granted."""
        if self.has(permission) or any(self.has(alt) for alt in alternatives):
            return
        also = f" (or '{alternatives[0]}')" if alternatives else ""
        raise PermissionDenied(permission, f"this plugin has not been granted the '{permission}' permission{also}")

    # -- secrets ------------------------------------------------------------------------------

    def _secrets_get(self, name: Any) -> str | None:
        if not isinstance(name, str) or not SECRET_NAME_RE.match(name):
            raise BadArguments("a secret name is letters, digits and underscores, starting with a letter or _")
        return read_secret(self.installation, name)

    # -- http ---------------------------------------------------------------------------------

    def _http_request(self, method: Any, url: Any, headers: Any = None, params: Any = None, json: Any = None,
                      data: Any = None, timeout: Any = None) -> dict[str, Any]:
        return host_http.request(list(self.installation.approved_domains or []), method, url, headers=headers,
                                 params=params, json=json, data=data, timeout=timeout)

    # -- db (SBH) -----------------------------------------------------------------------------

    def _resource(self, table: Any, write: bool, generic: str) -> resources.Resource:
        resource = resources.get_resource(table)
        specific = resource.write_permission if write else resource.read_permission
        if specific:
            self.require(generic, specific)
        else:
            self.require(generic)
        if write and resource.read_only:
            raise Refused(f"{resource.name} is read-only for plugins")
        return resource

    def _db_query(self, table: Any, filters: Any = None, limit: Any = None, order_by: Any = None) -> list[dict]:
        resource = self._resource(table, False, "db.read")
        return resources.list_rows(resource, self.tenant, filters, limit=limit, order_by=order_by)

    def _db_get_by_id(self, table: Any, id: Any) -> dict | None:
        return resources.get_row(self._resource(table, False, "db.read"), self.tenant, id)

    def _db_insert(self, table: Any, data: Any) -> dict:
        return resources.create_row(self._resource(table, True, "db.write"), self.tenant, data)

    def _db_update(self, table: Any, id: Any, data: Any) -> dict:
        return resources.update_row(self._resource(table, True, "db.write"), self.tenant, id, data)

    # -- api (Ops-Center) ---------------------------------------------------------------------

    def _api_call(self, resource: Any, action: Any, id: Any = None, data: Any = None, params: Any = None) -> Any:
        res = resources.get_resource(resource)
        write = action not in API_READ_ACTIONS
        needed = res.write_permission if write else res.read_permission
        if needed is None:
            raise Refused(f"{res.name} is read-only for plugins")
        self.require(needed, "db.write" if write else "db.read")
        if action == "list":
            filters, paging = self._split_params(params)
            return resources.list_rows(res, self.tenant, filters, **paging)
        if action == "get":
            return resources.get_row(res, self.tenant, id)
        if action == "create":
            return resources.create_row(res, self.tenant, data)
        if action == "update":
            return resources.update_row(res, self.tenant, id, data)
        if action == "delete":
            return resources.delete_row(res, self.tenant, id)
        return resources.run_action(res, self.tenant, action, id, data)

    @staticmethod
    def _split_params(params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        if params is None:
            return {}, {}
        if not isinstance(params, dict):
            raise BadArguments("api.call: 'params' must be an object")
        filters = {k: v for k, v in params.items() if k not in PAGING_PARAMS}
        limit = params.get("limit", params.get("page_size"))
        paging: dict[str, Any] = {"limit": limit, "order_by": params.get("order_by", params.get("ordering"))}
        page = params.get("page")
        if page is not None:
            if isinstance(page, bool) or not isinstance(page, int) or page < 1:
                raise BadArguments("'page' must be a positive integer")
            size = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else resources.DEFAULT_LIMIT
            paging["offset"] = (page - 1) * min(size, resources.MAX_LIMIT)
        elif "offset" in params:
            paging["offset"] = params["offset"]
        return filters, paging

    # -- files --------------------------------------------------------------------------------

    def _files_list(self, prefix: Any = "") -> list[str]:
        return files.list_files(self.tenant, prefix)

    def _files_read(self, path: Any) -> Any:
        return files.read(self.tenant, path)

    def _files_upload(self, path: Any, content: Any = None, base64: Any = None, content_type: Any = None) -> dict:
        result = files.upload(self.tenant, path, content, base64, content_type)
        payload = {"path": result["path"], "size": result["size"]}
        if result["content_type"]:
            payload["content_type"] = result["content_type"]
        emit_event(self.tenant, "files.uploaded", payload)
        return result

    def _files_delete(self, path: Any) -> bool:
        deleted = files.delete(self.tenant, path)
        if deleted:
            emit_event(self.tenant, "files.deleted", {"path": files.normalise_path(path)})
        return deleted

    # -- llm, email ---------------------------------------------------------------------------

    def _llm_run(self, prompt: Any, options: Any = None) -> str:
        return llm.run(self.tenant, prompt, options)

    def _email_send(self, to: Any, subject: Any, body: Any, html: Any = None) -> dict:
        return mail.send(to, subject, body, html, tenant=self.tenant)

    # -- emit ---------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """How many plugin emits led to this invocation (0 for a host event)."""
        inv = self.invocation
        depth = inv.get("depth") if isinstance(inv, dict) else getattr(inv, "depth", 0)
        return depth if isinstance(depth, int) and not isinstance(depth, bool) else 0

    @property
    def root(self) -> int | None:
        """The event the chain that led to this invocation began with (None: nothing did)."""
        inv = self.invocation
        root = inv.get("root") if isinstance(inv, dict) else None
        return root if isinstance(root, int) and not isinstance(root, bool) else None

    def _emit(self, event_type: Any, data: Any = None) -> Any:
        import json

        if not isinstance(event_type, str) or not EVENT_NAME_RE.match(event_type):
            raise BadArguments(
                f"{event_type!r} is not an event name: use dotted lowercase words, e.g. 'report.generated'"
            )
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise BadArguments("event data must be an object")
        try:
            size = len(json.dumps(data, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            raise BadArguments(f"event data is not JSON-serialisable: {exc}") from None
        if size > MAX_EVENT_BYTES:
            raise BadArguments(f"event data is {size} bytes; the limit is {MAX_EVENT_BYTES}")
        try:
            if self.captured is not None:
                check_plugin_emit(self.installation, event_type, data, self.depth)
                self.capture(event_type, data, source="ctx.emit")
                return {"event_id": None, "event_type": event_type, "captured": True}
            return emit_from_plugin(self.installation, event_type, data, self.depth, root=self.root)
        except ValueError as exc:  # EventError: reserved name, bad payload, chain too deep
            code = getattr(exc, "code", "refused")
            raise Refused(getattr(exc, "message", str(exc)), code=code) from None

    def capture(self, event_type: str, payload: dict[str, Any], *, source: str) -> None:
        """Keep an event this call raised instead of raising it (capture-emits mode only)."""
        if self.captured is None:
            raise RuntimeError("capture() is for a bridge in capture-emits mode (captured=[])")
        self.captured.append({"event_type": event_type, "payload": payload, "source": source})

    # -- storage, config ----------------------------------------------------------------------

    def _storage_get(self, key: Any) -> Any:
        return storage.get(self.installation, key)

    def _storage_set(self, key: Any, value: Any) -> None:
        storage.set(self.installation, key, value)

    def _storage_exists(self, key: Any) -> bool:
        return storage.exists(self.installation, key)

    def _storage_list_keys(self, pattern: Any = "*") -> list[str]:
        return storage.list_keys(self.installation, pattern)

    def _storage_delete(self, key: Any) -> bool:
        return storage.delete(self.installation, key)

    def _storage_clear(self) -> int:
        return storage.clear(self.installation)

    def _config_get(self) -> dict[str, Any]:
        return storage.config_get(self.installation)

    def _config_save(self, values: Any) -> dict[str, Any]:
        return storage.config_save(self.installation, values)

    # -- scheduler ----------------------------------------------------------------------------

    def _schedule(self, name: str, **args: Any) -> Any:
        return getattr(scheduler, name)(self.installation, **args)

    def _scheduler_run_at(self, when: Any, handler: Any, kwargs: Any = None) -> Any:
        return self._schedule("run_at", when=when, handler=handler, kwargs=kwargs or {})

    def _scheduler_run_in(self, delay_seconds: Any, handler: Any, kwargs: Any = None) -> Any:
        return self._schedule("run_in", delay_seconds=delay_seconds, handler=handler, kwargs=kwargs or {})

    def _scheduler_schedule(self, cron: Any, task_name: Any, handler: Any, kwargs: Any = None) -> Any:
        return self._schedule("schedule", cron=cron, task_name=task_name, handler=handler, kwargs=kwargs or {})

    def _scheduler_cancel(self, task_id: Any) -> Any:
        return self._schedule("cancel", task_id=task_id)

    def _scheduler_cancel_all(self) -> Any:
        return self._schedule("cancel_all")

    def _scheduler_get_tasks(self) -> Any:
        return self._schedule("get_tasks")


