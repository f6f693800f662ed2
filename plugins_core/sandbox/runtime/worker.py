"""The worker: one process per installation, forked from the zygote, serving calls.

It loads the plugin lazily (first call, inside that call's deadline), then answers `call`
and `inspect` frames. ctx services are RPC frames back to the host over the same channel.
Everything the plugin prints or logs is captured and capped. A MemoryError or a tripped
audit hook ends the worker after it has answered: its state can no longer be trusted.
The SDK is imported inside functions: this runtime loads before the zygote imports it.
"""

from __future__ import annotations

import json
import os
import resource
import time
import traceback
from typing import Any

from . import dispatch as _dispatch
from . import protocol
from .guard import Guard, SandboxViolation

__all__ = ["Worker"]


class _Exit(Exception):
    """The host asked us to stop, or the channel broke."""


class LogBuffer:
    """Captured lines, capped by count and bytes; the overflow becomes one marker line."""

    def __init__(self, max_lines: int, max_bytes: int) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.dropped = 0
        self.max_lines, self.max_bytes = max_lines, max_bytes

    def add(self, level: str, message: str) -> None:
        line = message if level == "print" else f"{level.upper()}: {message}"
        line = line[:2000]
        if len(self.lines) >= self.max_lines or self.size + len(line) > self.max_bytes:
            self.dropped += 1
            return
        self.lines.append(line)
        self.size += len(line)

    def result(self) -> list[str]:
        if self.dropped:
            return self.lines + [f"[plugyard: {self.dropped} more log line(s) dropped: output limit]"]
        return list(self.lines)


class RpcBackend:
    """`ctx.*` → `{"op": "rpc"}` frames; the host's answer (or refusal) comes back in-line.

    A call is checked against the ctx table before it is sent: a method outside it or a
    malformed argument fails here, with the message the host would give, without a round
    trip. The host checks again — this is a courtesy to the plugin, not the barrier.
    """

    def __init__(self, worker: Worker) -> None:
        # Like the rest of this package, the SDK is imported where it is used, not at load
        # time (the package is stdlib-only at import); the zygote has preloaded it by now.
        from plugyard_sdk import ctx_methods

        self._table = ctx_methods
        self._worker = worker
        self._ids = 0

    def call(self, method: str, args: dict[str, Any]) -> Any:
        table = self._table
        try:
            table.check_call(method, args)
        except table.CallRefused as refused:  # a plain HostError, as if the host had refused it
            raise table.HostError(str(refused)) from None
        self._ids += 1
        w = self._worker
        try:
            protocol.write_frame(w.fd, {"op": "rpc", "id": self._ids, "method": method, "args": args},
                                 max_size=w.policy["max_frame_bytes"])
        except protocol.FrameTooLarge:
            raise table.HostError(f"{method}: arguments too large") from None
        except protocol.BadFrame as refused:
            raise table.HostError(f"{method}: arguments cannot be sent to the host: {refused}") from None
        while True:
            try:
                reply = protocol.read_frame(w.fd, max_size=w.policy["max_frame_bytes"])
            except (protocol.PeerClosed, OSError):
                os._exit(0)
            if reply.get("op") == "rpc_result" and reply.get("id") == self._ids:
                break
        if reply.get("ok"):
            return reply.get("value")
        error = reply.get("error") or {}
        if error.get("type") == "permission":
            raise PermissionError(table.permission_message(method, str(error.get("permission"))))
        raise table.HostError(error.get("message") or f"{method} failed")


