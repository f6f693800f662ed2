"""The in-memory host the runtime falls back on outside the sandbox: `LocalBackend`.

`PluginContext("test-tenant", "test-user")` and a `Plugin`'s services work anywhere, as
the SBH guide's "Local Testing" shows: with no host bound, their calls go to a
`LocalBackend`, which serves every method of the ctx table from dicts and records each
call. It checks calls against the same table as the host (unknown methods, arguments,
permissions when given), so a call the host would refuse fails here too, with the same
message. It lives in the runtime, not the test kit, because the runtime needs a default;
`plugyard_sdk.testing` re-exports it. Standard library only.

Two of its answers are fakes and say so: ``ctx.llm.run`` calls no model (it answers
``LOCAL_LLM_MARKER`` and the prompt's start), and ``ctx.http`` sends nothing (it answers a
canned response with the ``X-Plugyard-Fake`` header). Each logs a warning the first time
(logger ``plugyard_sdk.local``). On a server ``ctx.llm`` needs ``PLUGYARD_LLM_BASE_URL``
(docs/operators.md) and ``ctx.http`` makes the request.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .ctx_methods import (
    API_READ_ACTIONS,
    CallBudget,
    CallRefused,
    HostError,
    check_call,
    match_keys,
    permission_message,
    resolve_budgets,
)

__all__ = ["FAKE_HEADER", "LOCAL_LLM_MARKER", "LocalBackend"]

log = logging.getLogger("plugyard_sdk.local")

#: How a local ``ctx.llm.run`` answer begins: no model was asked.
LOCAL_LLM_MARKER = "[local fake llm: no model was called]"
#: The header every local ``ctx.http`` answer carries: no request was sent.
FAKE_HEADER = "X-Plugyard-Fake"

_PAGING = frozenset({"page", "page_size", "per_page", "limit", "offset", "order_by", "ordering"})


class LocalBackend:
    """In-memory stand-in for the host, recording every call (`.calls`, `.emitted`, `.emails`).

    ``permissions`` (when given) are checked like the host checks them, ``db.*`` against the
    generic ``db.read`` / ``db.write``. ``budgets=True`` (or a mapping of overrides) counts
    calls like one invocation on the host; off by default, since a test's backend outlives
    many calls.
    """

    def __init__(self, *, secrets: dict[str, str] | None = None, tables: dict[str, list[dict[str, Any]]] | None = None,
                 files: dict[str, str | bytes] | None = None, permissions: Iterable[str] | None = None,
                 http_responses: dict[str, dict[str, Any]] | None = None, config: dict[str, Any] | None = None,
                 budgets: bool | Mapping[str, int] = False) -> None:
        self.secrets = dict(secrets or {})
        self.tables = {k: [dict(r) for r in v] for k, v in (tables or {}).items()}
        self.files = dict(files or {})
        self.permissions = None if permissions is None else set(permissions)
        self.http_responses = dict(http_responses or {})
        self.storage: dict[str, Any] = {}
        self.config: dict[str, Any] = dict(config or {})
        self.tasks: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.emitted: list[tuple[str, dict[str, Any]]] = []
        self.emails: list[dict[str, Any]] = []
        self.budget = None if budgets is False else CallBudget(
            resolve_budgets(None if budgets is True else budgets))
        self._ids = itertools.count(1)
        self._warned: set[str] = set()

    def _warn_fake(self, service: str, what: str) -> None:
        if service not in self._warned:
            self._warned.add(service)
            log.warning("%s is a local fake: %s (on a server the host does it for real)", service, what)

    def call(self, method: str, args: dict[str, Any]) -> Any:
        self.calls.append((method, args))
        try:
            spec, clean = check_call(method, args)
            if self.budget is not None:
                self.budget.charge(spec.name)
        except CallRefused as refused:  # a plain HostError, as the plugin sees the host's refusals
            raise HostError(str(refused)) from None
        needed = spec.local_permission
        if needed and self.permissions is not None and needed not in self.permissions:
            raise PermissionError(permission_message(spec.name, needed))
        return getattr(self, "_" + spec.name.replace(".", "_"))(**clean)

    # -- secrets, http ------------------------------------------------------------------------

    def _secrets_get(self, name: str) -> Any:
        return self.secrets.get(name)

    def _http_request(self, method: str, url: str, headers: Any = None, params: Any = None, json: Any = None,
                      data: Any = None, timeout: Any = None) -> dict[str, Any]:
        """A fake: nothing is sent. Answers ``http_responses[f"{method} {url}"]`` (or ``[url]``),
        else an empty JSON 200; every answer carries the ``X-Plugyard-Fake: local`` header."""
        self._warn_fake("ctx.http", f"{method} {url} was not sent; answering a canned response")
        canned = self.http_responses.get(f"{method} {url}") or self.http_responses.get(url) or {
            "status_code": 200, "headers": {"content-type": "application/json"}, "text": "{}"}
        return {**canned, "headers": {**(canned.get("headers") or {}), FAKE_HEADER: "local"}}

    # -- db ------------------------------------------------------------------------------------

    def _db_query(self, table: str, filters: dict[str, Any] | None = None, limit: int | None = None,
                  order_by: str | None = None) -> list[dict[str, Any]]:
        rows = [r for r in self.tables.get(table, []) if all(r.get(k) == v for k, v in (filters or {}).items())]
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

    # -- files, llm, email, emit ---------------------------------------------------------------

    def _files_list(self, prefix: str = "") -> list[str]:
        return sorted(p for p in self.files if p.startswith(prefix))

    def _files_read(self, path: str) -> Any:
        return self.files.get(path)

    def _files_upload(self, path: str, content: str | None = None, base64: str | None = None,
                      content_type: str | None = None) -> dict[str, Any]:
        self.files[path] = content if content is not None else (base64 or "")
        return {"path": path}

    def _files_delete(self, path: str) -> bool:
        return self.files.pop(path, None) is not None

    def _llm_run(self, prompt: str, options: dict[str, Any] | None = None) -> str:
        """A fake: no model is called. Answers ``LOCAL_LLM_MARKER`` and the prompt's first 80 characters."""
        self._warn_fake("ctx.llm", "no model was called; answering the marker and the prompt")
        return f"{LOCAL_LLM_MARKER} {prompt[:80]}"

    def _email_send(self, to: Any, subject: str, body: str, html: str | None = None) -> dict[str, Any]:
        self.emails.append({"to": to, "subject": subject, "body": body, "html": html})
        return {"queued": True}

    def _emit(self, event_type: str, data: dict[str, Any] | None = None) -> None:
        self.emitted.append((event_type, data or {}))

    # -- storage, config -----------------------------------------------------------------------

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

    def _storage_clear(self) -> int:
        count = len(self.storage)
        self.storage.clear()
        return count

    def _config_get(self) -> dict[str, Any]:
        return dict(self.config)

    def _config_save(self, values: dict[str, Any]) -> dict[str, Any]:
        self.config = dict(values)
        return dict(self.config)

    # -- api (Ops-Center): the same in-memory tables as db.* -----------------------------------

    def _api_call(self, resource: str, action: str, id: Any = None, data: dict[str, Any] | None = None,
                  params: dict[str, Any] | None = None) -> Any:
        if action == "list":
            filters = {k: v for k, v in (params or {}).items() if k not in _PAGING}
            return self._db_query(resource, filters)
        if action == "get":
            return self._db_get_by_id(resource, id)
        if action == "create":
            return self._db_insert(resource, data or {})
        if action == "update":
            return self._db_update(resource, id, data or {})
        if action == "delete":
            row = self._db_get_by_id(resource, id)
            if row is not None:
                self.tables[resource].remove(row)
            return row is not None
        row = self._db_get_by_id(resource, id)  # any other action (acknowledge) marks the row
        if row is not None and action not in API_READ_ACTIONS:
            row["status"] = f"{action}d" if action.endswith("e") else f"{action}ed"
        return row

    # -- scheduler -----------------------------------------------------------------------------

    def _add_task(self, **task: Any) -> str:
        task_id = f"task-{next(self._ids)}"
        self.tasks.append({"id": task_id, **task})
        return task_id

    def _scheduler_run_at(self, when: str, handler: str, kwargs: dict[str, Any] | None = None) -> str:
        return self._add_task(type="once", when=when, handler=handler, kwargs=kwargs or {})

    def _scheduler_run_in(self, delay_seconds: float, handler: str, kwargs: dict[str, Any] | None = None) -> str:
        return self._add_task(type="once", delay_seconds=delay_seconds, handler=handler, kwargs=kwargs or {})

    def _scheduler_schedule(self, cron: str, task_name: str, handler: str, kwargs: dict[str, Any] | None = None) -> str:
        return self._add_task(type="cron", cron=cron, task_name=task_name, handler=handler, kwargs=kwargs or {})

    def _scheduler_cancel(self, task_id: str) -> bool:
        before = len(self.tasks)
        self.tasks = [t for t in self.tasks if t["id"] != task_id]
        return len(self.tasks) < before

    def _scheduler_cancel_all(self) -> int:
        count = len(self.tasks)
        self.tasks.clear()
        return count

    def _scheduler_get_tasks(self) -> list[dict[str, Any]]:
        return [dict(t) for t in self.tasks]
