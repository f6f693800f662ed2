"""Running plugin code for an installation: the one place host code calls the sandbox.

``invoke`` builds the sandbox call (which version, which warm worker, what context), hands
the plugin a bridge scoped to this installation, and records the outcome as an
:class:`~plugins_core.models.Invocation` row. Plugin failures are outcomes, never
exceptions: the caller reads ``record.status``.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection

from plugins_core import invocations, packages
from plugins_core.host.bridge import InstallationBridge
from plugins_core.models import Installation, Invocation, InvocationStatus
from plugins_core.sandbox import Invocation as SandboxCall
from plugins_core.sandboxes import get_sandbox

__all__ = ["each_concurrently", "finished_in_groups", "invoke", "sandbox_call"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

def _timeout(kind: str) -> float:
    policy = settings.PLUGYARD_SANDBOX
    return float(policy["job_timeout_s"] if kind in ("job", "task") else policy["hook_timeout_s"])


def sandbox_call(
    installation: Installation, kind: str, name: str, payload: Any = None, *,
    handler: str | None = None, user=None, request: dict[str, Any] | None = None, timeout: float | None = None,
) -> SandboxCall:
    version = installation.version
    plugin_dir = packages.ensure_unpacked(version)
    return SandboxCall(
        version_key=f"{installation.plugin.slug}@{version.version}:{version.sha256[:16]}",
        plugin_dir=str(plugin_dir),
        entry=version.manifest.get("entry") or "main.py",
        # One warm worker per installation and version: an upgrade starts a fresh one.
        installation_key=f"{installation.pk}:{version.pk}",
        kind=kind,
        name=name,
        payload=payload,
        handler=handler,
        timeout=timeout or _timeout(kind),
        context={
            "tenant_id": installation.tenant.slug,
            "user_id": str(user.pk) if getattr(user, "pk", None) else None,
            "installation_id": installation.pk,
            "plugin_version": version.version,  # the manifest's: what plugin.metadata.version reports
            "config": installation.config,
            "request": request,
        },
    )


def invoke(
    installation: Installation, *, kind: str, name: str, payload: Any = None,
    handler: str | None = None, event=None, record: Invocation | None = None, user=None,
    request: dict[str, Any] | None = None, timeout: float | None = None, queue_s: float | None = None,
    commit: bool = True, captured: list[dict[str, Any]] | None = None,
) -> Invocation:
    """Run one call of ``installation``'s code and record it; returns the saved record.

    For hooks and filters ``name`` is the event and ``handler`` the function; for routes
    ``name`` is the path under the plugin's mount; for jobs the job name; for tasks the
    function called with ``payload`` as keyword arguments. ``queue_s`` caps the wait for
    a slot in the tenant's concurrency budget (default: the call's deadline; routes less).
    With ``commit=False`` the record is filled in but not saved: a caller running many
    calls writes them together. With ``captured`` (a list), the events the call raises are
    appended to it instead of being stored and dispatched (test-event).
    """
    if record is None:
        record = Invocation(
            tenant_id=installation.tenant_id, installation=installation, kind=kind,
            name=handler or name, event=event, status=InvocationStatus.RUNNING, attempts=1,
            input=_recorded_input(kind, name, payload, request) if event is None else None,
        )
    record.kind = kind
    record.installation = installation  # loaded, with its plugin and version, for the activity log
    # Lifecycle hooks run while switched off too: on_install and on_disable happen then.
    if not installation.enabled and kind != "lifecycle":
        return invocations.finish(record, InvocationStatus.DENIED, error="the installation is disabled", commit=commit)
    bridge = InstallationBridge(
        installation, user=user, request=request, captured=captured,
        invocation={"depth": getattr(event, "depth", 0), "kind": kind, "name": name,
                    "root": getattr(event, "root_id", None) or getattr(event, "pk", None)},
    )
    try:
        call = sandbox_call(installation, kind, name, payload, handler=handler, user=user, request=request, timeout=timeout)
    except Exception:  # the package could not be unpacked on this machine
        log.exception("cannot prepare %s for %s", name, installation)
        return invocations.finish(record, InvocationStatus.CRASH, commit=commit,
                                  error="the plugin package could not be prepared on this host")
    result = get_sandbox().invoke(call, bridge, queue_s=queue_s)
    if not result.ran and event is not None and kind == "hook":
        # Nothing ran (the tenant is over its budget, or the service is restarting): the
        # hook goes back to pending, and the dispatcher or the stalled sweep runs it again.
        return invocations.release(record, result.error or result.status, commit=commit)
    error = ""
    if not result.ok:
        error = result.error or result.status
        if result.traceback:
            error = f"{error}\n{result.traceback}"
    return invocations.finish(
        record, result.status, value=result.value if result.ok else None, error=error,
        duration_ms=result.duration_ms, peak_kb=result.peak_rss_kb, logs=result.logs, commit=commit,
        report=_report(result, bridge),
    )


def _recorded_input(kind: str, name: str, payload: Any, request: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a call without an event was given, kept for ``plugyard replay``; None past the size cap.

    A hook run by an event has its payload in the event, and a task its kwargs in its
    schedule; routes, filters and test-event hooks have only this.
    """
    recorded = {"name": name, "payload": payload, "request": request}
    try:
        size = len(json.dumps(recorded, default=str))
    except (TypeError, ValueError):
        return None
    return recorded if size <= settings.PLUGYARD_INVOCATION_MAX_RESULT_BYTES else None


