"""The zygote: one per plugin version, started inside the jail, forking warm workers.

It pre-imports the allowlisted stdlib and the SDK runtime, reads and *compiles* (never
runs) the plugin's sources, installs the zygote seccomp filter (which still allows fork)
and then only forks. Each child drops to the worker limits — rlimits, non-dumpable, the
stricter worker filter (no fork, no clone, no kill, no signals to others) — before any
plugin code exists in it. Plugin code therefore never runs in the zygote, so no tenant's
worker can leave state behind for the next one.

Control channel: a unix socket from the host (fd given on the command line). Frames as in
`protocol`; a `spawn` frame carries the worker's end of a fresh socketpair (SCM_RIGHTS).
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import signal
import socket
import sys
from typing import Any

from . import protocol

__all__ = ["main"]

_MAX_PLUGIN_FILES = 500
_MAX_PLUGIN_SOURCE = 2 * 1024 * 1024


def _compile_sources(plugin_dir: str) -> dict[str, Any]:
    """relpath -> (source, code or the SyntaxError). Compiling runs no plugin code."""
    sources: dict[str, Any] = {}
    total = 0
    for root, dirs, files in os.walk(plugin_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py") or len(sources) >= _MAX_PLUGIN_FILES:
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, plugin_dir).replace(os.sep, "/")
            text = ""
            try:
                with open(path, "rb") as fh:
                    raw = fh.read(_MAX_PLUGIN_SOURCE + 1)
                total += len(raw)
                if len(raw) > _MAX_PLUGIN_SOURCE or total > 4 * _MAX_PLUGIN_SOURCE:
                    raise SyntaxError(f"{rel} is too large for the sandbox")
                text = raw.decode("utf-8")
                code: Any = compile(text, rel, "exec", dont_inherit=True)
            except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError, OSError) as exc:
                if not isinstance(exc, SyntaxError):
                    exc = SyntaxError(f"{type(exc).__name__}: {exc}", (rel, 1, 0, ""))
                exc.filename = rel
                code = exc
            sources[rel] = (text, code)
    return sources


def _preload(names: list[str]) -> dict[str, str]:
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # reported to the host, which decides
            failed[name] = f"{type(exc).__name__}: {exc}"
    return failed


def _is_asyncio(name: str) -> bool:
    return name.partition(".")[0] == "asyncio"


def _names_asyncio(sources: dict[str, Any]) -> bool:
    """asyncio (with logging, ssl and inspect behind it) is most of a zygote's start-up. The
    worker drives coroutines without it unless the plugin imports it, and nothing can be
    imported after lockdown, so it is loaded only for a plugin whose sources name it."""
    return any("asyncio" in text for text, _code in sources.values())


def main(control_fd: int) -> None:
    ctl = socket.socket(fileno=control_fd)
    init = protocol.read_frame(ctl.fileno(), max_size=1 << 20)
    plugin_dir, policy = init["plugin_dir"], init["policy"]
    notes: dict[str, Any] = {}
    os.chdir(plugin_dir)
    notes["preload_failed"] = _preload([name for name in init["preload"] if not _is_asyncio(name)])
    # A spare jail waits here, its plugin directory still empty, until the host has put a
    # plugin in it; a zygote started for a known version gets "go" straight after "init".
    go = protocol.read_frame(ctl.fileno(), max_size=1 << 16)
    init["entry"] = go.get("entry") or init["entry"]
    from . import sysfilter  # imported once the zygote runs: the host side never loads it

    # Before compiling: a source built to blow up the compiler meets the zygote's memory limit.
    notes["zygote_rlimits_failed"] = sysfilter.apply_rlimits(init["zygote_rlimits"])
    sources = _compile_sources(plugin_dir)
    if _names_asyncio(sources):
        notes["preload_failed"].update(_preload([name for name in init["preload"] if _is_asyncio(name)]))

    # Imported after the plugin's sources are compiled and before any worker exists.
    from .guard import Guard
    from .worker import Worker

    worker_filter = base64.b64decode(init["worker_filter"]) if init.get("worker_filter") else b""
    if init.get("zygote_filter"):
        try:
            sysfilter.load_seccomp(base64.b64decode(init["zygote_filter"]))
            notes["seccomp"] = True
        except OSError as exc:
            notes["seccomp"] = f"refused: {exc}"
    else:
        sysfilter.set_no_new_privs()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    allowlist = frozenset(init["allowlist"])
    protocol.write_frame(ctl.fileno(), {"op": "ready", "notes": notes, "files": len(sources)})

    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 16, 1)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)
        msg = json.loads(data[4:].decode("utf-8"))
        if msg.get("op") != "spawn" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            protocol.write_frame(ctl.fileno(), {"op": "error", "error": "bad spawn request"})
            continue
        pid = os.fork()
        if pid == 0:
            _child(ctl, fds[0], plugin_dir, init, policy, allowlist, sources, worker_filter, Guard, Worker, sysfilter)
        os.close(fds[0])
        protocol.write_frame(ctl.fileno(), {"op": "spawned", "pid": pid})


def _child(ctl: socket.socket, fd: int, plugin_dir: str, init: dict[str, Any], policy: dict[str, Any],
           allowlist: frozenset[str], sources: dict[str, Any], worker_filter: bytes, Guard: Any, Worker: Any,
           sysfilter: Any) -> None:
    """In the forked worker: drop to worker limits, then serve. Never returns."""
    try:
        ctl.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sysfilter.set_parent_death_signal()
        sysfilter.set_nondumpable()
        failed = sysfilter.apply_rlimits(init["worker_rlimits"])
        if failed and policy.get("strict"):
            os._exit(71)
        if worker_filter:
            sysfilter.load_seccomp(worker_filter)
        guard = Guard(plugin_dir, allowlist, sources)
        Worker(fd, guard, policy, init["entry"]).serve()
    except BaseException:
        pass
    os._exit(70)


if __name__ == "__main__":  # pragma: no cover - started by the supervisor only
    main(int(sys.argv[1]))
