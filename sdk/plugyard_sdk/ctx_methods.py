"""The one table of ``ctx`` methods: name, permission, arguments and budget of each host call.

Every ``ctx.*`` call a plugin makes is an RPC named here. The host bridge serves exactly
these methods and validates their arguments from this table; the sandbox refuses any other
name before it reaches the host; the jail's client and the test kit's fakes check calls
against it too, so a call the host would refuse is refused — with the same message — in a
local test. Standard library only: this module is imported inside the sandbox.

Permissions: ``None`` (the installation's own data: secrets, storage, config, emit,
scheduler), a permission name, or :data:`RESOURCE_DEPENDENT` (``db.*`` and ``api.call``:
the resource's own permission, e.g. ``devices.read``, or the generic ``db.read`` /
``db.write``, which the host checks once it knows the resource).

Budgets are calls per invocation, counted by the host for each method separately; the
host's ``PLUGYARD_CTX_BUDGETS`` setting overrides them (``{"emit": 20}``). The defaults:
emit 10 (a hook that fans one event out into dozens is the loop the issue tracker saw),
http.request 20, llm.run 10, email.send 10, secrets.get 50, scheduler.* 20, config.* 20,
files.* 100 (writes 50), db.* and api.call 200, storage.* 500. The sandbox's own
``max_rpc_calls`` (1000) still caps all calls of one invocation together.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "API_READ_ACTIONS",
    "CTX_METHODS",
    "JSON_TYPES",
    "RESOURCE_DEPENDENT",
    "Arg",
    "CallBudget",
    "CallRefused",
    "CtxMethod",
    "HostError",
    "check_args",
    "check_call",
    "match_keys",
    "method_named",
    "permission_message",
    "resolve_budgets",
    "unknown_method_message",
]

#: The permission of ``db.*`` and ``api.call``: which one depends on the resource named.
RESOURCE_DEPENDENT: Final = "resource-dependent"

#: ``api.call`` actions that only read (the rest need the resource's write permission).
API_READ_ACTIONS: Final = frozenset({"list", "get"})

#: The JSON types an argument may declare; ``any`` is any JSON value, null included.
JSON_TYPES: Final = frozenset({"string", "integer", "number", "boolean", "object", "array", "null", "any"})


class HostError(RuntimeError):
    """The host refused or failed a ctx call for a reason it is safe to show the plugin."""


class CallRefused(HostError):
    """A call the table refuses: ``code`` is ``unknown_method``, ``bad_arguments`` or ``over_budget``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Arg:
    """One keyword argument of a ctx method and the JSON types it accepts."""

    name: str
    types: tuple[str, ...]
    required: bool = False

    def accepts(self, value: Any) -> bool:
        return any(_IS_TYPE[t](value) for t in self.types)


@dataclass(frozen=True)
class CtxMethod:
    """One host call: its RPC name, the permission it needs, its arguments, its budget.

    ``generic_permission`` is the grant that covers a resource-dependent method for every
    resource (``db.read`` for ``db.query``): what the test kit's fakes, which know no
    resources, check instead.
    """

    name: str
    permission: str | None
    args: tuple[Arg, ...]
    budget: int
    returns: str
    generic_permission: str | None = None

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    @property
    def local_permission(self) -> str | None:
        """The permission a fake that knows no resources checks: the named one, or the generic
        grant of a resource-dependent method (none for ``api.call``: it depends on the action)."""
        return self.generic_permission if self.permission == RESOURCE_DEPENDENT else self.permission


def _req(name: str, *types: str) -> Arg:
    return Arg(name, types, True)


def _opt(name: str, *types: str) -> Arg:
    return Arg(name, types, False)


_TASK = (_req("handler", "string"), _opt("kwargs", "object"))