class Worker:
    def __init__(self, fd: int, guard: Guard, policy: dict[str, Any], entry: str) -> None:
        self.fd, self.guard, self.policy, self.entry = fd, guard, policy, entry
        self.registry: Any = None
        self.load_error: BaseException | None = None
        self.logs = LogBuffer(policy["max_log_lines"], policy["max_log_bytes"])
        self.recycle = False
        self._loop: Any = None

    # ---- loop
    def serve(self) -> None:
        from plugyard_sdk.context import _runtime

        _runtime.backend = RpcBackend(self)
        _runtime.in_sandbox = True
        _runtime.log_sink = self._log
        self.guard.lock(self._log)
        protocol.write_frame(self.fd, {"op": "hello"})
        while True:
            try:
                msg = protocol.read_frame(self.fd, max_size=self.policy["max_frame_bytes"])
            except (protocol.PeerClosed, OSError, ValueError):
                os._exit(0)
            if msg.get("op") == "exit":
                os._exit(0)
            reply = self._handle(msg)
            try:
                protocol.write_frame(self.fd, reply, max_size=self.policy["max_frame_bytes"])
            except protocol.FrameTooLarge:
                reply.update(status="error", value=None, error_type="ResultTooLarge",
                             error="the handler's result is larger than the sandbox allows")
                protocol.write_frame(self.fd, reply)
            except protocol.BadFrame as refused:  # a log line or an error text no JSON can carry
                protocol.write_frame(self.fd, {"op": "done", "id": reply.get("id"), "status": "error",
                                               "error_type": "BadResult", "error": str(refused)[:200]})
            if self.recycle:
                os._exit(0)

    def _log(self, level: str, message: str) -> None:
        self.logs.add(level, message)

    # ---- loading
    def _load(self) -> None:
        if self.registry is not None or self.load_error is not None:
            return
        from plugyard_sdk._collect import collect

        module_name = self.entry[:-3].replace("/", ".") if self.entry.endswith(".py") else self.entry
        try:
            self._run_plugin(self.guard.load_plugin_module, module_name)
        except BaseException as exc:  # the plugin's own failure, reported with file and line
            self.load_error = exc
            return
        namespaces = [vars(self.guard.modules[module_name])]
        namespaces += [vars(m) for n, m in self.guard.modules.items() if n != module_name]
        self.registry = collect(namespaces)

    def _run_plugin(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run plugin code with the tripwire armed; drive coroutines without asyncio."""
        self.guard.active = True
        try:
            value = fn(*args, **kwargs)
            if hasattr(value, "__await__"):
                value = self._await(value)
            return value
        finally:
            self.guard.active = False
            self.guard.flush()

    def _await(self, awaitable: Any) -> Any:
        """SDK awaits complete at once, so a plain driver suffices — unless the plugin uses
        asyncio itself (sleep, gather): then a per-worker event loop runs it."""
        if not self.guard.uses_asyncio:
            return _drive(awaitable)
        import asyncio

        if self._loop is None:
            self.guard.active = False
            self._loop = asyncio.new_event_loop()
            self.guard.active = True
        return self._loop.run_until_complete(awaitable)

    # ---- dispatch
    def _handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        from plugyard_sdk.context import _runtime

        self.logs = LogBuffer(self.policy["max_log_lines"], self.policy["max_log_bytes"])
        self.guard.tripped.clear()
        started = time.perf_counter()
        context = msg.get("context") or {}
        _runtime.config = dict(context.get("config") or {})
        version = context.get("plugin_version")
        _runtime.plugin_version = version if isinstance(version, str) else None
        reply: dict[str, Any] = {"op": "done", "id": msg.get("id"), "status": "ok", "value": None}
        try:
            self._load()
            if self.load_error is not None:
                raise self.load_error
            if msg.get("op") == "inspect":
                reply["value"] = self._inspect()
            else:
                reply["value"] = _dispatch.dispatch(self, msg.get("kind"), msg.get("name"), msg.get("payload"), context,
                                          msg.get("handler"))
        except MemoryError:
            reply.update(status="memory", error_type="MemoryError", error="the plugin exceeded its memory limit")
            self.recycle = True
        except BaseException as exc:
            reply.update(_describe(exc, self.guard))
        finally:
            self.guard.active = False
        if self.guard.tripped:
            reply["audit"] = list(self.guard.tripped)
            self.recycle = True
        try:
            protocol.check_value(reply["value"])  # iterative: first, so nothing below recurses deep
            json.dumps(reply["value"], default=str, allow_nan=False)
        except (protocol.BadFrame, ValueError, RecursionError) as refused:  # NaN, Infinity, too deep, too long
            reply.update(status="error", value=None, error_type="BadResult",
                         error=f"the handler's result cannot be sent to the host: {refused}")
        except TypeError:  # e.g. a dict with tuple keys: send what it looks like
            reply["value"] = repr(reply["value"])[:1000]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        reply.update(logs=self.logs.result(), duration_ms=(time.perf_counter() - started) * 1000,
                     peak_rss_kb=usage.ru_maxrss, cpu_s=usage.ru_utime + usage.ru_stime)
        return reply

    def _inspect(self) -> dict[str, Any]:
        described = self.registry.describe()
        described["dry_run_errors"] = _dispatch.dry_run_lifecycle(self)
        return described


def _drive(coro: Any) -> Any:
    """Run an `async def` handler: it may await only SDK calls, which complete at once."""
    it = coro.__await__()
    try:
        yielded = it.send(None)
    except StopIteration as done:
        return done.value
    it.close()
    raise RuntimeError(f"awaited {yielded!r}: only plugin SDK calls can be awaited in the sandbox")


def _describe(exc: BaseException, guard: Guard) -> dict[str, Any]:
    """The plugin's exception, with only the plugin's own frames (never host paths)."""
    frames = []
    tb = exc.__traceback__
    plugin_files = guard.sources
    for frame in traceback.extract_tb(tb):
        if frame.filename in plugin_files:
            source = plugin_files[frame.filename][0].splitlines()
            line = source[frame.lineno - 1].strip() if frame.lineno and frame.lineno <= len(source) else ""
            frames.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n    {line}')
    location = None
    if isinstance(exc, SyntaxError) and exc.filename in plugin_files:
        location = {"file": exc.filename, "line": exc.lineno}
        frames.append(f'  File "{exc.filename}", line {exc.lineno}\n    {(exc.text or "").strip()}')
    elif frames:
        last = [f for f in traceback.extract_tb(tb) if f.filename in plugin_files][-1]
        location = {"file": last.filename, "line": last.lineno}
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    kind = type(exc).__name__
    text = "Traceback (plugin frames only):\n" + "\n".join(frames) + f"\n{kind}: {message}" if frames \
        else f"{kind}: {message}"
    return {"status": "error", "error_type": "SandboxViolation" if isinstance(exc, SandboxViolation) else kind,
            "error": f"{kind}: {message}"[:2000], "traceback": text[:8000], "location": location}