def _report(result, bridge: InstallationBridge) -> dict[str, Any]:
    """What the sandbox and the host saw of the call: tripwires, and each ctx call (never its arguments)."""
    return {
        "tripwires": list(result.audit),
        "rpc_calls": result.rpc_calls,
        "ctx_calls": [{"method": c.method, "ms": c.duration_ms, "ok": c.outcome == "ok",
                       **({"error": c.outcome} if c.outcome != "ok" else {})} for c in bridge.calls[:200]],
    }


# --------------------------------------------------------------------------- many calls at once

_executor: ThreadPoolExecutor | None = None
_executor_pid = 0
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """This process's call threads (made after any fork, in the process that uses them)."""
    global _executor, _executor_pid
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(settings.PLUGYARD_DISPATCH_THREADS, thread_name_prefix="plugyard-calls")
            _executor_pid = os.getpid()
        return _executor


def each_concurrently(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``function`` of each item, on this process's call threads (``PLUGYARD_DISPATCH_THREADS``).

    Many installations' calls wait on the sandbox service at once this way; the service's
    budgets keep one tenant from crowding the others. Each thread uses a database
    connection of its own, which cannot see an open transaction's rows: inside one (a test,
    a caller's atomic block) the items run here, one after another. ``function`` must not
    itself call this (a full pool would wait on itself).
    """
    if len(items) <= 1 or connection.in_atomic_block:
        return [function(item) for item in items]
    return list(_pool().map(_on_own_connection(function), items))


def finished_in_groups(function: Callable[[T], R], items: Sequence[T], every_s: float) -> Iterator[list[R]]:
    """As :func:`each_concurrently`, handing back the results as they come: every ``every_s``
    seconds, those finished since the last group (in no particular order).

    A caller writes each group in one transaction: quick calls are recorded together, and
    a slow one never holds the others' records back for longer than ``every_s``.
    """
    if len(items) <= 1 or connection.in_atomic_block:
        for item in items:
            yield [function(item)]
        return
    call = _on_own_connection(function)
    running = {_pool().submit(call, item) for item in items}
    while running:
        done, running = wait(running, timeout=every_s)
        if done:
            yield [future.result() for future in done]


def _on_own_connection(function: Callable[[T], R]) -> Callable[[T], R]:
    def call(item: T) -> R:
        try:
            return function(item)
        finally:
            connection.close()  # this pool thread's own connection; its next item opens a fresh one

    return call