_TABLE: tuple[CtxMethod, ...] = (
    CtxMethod("secrets.get", None, (_req("name", "string"),), 50, "string or null"),
    CtxMethod("http.request", "outbound_http",
              (_req("method", "string"), _req("url", "string"), _opt("headers", "object"), _opt("params", "object"),
               _opt("json", "any"), _opt("data", "string", "object"), _opt("timeout", "number")),
              20, "{status_code, headers{}, text}"),
    CtxMethod("db.query", RESOURCE_DEPENDENT,
              (_req("table", "string"), _opt("filters", "object"), _opt("limit", "integer"),
               _opt("order_by", "string")), 200, "[row]", "db.read"),
    CtxMethod("db.get_by_id", RESOURCE_DEPENDENT, (_req("table", "string"), _req("id", "string", "integer")),
              200, "row or null", "db.read"),
    CtxMethod("db.insert", RESOURCE_DEPENDENT, (_req("table", "string"), _req("data", "object")),
              200, "row", "db.write"),
    CtxMethod("db.update", RESOURCE_DEPENDENT,
              (_req("table", "string"), _req("id", "string", "integer"), _req("data", "object")),
              200, "row or null", "db.write"),
    CtxMethod("files.list", "files.read", (_opt("prefix", "string"),), 100, "[path]"),
    CtxMethod("files.read", "files.read", (_req("path", "string"),), 100,
              "string, {base64} for bytes, or null"),
    CtxMethod("files.upload", "files.write",
              (_req("path", "string"), _opt("content", "string"), _opt("base64", "string"),
               _opt("content_type", "string")), 50, "{path, size, content_type?}"),
    CtxMethod("files.delete", "files.write", (_req("path", "string"),), 50, "boolean"),
    CtxMethod("llm.run", "llm.use", (_req("prompt", "string"), _opt("options", "object")), 10, "string"),
    CtxMethod("email.send", "send_email",
              (_req("to", "string", "array"), _req("subject", "string"), _req("body", "string"),
               _opt("html", "string")), 10, "{queued, …}"),
    CtxMethod("emit", None, (_req("event_type", "string"), _opt("data", "object")), 10,
              "{event_id, event_type}"),
    CtxMethod("storage.get", None, (_req("key", "string"),), 500, "value or null"),
    CtxMethod("storage.set", None, (_req("key", "string"), _req("value", "any")), 500, "null"),
    CtxMethod("storage.exists", None, (_req("key", "string"),), 500, "boolean"),
    CtxMethod("storage.list_keys", None, (_opt("pattern", "string"),), 500, "[key] (fnmatch pattern)"),
    CtxMethod("storage.delete", None, (_req("key", "string"),), 500, "boolean"),
    CtxMethod("storage.clear", None, (), 500, "number of keys removed"),
    CtxMethod("config.get", None, (), 20, "{config}"),
    CtxMethod("config.save", None, (_req("values", "object"),), 20, "{config} (checked against config_schema)"),
    CtxMethod("api.call", RESOURCE_DEPENDENT,
              (_req("resource", "string"), _req("action", "string"), _opt("id", "string", "integer"),
               _opt("data", "object"), _opt("params", "object")), 200, "list or object"),
    CtxMethod("scheduler.run_at", None, (_req("when", "string"), *_TASK), 20, "task_id"),
    CtxMethod("scheduler.run_in", None, (_req("delay_seconds", "number"), *_TASK), 20, "task_id"),
    CtxMethod("scheduler.schedule", None, (_req("cron", "string"), _req("task_name", "string"), *_TASK), 20,
              "task_id"),
    CtxMethod("scheduler.cancel", None, (_req("task_id", "string"),), 20, "boolean"),
    CtxMethod("scheduler.cancel_all", None, (), 20, "number of tasks cancelled"),
    CtxMethod("scheduler.get_tasks", None, (), 20, "[task]"),
)

#: Every ctx method by name, in the order above (read-only).
CTX_METHODS: Mapping[str, CtxMethod] = MappingProxyType({m.name: m for m in _TABLE})

_IS_TYPE = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list | tuple),
    "null": lambda v: v is None,
    "any": lambda v: v is None or isinstance(v, str | int | float | bool | dict | list | tuple),
}
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "an object", "array": "a list", "null": "null", "any": "a JSON value"}


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _IS_TYPE[name](value):
            return name
    return f"a Python {type(value).__name__}"


