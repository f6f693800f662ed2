"""The supervisor: the only host object that talks to plugin code.

It keeps an LRU of zygotes (one per plugin version) and of warm workers (one per
installation), turns every outcome into an `InvocationResult`, and kills and replaces any
worker that overruns its deadline, its memory, or breaks the protocol. Thread-safe: the
web process calls it from many threads. Fork-safe: `get_supervisor()` never hands a
child process (a Celery prefork worker) the parent's supervisor.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .bridge import HostBridge
from .calls import Invocation, InvocationResult, LoadReport
from .jail import Layers, detect_layers
from .memory import rss_bytes, tree_rss_bytes
from .policy import SandboxPolicy
from .processes import Crashed, SandboxStartError, TimedOut, WorkerProcess, ZygoteProcess

log = logging.getLogger("plugyard.sandbox")

__all__ = ["Supervisor", "get_supervisor"]

_STATUSES = {"ok", "error", "memory"}


class _InspectBridge:
    """Inspection runs load + install/enable for real, against this recorder: no side effects."""

    def __init__(self) -> None:
        self.tasks: list[dict[str, Any]] = []

    def call(self, method: str, args: dict[str, Any]) -> Any:
        if method.startswith("scheduler.") and method not in ("scheduler.get_tasks", "scheduler.cancel",
                                                               "scheduler.cancel_all"):
            kind = {"scheduler.schedule": "cron"}.get(method, "once")
            self.tasks.append({"type": kind, **{k: v for k, v in args.items() if k != "kwargs"}})
            return f"task-{len(self.tasks)}"
        if method in ("storage.list_keys", "db.query", "files.list", "scheduler.get_tasks"):
            return []
        if method == "http.request":
            return {"status_code": 200, "headers": {}, "text": ""}
        if method == "api.call":
            return [] if args.get("action") == "list" else {}
        return None


class Supervisor:
    def __init__(self, policy: SandboxPolicy | None = None) -> None:
        self.policy = policy or SandboxPolicy.from_env()
        self._layers: Layers | None = None
        self._lock = threading.RLock()
        self._zygotes: OrderedDict[str, ZygoteProcess] = OrderedDict()
        self._workers: OrderedDict[tuple[str, str], WorkerProcess] = OrderedDict()
        self._starting: dict[str, threading.Lock] = {}
        self._spare: ZygoteProcess | None = None
        self._spares_dir: str | None = None
        self._spare_starting = False
        # bwrap's --die-with-parent follows the *thread* that spawned it; spawning from one
        # long-lived thread keeps jails alive when a request thread ends.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="plugyard-sandbox")
        self._pid = os.getpid()
        self._closed = False

    # ---- layers
    def _detect(self) -> Layers:
        if self._layers is None:
            self._layers = detect_layers(self.policy)
            _report_layers(self._layers, self.policy)
        return self._layers

    def layers(self) -> dict[str, bool]:
        """Which isolation layers are active: process, namespaces, rlimits, seccomp, import_allowlist, audit_hooks."""
        return self._detect().as_dict()

    def layer_notes(self) -> dict[str, str]:
        return dict(self._detect().notes)

    def refusal(self) -> str | None:
        """Why plugin code must not run (strict mode with a layer missing), else None."""
        missing = self._detect().missing()
        strict = self.policy.strict or SandboxPolicy.from_env(self.policy).strict
        if strict and missing:
            return f"strict sandbox: isolation layer(s) unavailable: {', '.join(missing)}"
        return None

    # ---- processes
    def _popen(self, *args: Any, **kwargs: Any) -> Any:
        import subprocess

        return self._spawner.submit(subprocess.Popen, *args, **kwargs).result()

    def _zygote(self, key: str, plugin_dir: str, entry: str) -> ZygoteProcess:
        with self._lock:
            zygote = self._zygotes.get(key)
            if zygote is not None and zygote.alive():
                self._zygotes.move_to_end(key)
                return zygote
            starting = self._starting.setdefault(key, threading.Lock())
        with starting:  # one start per version, others wait for it
            with self._lock:
                zygote = self._zygotes.get(key)
                if zygote is not None and zygote.alive():
                    return zygote
            zygote = self._take_spare(plugin_dir, entry)
            if zygote is not None:
                zygote.key = key
            else:
                zygote = self._new_zygote(key, plugin_dir, entry)
                zygote.start()
            self._replace_spare()
            with self._lock:
                old = self._zygotes.pop(key, None)
                self._zygotes[key] = zygote
                evicted = self._evict_zygotes()
            for z in [old, *evicted]:
                if z is not None:
                    self._drop_zygote(z)
            return zygote

    def _new_zygote(self, key: str, plugin_dir: str, entry: str) -> ZygoteProcess:
        layers = self._detect()
        filters = None
        if layers.seccomp:
            from .seccomp import compile_filters  # needs pyseccomp, which a host may lack

            filters = compile_filters()
        return ZygoteProcess(key, plugin_dir, entry, self.policy, layers, filters, self._popen)

    # ---- the spare jail: the next new plugin version (an upload's load check, a first call)
    # takes it instead of paying a jail's start-up on its request
    def _replace_spare(self) -> None:
        """Start a new spare in the background, unless one is there or on its way."""
        with self._lock:
            if self._closed or self._spare is not None or self._spare_starting:
                return
            self._spare_starting = True
        threading.Thread(target=self._launch_spare, name="plugyard-spare", daemon=True).start()

    def _launch_spare(self) -> None:
        """Start a jail over a fresh empty directory; it loads the runtime and waits."""
        spare = None
        try:
            directory = tempfile.mkdtemp(prefix="spare-", dir=self._spare_root())
            spare = self._new_zygote(f"spare:{directory}", directory, "")
            spare.owned_dir = directory
            spare.launch()
        except (OSError, SandboxStartError):  # closing (the root is gone), or no jail here
            spare = None
        finally:
            with self._lock:
                self._spare_starting = False
                old = None
                if spare is not None:
                    old, self._spare = (spare, None) if self._closed else (self._spare, spare)
        if old is not None:
            old.stop()

    def _spare_root(self) -> str:
        """This supervisor's folder for spare jails' directories; `close` removes it whole."""
        with self._lock:
            if self._spares_dir is None:
                self._spares_dir = tempfile.mkdtemp(prefix="plugyard-spares-")
            return self._spares_dir

    def _take_spare(self, plugin_dir: str, entry: str) -> ZygoteProcess | None:
        """The waiting spare jail with ``plugin_dir``'s files copied into its directory, or None."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        try:
            if not spare.alive():
                raise SandboxStartError("the spare jail is gone")
            # The directory is this spare's alone and bound into no other jail.
            shutil.copytree(plugin_dir, spare.plugin_dir, symlinks=True, dirs_exist_ok=True)
            spare.activate(entry)
        except (OSError, SandboxStartError):
            spare.stop()
            return None
        return spare

    def _evict_zygotes(self) -> list[ZygoteProcess]:
        evicted = []
        while len(self._zygotes) > self.policy.max_zygotes:
            _key, z = self._zygotes.popitem(last=False)
            evicted.append(z)
        return evicted

    def _drop_zygote(self, zygote: ZygoteProcess) -> None:
        with self._lock:
            for wkey in [k for k in self._workers if k[0] == zygote.key]:
                self._workers.pop(wkey).close()
        zygote.stop()

    def _worker(self, call: Invocation) -> WorkerProcess:
        key = (call.version_key, call.installation_key)
        with self._lock:
            worker = self._workers.get(key)
            if worker is not None and not worker.dead:  # liveness is checked under its own lock
                self._workers.move_to_end(key)
                return worker
            self._workers.pop(key, None)
        zygote = self._zygote(call.version_key, str(Path(call.plugin_dir).resolve()), call.entry)
        worker = zygote.spawn(call.installation_key, time.monotonic() + self.policy.load_timeout_s)
        with self._lock:
            current = self._workers.get(key)
            if current is not None and not current.dead:
                # Another thread started one for this installation meanwhile and may be using
                # it already: keep that one, and drop ours, which nobody has used yet.
                evicted, kept = [worker], current
            else:
                self._workers[key] = worker
                evicted, kept = [], worker
                while len(self._workers) > self.policy.max_workers:
                    _k, w = self._workers.popitem(last=False)
                    evicted.append(w)
        for w in evicted:
            w.retire()
        return kept

    def _discard(self, worker: WorkerProcess) -> None:
        with self._lock:
            if self._workers.get(worker.key) is worker:
                del self._workers[worker.key]

    # ---- the API
    def invoke(self, call: Invocation, bridge: HostBridge | None) -> InvocationResult:
        """Run one handler in the installation's worker; never raises for plugin behaviour."""
        refused = self.refusal()
        if refused:
            return InvocationResult("error", error=refused, error_type="SandboxUnavailable")
        timeout = call.timeout or self.policy.timeout_for(call.kind)
        message = {"op": "call", "kind": call.kind, "name": call.name, "payload": call.payload,
                   "context": call.context, "handler": call.handler}
        for _attempt in range(2):
            try:
                worker = self._worker(call)
            except SandboxStartError as exc:
                return InvocationResult("error", error=str(exc), error_type="SandboxError")
            deadline = time.monotonic() + timeout
            if not worker.lock.acquire(timeout=timeout):
                return InvocationResult("timeout", error=f"installation busy for {timeout:g} s", error_type="Busy")
            try:
                if not worker.alive():  # died idle, or killed by another thread while we waited
                    self._discard(worker)
                    continue
                return self._run(worker, message, deadline, bridge, timeout)
            finally:
                worker.finish_call()
                worker.lock.release()
        return InvocationResult("crash", error="the worker could not be kept alive", error_type="Crash")

    def _run(self, worker: WorkerProcess, message: dict[str, Any], deadline: float, bridge: HostBridge | None,
             timeout: float) -> InvocationResult:
        started = time.perf_counter()
        worker.resume()
        try:
            reply, rpc_calls = worker.exchange(message, deadline, bridge)
        except TimedOut:
            _cpu, peak = worker.usage()
            worker.kill()
            self._discard(worker)
            return InvocationResult("timeout", error=f"the handler ran past its {timeout:g} s deadline",
                                    error_type="Timeout", duration_ms=_ms(started), peak_rss_kb=peak)
        except Crashed as exc:
            worker.kill()
            self._discard(worker)
            return InvocationResult("crash", error=str(exc), error_type="Crash", duration_ms=_ms(started))
        worker.pause()
        worker.cpu_s, peak = worker.usage()
        result = _result(reply, rpc_calls, started, peak)
        worker.calls += 1
        if (result.status == "memory" or result.audit or worker.calls >= self.policy.worker_max_calls
                or worker.cpu_s > self.policy.cpu_seconds / 2):
            worker.retire()  # its state can no longer be trusted, or it is used up
            self._discard(worker)
        return result

    def inspect(self, plugin_dir: str | Path, entry: str, *, version_key: str | None = None,
                timeout: float | None = None) -> LoadReport:
        """Load the plugin in the sandbox and report what it registered, or why it failed."""
        started = time.perf_counter()
        refused = self.refusal()
        if refused:
            return LoadReport(ok=False, errors=[{"message": refused, "type": "SandboxUnavailable"}])
        key = version_key or f"inspect:{os.getpid()}:{time.monotonic_ns()}"
        bridge = _InspectBridge()
        worker = None
        try:
            zygote = self._zygote(key, str(Path(plugin_dir).resolve()), entry)
            worker = zygote.spawn("__inspect__", time.monotonic() + self.policy.load_timeout_s)
            deadline = time.monotonic() + (timeout or self.policy.load_timeout_s)
            reply, _ = worker.exchange({"op": "inspect"}, deadline, bridge)
        except SandboxStartError as exc:
            return LoadReport(ok=False, errors=[{"message": str(exc), "type": "SandboxError"}])
        except TimedOut:
            return LoadReport(ok=False, errors=[{"message": "loading the plugin took too long", "type": "Timeout"}],
                              duration_ms=_ms(started))
        except Crashed as exc:
            return LoadReport(ok=False, errors=[{"message": f"loading crashed the worker: {exc}", "type": "Crash"}],
                              duration_ms=_ms(started))
        finally:
            if worker is not None:
                worker.kill()
            if version_key is None:
                with self._lock:
                    z = self._zygotes.pop(key, None)
                if z is not None:
                    z.stop()
        return _report(reply, bridge, started)

    def evict(self, version_key: str | None = None, installation_key: str | None = None) -> None:
        """Forget warm processes: one installation's worker, a whole version, or everything."""
        with self._lock:
            workers = [k for k in self._workers if (version_key in (None, k[0]))
                       and (installation_key in (None, k[1]))]
            dropped = [self._workers.pop(k) for k in workers]
            zygotes = [] if installation_key else [self._zygotes.pop(k) for k in list(self._zygotes)
                                                   if version_key in (None, k)]
        for w in dropped:
            w.retire()
        for z in zygotes:
            self._drop_zygote(z)

    def stats(self) -> dict[str, Any]:
        """How many zygotes and warm workers there are, their pids, and their resident memory
        in bytes (see memory.py for what VmRSS counts): per zygote (its whole jail), per
        worker, of the spare jail, and ``memory_bytes``, all of them together."""
        with self._lock:
            zygotes = {key: z.proc.pid for key, z in self._zygotes.items() if z.proc is not None}
            workers = {f"{k[0]}|{k[1]}": w.pid for k, w in self._workers.items()}
            spare = self._spare.proc.pid if self._spare is not None and self._spare.proc is not None else None
        # /proc is read outside the lock: a call starting meanwhile must not wait for it.
        apart = set(workers.values())
        zygote_memory = {key: tree_rss_bytes(pid, apart=apart) for key, pid in zygotes.items()}
        worker_memory = {key: rss_bytes(pid) for key, pid in workers.items()}
        spare_memory = tree_rss_bytes(spare) if spare is not None else 0
        return {"zygotes": len(zygotes), "workers": len(workers), "worker_pids": workers,
                "zygote_memory_bytes": zygote_memory, "worker_memory_bytes": worker_memory,
                "spare_memory_bytes": spare_memory,
                "memory_bytes": sum(zygote_memory.values()) + sum(worker_memory.values()) + spare_memory}

    def close(self) -> None:
        if self._closed or os.getpid() != self._pid:
            return
        self._closed = True
        self.evict()
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.stop()
        if self._spares_dir is not None:
            shutil.rmtree(self._spares_dir, ignore_errors=True)
        self._spawner.shutdown(wait=False)

    def _forget_after_fork(self) -> None:
        """In a forked child: close our copies of the channels; the processes are the parent's."""
        self._closed = True
        for w in self._workers.values():
            w.sock.close()
        for z in self._zygotes.values():
            z.forget()
        if self._spare is not None:
            self._spare.forget()
            self._spare = None
        self._workers.clear()
        self._zygotes.clear()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _text(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _result(reply: dict[str, Any], rpc_calls: int, started: float, peak_rss_kb: int) -> InvocationResult:
    """Build the result from a hostile worker's reply: types checked, sizes capped. Its own
    figures (CPU, memory) are ignored: the host measured them."""
    status = reply.get("status") if reply.get("status") in _STATUSES else "error"
    logs = reply.get("logs") if isinstance(reply.get("logs"), list) else []
    location = reply.get("location") if isinstance(reply.get("location"), dict) else None
    audit = reply.get("audit") if isinstance(reply.get("audit"), list) else []
    return InvocationResult(
        status=status, value=reply.get("value"), error=_text(reply.get("error"), 2000),
        error_type=_text(reply.get("error_type"), 100), traceback=_text(reply.get("traceback"), 8000),
        location=location, logs=[str(line)[:2000] for line in logs[:1000]], duration_ms=_ms(started),
        peak_rss_kb=peak_rss_kb, rpc_calls=rpc_calls, audit=[str(a)[:200] for a in audit[:20]])


def _report(reply: dict[str, Any], bridge: _InspectBridge, started: float) -> LoadReport:
    logs = [str(x)[:2000] for x in reply.get("logs", [])][:200] if isinstance(reply.get("logs"), list) else []
    if reply.get("status") != "ok" or not isinstance(reply.get("value"), dict):
        location = reply.get("location") if isinstance(reply.get("location"), dict) else {}
        error = {"message": _text(reply.get("error"), 2000) or "the plugin failed to load",
                 "type": _text(reply.get("error_type"), 100), "file": location.get("file"),
                 "line": location.get("line"), "traceback": _text(reply.get("traceback"), 8000)}
        return LoadReport(ok=False, errors=[error], logs=logs, duration_ms=_ms(started))
    v = reply["value"]
    return LoadReport(ok=True, style=v.get("style"), plugin=v.get("plugin"), hooks=v.get("hooks", []),
                      routes=v.get("routes", []), jobs=v.get("jobs", []), lifecycle=v.get("lifecycle", {}),
                      functions=[str(f) for f in v.get("functions", [])][:1000],
                      tasks=bridge.tasks, warnings=[str(w) for w in v.get("dry_run_errors", [])], logs=logs,
                      duration_ms=_ms(started))


def _report_layers(layers: Layers, policy: SandboxPolicy) -> None:
    """Say once per process which isolation layers plugin code gets here."""
    active = [name for name, on in layers.as_dict().items() if on]
    missing = layers.missing()
    notes = "; ".join(f"{name}: {note}" for name, note in layers.notes.items())
    if not missing:
        log.info("plugin sandbox: all layers active (%s). %s", ", ".join(active), notes)
    elif policy.strict or SandboxPolicy.from_env(policy).strict:
        log.error("plugin sandbox: layer(s) missing: %s; strict mode refuses to run plugin code. %s",
                  ", ".join(missing), notes)
    else:
        log.warning("plugin sandbox: layer(s) missing: %s; running with %s. Set PLUGYARD_SANDBOX_STRICT=true "
                    "to refuse instead. %s", ", ".join(missing), ", ".join(active), notes)


_global: Supervisor | None = None
_global_lock = threading.Lock()


def get_supervisor() -> Supervisor:
    """The process-wide supervisor, created lazily — after any fork, in the process that uses it."""
    global _global
    with _global_lock:
        if _global is None or _global._pid != os.getpid():
            _global = Supervisor()
            atexit.register(_global.close)
        return _global


def _after_fork_in_child() -> None:
    global _global, _global_lock
    _global_lock = threading.Lock()
    if _global is not None:
        _global._forget_after_fork()
    _global = None


os.register_at_fork(after_in_child=_after_fork_in_child)
