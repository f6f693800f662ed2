"""The sandbox service: one process per machine that owns every jail on it.

Web threads and Celery children never start plugin processes. They connect to this
service over a Unix socket (mode 0600; a peer of any other uid is refused from its kernel
credentials) and send one request at a time on a connection:

    → {"op": "invoke", "call": {...}}       ← {"op": "rpc", ...} … → {"op": "rpc_result", ...} …
                                            ← {"op": "done", "result": {...}}
    → {"op": "inspect", ...}                ← {"op": "done", "report": {...}}
    → {"op": "evict" | "layers" | "stats" | "ping"}   ← {"op": "done", ...}

While a call runs, every `ctx` call the plugin makes is relayed back to the caller, which
holds the database connection and the installation's permissions; the service never
touches Django. Calls are admitted through per-tenant and per-installation budgets
(`budgets.py`). No Django here, and nothing above the sandbox package is imported.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import stat
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .bridge import BridgeError, PermissionDenied
from .budgets import Budgets
from .calls import Invocation, InvocationResult
from .policy import SandboxPolicy
from .runtime import protocol
from .supervisor import Supervisor

__all__ = ["SandboxService", "ensure_running", "serve"]

log = logging.getLogger("plugyard.sandbox.service")

_IDLE_POLL_S = 3600.0
_INVOCATION_FIELDS = {f.name for f in dataclasses.fields(Invocation)}


class _CallerGone(Exception):
    """The caller stopped answering its relayed ctx calls; its connection is dropped."""


class _RelayBridge:
    """A HostBridge whose every call is a round trip to the caller that sent the invocation."""

    def __init__(self, conn: socket.socket, deadline: float, max_frame: int) -> None:
        self._conn, self._deadline, self._max = conn, deadline, max_frame
        self._ids = 0
        self.broken = False

    def call(self, method: str, args: dict[str, Any]) -> Any:
        if self.broken:
            raise BridgeError("the host is no longer answering this call")
        self._ids += 1
        fd = self._conn.fileno()
        try:
            protocol.write_frame(fd, {"op": "rpc", "id": self._ids, "method": method, "args": args},
                                 deadline=self._deadline)
            reply = protocol.read_frame(fd, max_size=self._max, deadline=self._deadline)
        except (OSError, EOFError, TimeoutError, ValueError):
            self.broken = True
            raise BridgeError(f"{method}: the host did not answer in time") from None
        if not isinstance(reply, dict) or reply.get("op") != "rpc_result" or reply.get("id") != self._ids:
            self.broken = True
            raise BridgeError(f"{method}: the host answered out of turn")
        if reply.get("ok"):
            return reply.get("value")
        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        if error.get("type") == "permission":
            raise PermissionDenied(str(error.get("permission")))
        raise BridgeError(str(error.get("message") or "refused"))


class SandboxService:
    def __init__(self, socket_path: str | Path, policy: SandboxPolicy | None = None,
                 supervisor: Supervisor | None = None) -> None:
        self.socket_path = str(socket_path)
        self.policy = policy or SandboxPolicy.from_env()
        self.supervisor = supervisor or Supervisor(self.policy)
        self.budgets = Budgets(self.policy.tenant_concurrency, self.policy.installation_concurrency)
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._uid = os.getuid()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    # ---- lifecycle
    def bind(self) -> None:
        path = Path(self.socket_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise RuntimeError(f"{path} exists and is not a socket; refusing to replace it")
            if _answers(str(path)):
                raise RuntimeError(f"a sandbox service is already listening on {path}")
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is created 0600: no window with wider rights
        try:
            listener.bind(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        listener.listen(512)
        self._listener = listener

    def serve_forever(self) -> None:
        if self._listener is None:
            self.bind()
        assert self._listener is not None  # for mypy: bind() set it
        self.supervisor.layers()  # probe the layers now, not on the first call
        log.info("sandbox service listening on %s", self.socket_path)
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                if self._stopping.is_set():
                    break
                continue
            if not self._peer_allowed(conn):
                conn.close()
                continue
            threading.Thread(target=self._serve_connection, args=(conn,), daemon=True,
                             name="sandbox-conn").start()

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        with self._connections_lock:
            open_connections = list(self._connections)
        for conn in open_connections:  # idle callers see EOF and reconnect to the next service
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            if stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                os.unlink(self.socket_path)
        except OSError:
            pass
        self.supervisor.close()

    def _peer_allowed(self, conn: socket.socket) -> bool:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != self._uid:
            log.warning("sandbox service: refused a connection from uid %s", uid)
            return False
        return True

    # ---- one connection: requests one at a time
    def _serve_connection(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)
        conn.setblocking(False)
        fd = conn.fileno()
        limit = self.policy.max_frame_bytes * 2
        try:
            while not self._stopping.is_set():
                try:
                    request = protocol.read_frame(fd, max_size=limit, deadline=time.monotonic() + _IDLE_POLL_S)
                except protocol.ReadTimeout:
                    continue
                if not isinstance(request, dict):
                    return
                try:
                    reply, keep = self._handle(conn, request)
                except Exception:  # a bug or a stop mid-request: this caller's call fails, not the service
                    if not self._stopping.is_set():
                        log.exception("sandbox service: request %r failed", str(request.get("op"))[:40])
                    reply, keep = {"op": "done", "error": "the sandbox service failed on this request"}, False
                try:
                    protocol.write_frame(fd, reply, deadline=time.monotonic() + 10)
                except protocol.BadFrame:
                    protocol.write_frame(fd, {"op": "done", "error": "the reply could not be encoded"},
                                         deadline=time.monotonic() + 10)
                if not keep:
                    return
        except (OSError, EOFError, TimeoutError, ValueError):
            return  # the caller went away, or sent garbage: nothing of theirs is running
        finally:
            with self._connections_lock:
                self._connections.discard(conn)
            conn.close()

    def _handle(self, conn: socket.socket, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        op = request.get("op")
        if op == "invoke":
            return self._invoke(conn, request)
        if op == "inspect":
            report = self.supervisor.inspect(str(request.get("plugin_dir")), str(request.get("entry") or ""),
                                             version_key=request.get("version_key") or None,
                                             timeout=_float(request.get("timeout")))
            return {"op": "done", "report": dataclasses.asdict(report)}, True
        if op == "evict":
            self.supervisor.evict(request.get("version_key"), request.get("installation_key"))
            return {"op": "done"}, True
        if op == "layers":
            return {"op": "done", "layers": self.supervisor.layers(), "notes": self.supervisor.layer_notes(),
                    "refusal": self.supervisor.refusal()}, True
        if op == "stats":
            return {"op": "done", "stats": {**self.supervisor.stats(), "pid": os.getpid(),
                                            "running_by_tenant": self.budgets.running()}}, True
        if op == "ping":
            return {"op": "done", "pid": os.getpid()}, True
        return {"op": "done", "error": f"unknown request {str(op)[:40]!r}"}, False

    def _invoke(self, conn: socket.socket, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        fields = request.get("call")
        if not isinstance(fields, dict) or not set(fields) <= _INVOCATION_FIELDS:
            return {"op": "done", "error": "malformed call"}, False
        try:
            call = Invocation(**fields)
        except TypeError:
            return {"op": "done", "error": "malformed call"}, False
        timeout = call.timeout or self.policy.timeout_for(call.kind)
        started = time.monotonic()
        # A route over budget answers 429 soon; other calls may wait out their deadline.
        queue_s = min(timeout, self.policy.route_queue_s) if call.kind == "route" else timeout
        if request.get("queue_s") is not None:
            queue_s = min(queue_s, max(0.0, _float(request.get("queue_s")) or 0.0))
        tenant = str((call.context or {}).get("tenant_id") or "")
        with self.budgets.admit(tenant, call.installation_key, started + queue_s) as admitted:
            if not admitted:
                result = InvocationResult("busy", error=f"over the tenant's concurrency budget for {queue_s:g} s",
                                          error_type="Busy")
                return {"op": "done", "result": dataclasses.asdict(result)}, True
            left = timeout - (time.monotonic() - started)
            if left <= 0:  # admitted just as the deadline passed: nothing ran
                result = InvocationResult("busy", error="no slot before the deadline", error_type="Busy")
                return {"op": "done", "result": dataclasses.asdict(result)}, True
            call = dataclasses.replace(call, timeout=left)
            bridge = _RelayBridge(conn, time.monotonic() + left + self.policy.caller_margin_s,
                                  self.policy.max_frame_bytes * 2)
            result = self.supervisor.invoke(call, bridge)
        return {"op": "done", "result": dataclasses.asdict(result)}, not bridge.broken


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def serve(socket_path: str | Path, policy: SandboxPolicy | None = None) -> None:
    """Run the service until SIGTERM or SIGINT (the `sandboxd` command)."""
    service = SandboxService(socket_path, policy)
    service.bind()

    def _stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=service.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        service.serve_forever()
    finally:
        service.stop()


@contextmanager
def ensure_running(socket_path: str | Path, policy: SandboxPolicy | None = None) -> Iterator[bool]:
    """For a one-off command (``load_demo`` before `make run` starts ``sandboxd``): host the
    service in this process for the block unless one already answers on ``socket_path``.
    Yields whether this block started it."""
    if _answers(str(socket_path)):
        yield False
        return
    service = SandboxService(socket_path, policy)
    service.bind()
    thread = threading.Thread(target=service.serve_forever, daemon=True, name="sandbox-service")
    thread.start()
    try:
        yield True
    finally:
        service.stop()
        thread.join(timeout=10)