def unknown_method_message(method: Any) -> str:
    """What a plugin sees for a method outside the table, wherever the call is refused."""
    return f"ctx: no host method {str(method)[:60]!r}"


def permission_message(method: str, permission: str) -> str:
    """The text of the PermissionError a plugin sees for a call it lacks the permission for."""
    return f"{method} requires permission '{permission}'"


def method_named(method: Any) -> CtxMethod:
    """The table's row for ``method``, or CallRefused (``unknown_method``)."""
    spec = CTX_METHODS.get(method) if isinstance(method, str) else None
    if spec is None:
        raise CallRefused("unknown_method", unknown_method_message(method))
    return spec


def check_args(spec: CtxMethod, args: Any) -> dict[str, Any]:
    """``args`` checked against the method's row, ready for its handler; else CallRefused naming the argument.

    An optional argument given as null is the same as one left out (the handler's default
    applies), so the result holds only what the handler should see.
    """
    method = spec.name
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise CallRefused("bad_arguments", f"ctx.{method}: arguments must be an object")
    unexpected = sorted(str(name) for name in args if name not in spec.arg_names)
    if unexpected:
        raise CallRefused("bad_arguments", f"ctx.{method}: unexpected argument {unexpected[0][:60]!r}; "
                                           f"arguments: {', '.join(spec.arg_names) or 'none'}")
    clean: dict[str, Any] = {}
    for arg in spec.args:
        if arg.name not in args:
            if arg.required:
                raise CallRefused("bad_arguments", f"ctx.{method}: missing argument {arg.name!r}")
            continue
        value = args[arg.name]
        if value is None and not arg.required:
            continue
        if not arg.accepts(value):
            wanted = " or ".join(_TYPE_NAMES[t] for t in arg.types)
            raise CallRefused("bad_arguments",
                              f"ctx.{method}: argument {arg.name!r} must be {wanted}, not {_json_type(value)}")
        clean[arg.name] = value
    return clean


def check_call(method: Any, args: Any) -> tuple[CtxMethod, dict[str, Any]]:
    """:func:`method_named` then :func:`check_args`: what a client checks before sending a call."""
    spec = method_named(method)
    return spec, check_args(spec, args)


def resolve_budgets(overrides: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Each method's calls per invocation: the table's, with ``overrides`` (a host setting) applied.

    Raises ValueError for a name outside the table or a budget that is not a whole number ≥ 0,
    so a typo in the setting fails loudly instead of leaving a method unbounded.
    """
    budgets = {name: spec.budget for name, spec in CTX_METHODS.items()}
    for name, value in (overrides or {}).items():
        if name not in budgets:
            raise ValueError(f"ctx budget for {name!r}: there is no such ctx method")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"ctx budget for {name!r}: {value!r} is not a whole number of calls")
        budgets[name] = value
    return budgets


class CallBudget:
    """Counts one invocation's calls per method; the call past a method's budget is refused.

    A refused call still counts, so a plugin that loops on a refusal stays refused; what
    was refused is kept in ``exceeded`` (method → refused calls) for the invocation's record.
    """

    def __init__(self, budgets: Mapping[str, int] | None = None) -> None:
        self.budgets = dict(budgets) if budgets is not None else resolve_budgets()
        self.used: dict[str, int] = {}
        self.exceeded: dict[str, int] = {}

    def charge(self, method: str) -> None:
        used = self.used[method] = self.used.get(method, 0) + 1
        limit = self.budgets.get(method, 0)
        if used > limit:
            self.exceeded[method] = self.exceeded.get(method, 0) + 1
            raise CallRefused("over_budget", f"ctx.{method}: over the budget of {limit} calls per invocation")


def match_keys(keys: Iterable[str], pattern: str | None) -> list[str]:
    """``storage.list_keys("device:*")`` semantics (fnmatch, case-sensitive), shared by host and fakes."""
    return sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern or "*"))
