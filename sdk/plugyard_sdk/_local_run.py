"""Running one recorded call against the plugin's local code, with the test kit: ``replay``'s local half.

The call runs in a child interpreter (a hang costs a timeout, not the CLI), loaded as
``inspect_local`` loads it (the sandbox's builtins, the runtime's one ``collect``) and
called with the sandbox's conventions: SBH hooks ``fn(ctx, payload)``, routes
``fn(ctx, **params)``, jobs ``fn(ctx)``; Ops-Center hooks ``fn(**payload)``, filters
``fn(value)``, routes ``fn(**params)``, tasks ``fn(**kwargs)``, ``async def`` driven. The
``ctx`` talks to the local fakes (no host is bound) and each ``Plugin`` gets the test kit's
mocks (``testing.use_mocks``), so nothing leaves the machine. The outcome has the
server's shape: ``status``, ``result``, ``error``, ``logs``, ``duration_ms``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = ["run_call"]

_MARKER: Final = "\n@@plugyard-outcome@@"

# argv: <plugin dir> <entry> <sdk dir>; the call as JSON on stdin.
_CHILD_PROGRAM: Final = r"""
import asyncio, importlib, inspect, io, json, logging, os, sys, time, traceback, contextlib
root, entry, sdk_dir = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path[:0] = [root, sdk_dir]
call = json.loads(sys.stdin.read())
from plugyard_sdk.plugin_builtins import install
install()
logs = []
class _Keep(logging.Handler):
    def emit(self, record):
        logs.append(f"{record.levelname} {record.getMessage()}")
logging.basicConfig(level=logging.DEBUG, handlers=[_Keep()], force=True)
printed = io.StringIO()
outcome = {"status": "ok", "result": None, "error": None}
started = time.perf_counter()
def run(fn, *args, **kwargs):
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        value = asyncio.run(value) if inspect.iscoroutine(value) else asyncio.run(_wait(value))
    return value
async def _wait(value):
    return await value
try:
    with contextlib.redirect_stdout(printed):
        from plugyard_sdk._collect import NoRoute, collect
        from plugyard_sdk.context import PluginContext
        from plugyard_sdk.testing import use_mocks
        module_name = entry[:-3].replace("/", ".") if entry.endswith(".py") else entry
        module = importlib.import_module(module_name)
        own = [m for n, m in list(sys.modules.items())
               if n != module_name and os.path.abspath(getattr(m, "__file__", None) or "/").startswith(root + os.sep)]
        reg = collect([vars(module)] + [vars(m) for m in own])
        for plugin in reg.plugins:
            use_mocks(plugin, call.get("config") or {})
        request = call.get("request") or None
        ctx = lambda: PluginContext("local", None, config=call.get("config") or {}, request=request)
        kind, name, handler, payload = call["kind"], call.get("name") or "", call.get("handler"), call.get("payload")
        def one(regs):
            chosen = [r for r in regs if handler in (None, r.handler)] or regs[:1]
            if not chosen:
                raise LookupError(f"the local code has no handler {handler or ''} for {name!r}")
            return chosen[0]
        if kind == "hook":
            h = one(reg.handlers_for(name))
            value = run(h.fn, ctx(), payload) if h.style == "sbh" else (
                run(h.fn, **payload) if isinstance(payload, dict) else run(h.fn, payload))
        elif kind == "filter":
            value = run(one(reg.handlers_for(name, "filter")).fn, payload)
        elif kind == "route":
            method = ((request or {}).get("method") or "GET").upper()
            try:
                r, params = reg.match_route(method, (request or {}).get("path") or name or "/")
            except NoRoute as missing:
                raise LookupError(f"the local code has no route {method} {missing}") from None
            value = run(r.fn, ctx(), **params) if r.style == "sbh" else run(r.fn, **params)
            if isinstance(value, tuple) and 2 <= len(value) <= 3 and isinstance(value[1], int):
                value = {"status": value[1], "body": value[0], "headers": value[2] if len(value) == 3 else {}}
            else:
                value = {"status": 200, "body": value, "headers": {}}
        elif kind == "job":
            job = reg.job(name)
            if job is None:
                raise LookupError(f"the local code has no job {name!r}")
            value = run(job.fn, ctx())
        elif kind == "task":
            fn = reg.functions.get(name)
            if fn is None:
                raise LookupError(f"the local code has no function {name!r}")
            value = run(fn, **(payload or {}))
        else:
            raise LookupError(f"a {kind} call cannot be replayed locally")
        outcome["result"] = value
except BaseException as exc:
    outcome["status"] = "error"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root + os.sep)]
    where = f" ({os.path.relpath(frames[-1].filename, root)}:{frames[-1].lineno})" if frames else ""
    outcome["error"] = f"{type(exc).__name__}: {exc}{where}"
outcome["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
outcome["logs"] = [line for line in printed.getvalue().splitlines()] + logs
sys.stdout.write(__MARKER__ + json.dumps(outcome, default=str))
""".replace("__MARKER__", repr(_MARKER))


def run_call(files: Mapping[str, bytes], entry: str, call: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
    """Run ``call`` (``kind``, ``name``, ``handler``, ``payload``, ``request``, ``config``) on ``files``."""
    sdk_dir = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="plugyard-replay-") as tmp:
        root = os.path.realpath(tmp)
        for path, data in files.items():
            target = Path(root, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        argv = [sys.executable, "-I", "-B", "-c", _CHILD_PROGRAM, root, entry, sdk_dir]
        try:
            done = subprocess.run(argv, input=json.dumps(dict(call), default=str).encode(), capture_output=True,
                                  timeout=timeout, check=False, cwd=root)
        except subprocess.TimeoutExpired:
            return _failed("timeout", f"the call took longer than {timeout:g} s")
        except OSError as exc:
            return _failed("crash", f"could not start Python ({exc.strerror or exc})")
    _, marker, tail = done.stdout.decode("utf-8", "replace").rpartition(_MARKER)
    if not marker:
        stderr = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return _failed("crash", stderr[-1] if stderr else f"the code stopped the interpreter (exit {done.returncode})")
    try:
        outcome = json.loads(tail)
    except ValueError:
        return _failed("crash", "the outcome could not be read")
    return outcome if isinstance(outcome, dict) else _failed("crash", "the outcome could not be read")


def _failed(status: str, message: str) -> dict[str, Any]:
    return {"status": status, "result": None, "error": message, "logs": [], "duration_ms": None}
