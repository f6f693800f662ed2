"""Host-side handles for the sandbox's processes: a zygote per plugin version, a worker per
installation. Both talk `runtime.protocol` frames; everything a worker sends is treated
as hostile input (size-capped, shape-checked, and any violation kills the worker).
"""

from __future__ import annotations

import base64
import logging
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from .bridge import HostBridge, answer_rpc
from .cgroups import CgroupError, JailGroup
from .jail import Layers, zygote_command
from .policy import SDK_RUNTIME_MODULES, SandboxPolicy
from .runtime import protocol

__all__ = ["Crashed", "SandboxStartError", "TimedOut", "WorkerProcess", "ZygoteProcess"]

log = logging.getLogger("plugyard.sandbox")


class SandboxStartError(RuntimeError):
    """A zygote or worker could not be started (the plugin never ran)."""


class TimedOut(Exception):
    pass


class Crashed(Exception):
    pass


class WorkerProcess:
    """One warm worker: a socket to it, its host pid and a pidfd to kill it race-free."""

    def __init__(self, sock: socket.socket, pid: int, pidfd: int | None, key: tuple[str, str],
                 policy: SandboxPolicy, group: JailGroup | None = None) -> None:
        self.sock, self.pid, self.pidfd, self.key, self.policy = sock, pid, pidfd, key, policy
        self.group = group  # its cgroup, where cgroup v2 is available: limits and measures
        self.lock = threading.Lock()
        self.calls = 0
        self.cpu_s = 0.0
        self.dead = False
        self._closed = False
        self._ids = 0

    # Thread safety: only the thread holding ``lock`` (running a call) touches the socket.
    # Any other thread may kill the process, but leaves closing the descriptors to the
    # holder (``finish_call``): closing an fd another thread is reading lets the number be
    # reused by a new worker's socket, and the reader then talks to the wrong process.

    def alive(self) -> bool:
        """Whether the worker is still there. Call it holding ``lock``: it reads the socket."""
        if self.dead:
            return False
        # poll, not select: a service with hundreds of warm workers holds descriptors past
        # select's 1024 limit (two each: the socket and the pidfd).
        poller = select.poll()
        poller.register(self.sock, select.POLLIN | select.POLLHUP | select.POLLERR)
        if self.pidfd is not None:
            poller.register(self.pidfd, select.POLLIN)
        ready = poller.poll(0)
        if ready:  # an idle worker never speaks first: this is EOF, garbage, or its pidfd saying it exited
            self.kill()
            return False
        return True

    def _signal(self, signum: int) -> None:
        if self._closed:
            return  # its pid may belong to another process by now
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)
            else:
                os.kill(self.pid, signum)
        except (ProcessLookupError, OSError):
            pass

    def kill(self) -> None:
        """SIGKILL the worker; safe from any thread."""
        if self._closed:
            return
        self.dead = True
        self._signal(signal.SIGKILL)
        if self.group is not None:
            self.group.kill()
        self._close_if_idle()

    def pause(self) -> None:
        """Stop the worker between calls. Its "done" is not trusted to mean it stopped: a
        handler that answered and kept spinning would use CPU no call is paying for."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop using the worker; safe from any thread."""
        self.dead = True
        self._close_if_idle()

    def retire(self) -> None:
        """Take the worker out of service; safe from any thread. It is killed, not asked:
        a paused worker reads nothing, and a hostile one need not obey."""
        self.kill()

    def usage(self) -> tuple[float, int]:
        """(CPU seconds over the worker's life, peak memory in KiB), measured by the host:
        from its cgroup where it has one, else from /proc."""
        if self.group is not None:
            return self.group.cpu_seconds(), self.group.memory_peak_bytes() // 1024
        return _cpu_seconds(self.pid), _peak_rss_kb(self.pid)

    def finish_call(self) -> None:
        """Called by the thread holding ``lock`` before it releases it."""
        if self.dead:
            self._close_fds()

    def _close_if_idle(self) -> None:
        if self.lock.acquire(blocking=False):
            try:
                self._close_fds()
            finally:
                self.lock.release()

    def _close_fds(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.group is not None:
            self.group.remove()
        for closer in (self.sock.close, lambda: self.pidfd is not None and os.close(self.pidfd)):
            try:
                closer()
            except OSError:
                pass
        self.pidfd = None

    def exchange(self, message: dict[str, Any], deadline: float, bridge: HostBridge | None) -> tuple[dict[str, Any], int]:
        """Send one request; serve the worker's ctx RPCs until its `done`. Returns (reply, rpc count).

        Every read and write carries ``deadline``: a worker that stops reading, floods
        frames or answers late raises TimedOut here, never blocks the host.
        """
        self._ids += 1
        message = {**message, "id": self._ids}
        fd, limit = self.sock.fileno(), self.policy.max_frame_bytes
        rpc_calls = 0
        try:
            protocol.write_frame(fd, message, deadline=deadline)
            while True:
                if time.monotonic() > deadline:  # a flood of ready frames never waits on poll
                    raise TimedOut()
                frame = protocol.read_frame(fd, max_size=limit, deadline=deadline)
                if not isinstance(frame, dict):
                    raise Crashed("protocol violation: not an object")
                op = frame.get("op")
                if op == "done" and frame.get("id") == self._ids:
                    return frame, rpc_calls
                if op != "rpc":
                    raise Crashed(f"protocol violation: unexpected {str(op)[:40]!r}")
                rpc_calls += 1
                if rpc_calls > self.policy.max_rpc_calls:
                    reply = {"ok": False, "error": {"type": "host", "message": "too many host calls in one invocation"}}
                else:
                    reply = answer_rpc(bridge, frame)
                protocol.write_frame(fd, {"op": "rpc_result", "id": frame.get("id"), **reply}, deadline=deadline)
        except (protocol.ReadTimeout, protocol.WriteTimeout):
            raise TimedOut() from None
        except (protocol.PeerClosed, BrokenPipeError, ConnectionResetError):
            raise Crashed("the worker process died") from None
        except protocol.BadFrame as exc:
            raise Crashed(f"protocol violation: {exc}"[:200]) from None
        except OSError as exc:
            raise Crashed(f"worker channel error: {exc.strerror or exc}") from None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` from /proc (its own threads included), 0.0 when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def _peak_rss_kb(pid: int) -> int:
    """VmHWM of ``pid``: the most memory it has held, measured by the kernel."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _peer_pid(sock: socket.socket, deadline: float) -> tuple[int, bytes]:
    """Read the worker's hello with SCM_CREDENTIALS: the kernel tells us its host pid."""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    data, ancillary, _flags, _addr = sock.recvmsg(256, socket.CMSG_SPACE(struct.calcsize("3i")))
    sock.setblocking(False)  # from here on every read and write carries a deadline
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, _uid, _gid = struct.unpack("3i", payload[: struct.calcsize("3i")])
            return pid, data
    raise SandboxStartError("worker hello carried no credentials")


class ZygoteProcess:
    """A jailed interpreter holding the SDK and the compiled plugin, forking workers."""

    def __init__(self, key: str, plugin_dir: str, entry: str, policy: SandboxPolicy, layers: Layers,
                 filters: tuple[bytes, bytes] | None, popen: Callable[..., subprocess.Popen[bytes]]) -> None:
        self.key, self.plugin_dir, self.entry = key, plugin_dir, entry
        self.policy, self.layers, self.filters = policy, layers, filters
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ctl: socket.socket | None = None
        self.notes: dict[str, Any] = {}
        self.owned_dir: str | None = None  # a spare jail's private copy of the plugin, removed with it
        self.group: JailGroup | None = None  # the jail's cgroup (its zygote in a leaf, each worker in one)
        self._popen = popen

    def start(self) -> None:
        self.launch()
        self.activate(self.entry)

    def launch(self) -> None:
        """Start the jail and let it load the SDK and the stdlib; it then waits for `activate`."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            argv, jail_dir = zygote_command(self.policy, self.layers, self.plugin_dir, child.fileno())
            debug = os.environ.get("PLUGYARD_SANDBOX_DEBUG")
            self.proc = self._popen(argv, pass_fds=(child.fileno(),), env={}, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=None if debug else subprocess.DEVNULL,
                                    close_fds=True)
        finally:
            child.close()
        self.ctl = parent
        self._enter_cgroup()
        zygote_filter, worker_filter = self.filters or (b"", b"")
        preload = sorted(self.policy.import_allowlist - {"plugyard_sdk", "src.ext.sdk", "ops_center_sdk"})
        init = {"op": "init", "plugin_dir": jail_dir, "entry": self.entry, "policy": self.policy.for_worker(),
                "allowlist": sorted(self.policy.import_allowlist), "preload": preload + list(SDK_RUNTIME_MODULES),
                "zygote_filter": base64.b64encode(zygote_filter).decode(),
                "worker_filter": base64.b64encode(worker_filter).decode(),
                "zygote_rlimits": self.policy.zygote_rlimits(), "worker_rlimits": self.policy.worker_rlimits()}
        try:
            protocol.write_frame(parent.fileno(), init)
        except OSError:
            self.stop()
            raise SandboxStartError("the sandbox could not start (OSError)") from None

    def _enter_cgroup(self) -> None:
        """Where cgroup v2 is available, put the jail in a group of its own (see cgroups.py)."""
        if not self.layers.cgroups or self.proc is None:
            return
        name = "z-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in self.key)[:80]
        self.group = JailGroup.create(name, pids_max=self.policy.max_workers + 8)
        leaf = JailGroup.create("zygote", parent=self.group) if self.group is not None else None
        try:
            if leaf is not None:
                leaf.add(self.proc.pid)
        except CgroupError as exc:
            log.warning("sandbox: the jail stays outside its cgroup: %s", exc)

    def _worker_group(self, installation_key: str, pid: int) -> JailGroup | None:
        """A worker's own cgroup: its memory limit, and pids.max=1 — no new processes even as root."""
        if self.group is None:
            return None
        name = "w-" + "".join(c if c.isalnum() else "_" for c in installation_key)[:80] + f"-{pid}"
        group = JailGroup.create(name, memory_bytes=self.policy.memory_mb << 20, pids_max=1, parent=self.group)
        if group is None:
            return None
        try:
            group.add(pid)
        except CgroupError as exc:
            log.warning("sandbox: a worker stays outside its cgroup: %s", exc)
            group.remove()
            return None
        return group

    def activate(self, entry: str) -> None:
        """Have the launched jail compile the plugin now in its directory; wait until it is ready."""
        self.entry = entry
        deadline = time.monotonic() + self.policy.load_timeout_s
        try:
            if self.ctl is None:
                raise EOFError
            protocol.write_frame(self.ctl.fileno(), {"op": "go", "entry": entry})
            ready = protocol.read_frame(self.ctl.fileno(), max_size=1 << 20, deadline=deadline)
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            self.stop()
            raise SandboxStartError(f"the sandbox could not start ({type(exc).__name__})") from None
        self.notes = ready.get("notes", {}) if isinstance(ready, dict) else {}
        if self.filters and self.notes.get("seccomp") is not True:
            self.stop()
            raise SandboxStartError(f"seccomp filter not applied in the jail: {self.notes.get('seccomp')}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.ctl is not None

    def spawn(self, installation_key: str, deadline: float) -> WorkerProcess:
        with self.lock:
            if not self.alive():
                raise SandboxStartError("zygote is not running")
            assert self.ctl is not None  # for mypy; alive() checked it
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            try:
                socket.send_fds(self.ctl, [protocol.encode({"op": "spawn"})], [theirs.fileno()])
                theirs.close()
                reply = protocol.read_frame(self.ctl.fileno(), max_size=1 << 16, deadline=deadline)
                if not isinstance(reply, dict) or reply.get("op") != "spawned":
                    raise SandboxStartError("zygote refused to fork")
            except (OSError, EOFError, TimeoutError, ValueError) as exc:
                ours.close()
                theirs.close()
                raise SandboxStartError(f"worker did not start ({type(exc).__name__})") from None
        # The zygote is free again once it has forked: the child's own set-up (its walls,
        # then its hello) overlaps the next fork instead of holding the zygote's lock.
        try:
            pid, hello = _peer_pid(ours, deadline)
        except SandboxStartError:
            ours.close()
            raise
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            ours.close()
            raise SandboxStartError(f"worker did not start ({type(exc).__name__})") from None
        if hello != protocol.encode({"op": "hello"}):
            ours.close()
            raise SandboxStartError("worker sent a bad hello")
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        return WorkerProcess(ours, pid, pidfd, (self.key, installation_key), self.policy,
                             self._worker_group(installation_key, pid))

    def stop(self) -> None:
        """Kill the jail: bwrap's PID namespace takes every worker of this version with it."""
        if self.ctl is not None:
            try:
                self.ctl.close()
            except OSError:
                pass
            self.ctl = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.owned_dir is not None:
            shutil.rmtree(self.owned_dir, ignore_errors=True)
        if self.group is not None:
            self.group.kill()
            self.group.remove()
            self.group = None

    def forget(self) -> None:
        """After fork, in the child: drop our copy of the channel, touch no process."""
        if self.ctl is not None:
            try:
                self.ctl.close()
            except OSError:
                pass
        self.ctl, self.proc = None, None
