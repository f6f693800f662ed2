"""The caller's side of the sandbox service: what web threads and Celery children use.

`SandboxClient.invoke(call, bridge)` sends the call to the machine's sandbox service and
serves the `ctx` calls it relays back with ``bridge`` — in the calling thread, so they
run with this process's database connection and the installation's permissions. Every
wait is bounded: a caller waits at most the call's deadline plus ``caller_margin_s``,
whatever the service or the plugin does. When the service is down a call answers at once
with status "unavailable" (nothing ran); connections are made per call from a small pool,
so once the service is back, the next call simply reconnects.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from .bridge import HostBridge, answer_rpc
from .calls import Invocation, InvocationResult, LoadReport
from .policy import SandboxPolicy
from .runtime import protocol

__all__ = ["SandboxClient", "SandboxUnavailable"]

_RESULT_FIELDS = {f.name for f in fields(InvocationResult)}
_REPORT_FIELDS = {f.name for f in fields(LoadReport)}
_STATUSES = {"ok", "error", "timeout", "memory", "crash", "busy", "unavailable"}
_CONNECT_TIMEOUT_S = 2.0


class SandboxUnavailable(RuntimeError):
    """The sandbox service could not be reached, or broke off mid-request."""


class _Stale(Exception):
    """A kept connection turned out closed before the service read anything from it."""


class _Connection:
    def __init__(self, path: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_CONNECT_TIMEOUT_S)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise SandboxUnavailable(
                f"the sandbox service is not running at {path} ({exc.strerror or exc}); "
                "start it with `manage.py sandboxd`") from None
        sock.setblocking(False)
        self.sock = sock
        self.pid = os.getpid()
        self.pooled = False  # set once it has served a request and been kept

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class SandboxClient:
    def __init__(self, policy: SandboxPolicy | None = None, socket_path: str | None = None) -> None:
        self.policy = policy or SandboxPolicy.from_env()
        self.socket_path = socket_path or self.policy.socket_path or default_socket_path()
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._max_frame = self.policy.max_frame_bytes * 2
        _clients.add(self)

    # ---- connections: one per request in flight, kept for the next request when clean
    def _take(self) -> _Connection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if conn.pid == os.getpid():
                    return conn
        return _Connection(self.socket_path)

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < 64 and conn.pid == os.getpid():
                conn.pooled = True
                self._idle.append(conn)
                return
        conn.close()

    def _request(self, message: dict[str, Any], wait_s: float, bridge: HostBridge | None = None) -> dict[str, Any]:
        """One request and its answer, serving relayed ctx calls meanwhile; at most ``wait_s``."""
        deadline = time.monotonic() + wait_s
        conn = self._take()
        try:
            return self._exchange(conn, message, deadline, bridge)
        except _Stale:
            # A kept connection to a service that has since stopped: nothing of this request
            # reached a service, so it is sent once more on a fresh connection.
            return self._exchange(_Connection(self.socket_path), message, deadline, bridge)

    def _exchange(self, conn: _Connection, message: dict[str, Any], deadline: float,
                  bridge: HostBridge | None) -> dict[str, Any]:
        fd = conn.sock.fileno()
        answered = False
        try:
            protocol.write_frame(fd, message, deadline=deadline)
            while True:
                frame = protocol.read_frame(fd, max_size=self._max_frame, deadline=deadline)
                answered = True
                if not isinstance(frame, dict):
                    raise SandboxUnavailable("the sandbox service sent a malformed answer")
                if frame.get("op") == "done":
                    self._give_back(conn)
                    return frame
                if frame.get("op") != "rpc":
                    raise SandboxUnavailable("the sandbox service sent a malformed answer")
                reply = answer_rpc(bridge, frame)
                protocol.write_frame(fd, {"op": "rpc_result", "id": frame.get("id"), **reply}, deadline=deadline)
        except (protocol.ReadTimeout, protocol.WriteTimeout):
            conn.close()
            raise TimeoutError() from None
        except (OSError, EOFError, ValueError) as exc:
            conn.close()
            if isinstance(exc, SandboxUnavailable):
                raise
            if conn.pooled and not answered and isinstance(exc, (EOFError, BrokenPipeError, ConnectionResetError)):
                raise _Stale() from None
            raise SandboxUnavailable("the sandbox service went away during the call") from None
        except BaseException:
            conn.close()
            raise

    # ---- the API the host uses
    def invoke(self, call: Invocation, bridge: HostBridge | None, *, queue_s: float | None = None) -> InvocationResult:
        """Run one handler; never raises for plugin or service behaviour.

        ``queue_s`` caps how long the call may wait for a slot in its tenant's budget
        (a dispatcher with other work passes 0 and tries again later).
        """
        timeout = call.timeout or self.policy.timeout_for(call.kind)
        message: dict[str, Any] = {"op": "invoke", "call": {**asdict(call), "plugin_dir": str(call.plugin_dir),
                                                            "timeout": timeout}}
        if queue_s is not None:
            message["queue_s"] = queue_s
        started = time.perf_counter()
        try:
            frame = self._request(message, timeout + self.policy.caller_margin_s, bridge)
        except SandboxUnavailable as exc:
            return InvocationResult("unavailable", error=str(exc), error_type="SandboxUnavailable")
        except TimeoutError:
            return InvocationResult("timeout", error=f"the sandbox service did not answer within {timeout:g} s",
                                    error_type="Timeout", duration_ms=(time.perf_counter() - started) * 1000)
        return _result(frame)

    def inspect(self, plugin_dir: str | Path, entry: str, *, version_key: str | None = None,
                timeout: float | None = None) -> LoadReport:
        """Load the plugin in the sandbox and report what it registered, or why it could not."""
        wait = (timeout or self.policy.load_timeout_s)
        message = {"op": "inspect", "plugin_dir": str(Path(plugin_dir).resolve()), "entry": entry,
                   "version_key": version_key, "timeout": wait}
        try:
            frame = self._request(message, wait + self.policy.caller_margin_s)
        except SandboxUnavailable as exc:
            return LoadReport(ok=False, errors=[{"message": str(exc), "type": "SandboxUnavailable"}])
        except TimeoutError:
            return LoadReport(ok=False, errors=[{"message": "loading the plugin took too long", "type": "Timeout"}])
        report = frame.get("report")
        if not isinstance(report, dict):
            return LoadReport(ok=False, errors=[{"message": str(frame.get("error") or "no report"), "type": "SandboxError"}])
        return LoadReport(**{k: v for k, v in report.items() if k in _REPORT_FIELDS})

    def evict(self, version_key: str | None = None, installation_key: str | None = None) -> None:
        """Forget warm processes (an installation's, a version's); a no-op when the service is down."""
        try:
            self._request({"op": "evict", "version_key": version_key, "installation_key": installation_key}, 10)
        except (SandboxUnavailable, TimeoutError):
            pass

    def status(self) -> dict[str, Any]:
        """The service's layers, notes and refusal; raises SandboxUnavailable when it is down."""
        try:
            return self._request({"op": "layers"}, 30)
        except TimeoutError:
            raise SandboxUnavailable("the sandbox service did not answer") from None

    def stats(self, timeout: float = 10) -> dict[str, Any]:
        """The supervisor's counts, pids and memory (``Supervisor.stats``), the service's pid and
        its running calls per tenant; raises SandboxUnavailable when it is down."""
        try:
            return dict(self._request({"op": "stats"}, timeout).get("stats") or {})
        except TimeoutError:
            raise SandboxUnavailable("the sandbox service did not answer") from None

    def ping(self, timeout: float = 1.0) -> bool:
        try:
            self._request({"op": "ping"}, timeout)
            return True
        except (SandboxUnavailable, TimeoutError):
            return False

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _result(frame: dict[str, Any]) -> InvocationResult:
    result = frame.get("result")
    if not isinstance(result, dict) or result.get("status") not in _STATUSES:
        return InvocationResult("crash", error=str(frame.get("error") or "the sandbox service refused the call")[:500],
                                error_type="SandboxError")
    return InvocationResult(**{k: v for k, v in result.items() if k in _RESULT_FIELDS})


def default_socket_path() -> str:
    return os.environ.get("PLUGYARD_SANDBOX_SOCKET") or str(Path.cwd() / "var" / "sandbox.sock")


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._idle = []  # the parent's connections: never share a stream with it
        client._lock = threading.Lock()


_clients: weakref.WeakSet[SandboxClient] = weakref.WeakSet()
os.register_at_fork(after_in_child=_after_fork_in_child)
