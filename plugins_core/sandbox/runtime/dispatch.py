"""Calling plugin handlers inside the worker, per invocation kind.

The SDK is imported inside functions here and in `worker.py`: this runtime is bound into
the jail as its own package and loaded before the zygote has imported the SDK.

Calling conventions (documented in docs/sandbox.md):
- SBH: hooks `fn(ctx, event_data)`, routes `fn(ctx, **path_params)`, jobs `fn(ctx)`.
- Ops-Center: hooks `fn(**payload)`, filters `fn(value) -> value`, routes `fn(**path_params)`,
  lifecycle `fn()`, scheduled tasks `fn(**kwargs)`; `async def` handlers are driven here.
- transforms: `fn(event_data)` from `path/to/file.py#function`.
Routes are resolved here, by path and method, so the host needs only the request. A hook or
filter call runs exactly one handler, named by the host, whose dispatcher orders them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MethodNotAllowed", "NotFound", "dispatch", "dry_run_lifecycle"]


class NotFound(LookupError):
    """Nothing in the plugin answers this hook, route, job, task or transform."""


class MethodNotAllowed(LookupError):
    """The route exists but not for this HTTP method."""


def _ctx(context: dict[str, Any]) -> Any:
    from plugyard_sdk.context import PluginContext

    return PluginContext(context.get("tenant_id") or "", context.get("user_id"),
                         installation_id=context.get("installation_id"), config=context.get("config"),
                         request=context.get("request"))


def _one(regs: list[Any], what: str, name: str, handler: str | None) -> Any:
    """The one handler a call runs: the host names it (its dispatcher orders and records
    each handler separately); unnamed, the event must have exactly one."""
    chosen = [r for r in regs if handler in (None, r.handler)]
    if not chosen:
        raise NotFound(f"the plugin has no {what} {handler or ''} for '{name}'".replace("  ", " "))
    if len(chosen) > 1:
        raise NotFound(f"the plugin has {len(chosen)} {what}s for '{name}'; a call runs one, by name")
    return chosen[0]


def _hook(worker: Any, event: str, payload: Any, context: dict[str, Any], handler: str | None) -> Any:
    reg = _one(worker.registry.handlers_for(event), "handler", event, handler)
    if reg.style == "sbh":
        return worker._run_plugin(reg.fn, _ctx(context), payload)
    if isinstance(payload, dict):
        return worker._run_plugin(reg.fn, **payload)
    return worker._run_plugin(reg.fn, payload)


def _filter(worker: Any, name: str, value: Any, handler: str | None) -> Any:
    reg = _one(worker.registry.handlers_for(name, "filter"), "filter", name, handler)
    return worker._run_plugin(reg.fn, value)


def _route(worker: Any, path: str | None, context: dict[str, Any]) -> dict[str, Any]:
    from plugyard_sdk._collect import NoRoute

    request = context.get("request") or {}
    method = (request.get("method") or "GET").upper()
    try:
        reg, params = worker.registry.match_route(method, path or request.get("path") or "/")
    except NoRoute as missing:
        if missing.allowed:
            raise MethodNotAllowed(f"{method} not allowed; allowed: {', '.join(missing.allowed)}") from None
        raise NotFound(f"no route matches {method} {missing}") from None
    if reg.style == "sbh":
        result = worker._run_plugin(reg.fn, _ctx(context), **params)
    else:
        result = worker._run_plugin(reg.fn, **params)
    return _response(result)


def _response(result: Any) -> dict[str, Any]:
    """`dict` → 200; `(body, status)` or `(body, status, headers)` → that status."""
    if isinstance(result, tuple) and 2 <= len(result) <= 3 and isinstance(result[1], int):
        headers = result[2] if len(result) == 3 and isinstance(result[2], dict) else {}
        return {"status": result[1], "body": result[0], "headers": headers}
    return {"status": 200, "body": result, "headers": {}}


def dispatch(worker: Any, kind: str | None, name: str | None, payload: Any, context: dict[str, Any],
             handler: str | None = None) -> Any:
    reg = worker.registry
    if kind == "hook":
        return _hook(worker, name or "", payload, context, handler)
    if kind == "filter":
        return _filter(worker, name or "", payload, handler)
    if kind == "route":
        return _route(worker, name, context)
    if kind == "job":
        job = reg.job(name or "")
        if job is None:
            raise NotFound(f"the plugin has no job '{name}'")
        return worker._run_plugin(job.fn, _ctx(context))
    if kind == "task":
        fn = reg.functions.get(name or "")
        if fn is None:
            raise NotFound(f"the plugin has no function '{name}' to run as a task")
        return worker._run_plugin(fn, **(payload or {}))
    if kind == "lifecycle":
        stage = (name or "").removeprefix("on_")
        return [{"handler": n, "value": worker._run_plugin(fn)} for n, fn in reg.lifecycle.get(stage, [])]
    if kind == "transform":
        path, _, func = (name or "").partition("#")
        if not path.endswith(".py") or not func:
            raise NotFound(f"transform entry must look like 'transforms/file.py#function', got '{name}'")
        module_name = path[:-3].replace("/", ".")
        if not worker.guard.is_plugin_module(module_name):
            raise NotFound(f"the plugin has no file '{path}'")
        module = worker._run_plugin(worker.guard.load_plugin_module, module_name)
        fn = getattr(module, func, None)
        if not callable(fn):
            raise NotFound(f"{path} has no function '{func}'")
        return worker._run_plugin(fn, payload)
    raise NotFound(f"unknown invocation kind '{kind}'")


def dry_run_lifecycle(worker: Any) -> list[str]:
    """At inspection, run install/enable handlers against the host's *inspection* bridge (a
    recorder with no side effects) so the scheduler tasks they register become knowable."""
    errors = []
    for stage in ("install", "enable"):
        for name, fn in worker.registry.lifecycle.get(stage, []):
            try:
                worker._run_plugin(fn)
            except MemoryError:
                raise
            except Exception as exc:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return errors
