"""cgroup v2 groups for jails: memory, CPU and process-count limits the kernel enforces.

A second wall, never the only one. rlimits are per process and, for uid 0, `RLIMIT_NPROC`
is not enforced at all; a cgroup's `pids.max` is enforced for root too and counts every
process in the group, so a group holding one worker with `pids.max = 1` means that
worker cannot fork even where seccomp failed. `memory.max` and `cpu.max` bound a whole
jail (the zygote and every worker of that plugin version), not one process.

cgroup v2 lets a cgroup hand controllers to its children only while it holds no processes
itself (the "no internal processes" rule; the hierarchy's root is exempt). So the layout is:

    <own cgroup>/              this process's cgroup, as /proc/self/cgroup names it
      plugyard-host/           where this process moves, if it was alone in <own cgroup>
      plugyard-sandbox/        holds no processes; hands cpu, memory, pids to its children
        <pid>-<n>-<name>/      a JailGroup: memory.max, cpu.max, pids.max
          <pid>-<n>-<name>/    JailGroup.create(..., parent=jail): e.g. one worker

and the same rule applies one level down: a JailGroup that has child groups holds no
processes itself (put the zygote in a child too). When <own cgroup> holds other processes
than this one, nothing is moved and `probe()` says so: moving a service's other processes
is the service manager's job (systemd: `Delegate=yes`).

`probe()` changes nothing but a trial directory; the first `JailGroup.create()` does the
set-up above. Every path comes from `/proc` (injectable), so tests can use a fake tree.
This module imports nothing from Django or the rest of plugins_core.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONTROLLERS", "CgroupError", "Hierarchy", "JailGroup", "locate", "probe"]

log = logging.getLogger("plugyard.sandbox")

CONTROLLERS = ("cpu", "memory", "pids")
SANDBOX_DIR = "plugyard-sandbox"
HOST_LEAF = "plugyard-host"
PROC = Path("/proc")

_SEQ = itertools.count(1)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_LOCK = threading.Lock()
_PREPARED: set[Hierarchy] = set()


def _new_lock_after_fork() -> None:
    global _LOCK
    _LOCK = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_new_lock_after_fork)


class CgroupError(RuntimeError):
    """A group could not be set up or a process could not be moved into it."""


@dataclass(frozen=True)
class Hierarchy:
    """Where jails go: the cgroup2 mount, this process's cgroup in it, and /proc."""

    mount: Path
    own: Path
    proc: Path = PROC

    @property
    def base(self) -> Path:
        return self.own / SANDBOX_DIR

    @property
    def host_leaf(self) -> Path:
        return self.own / HOST_LEAF

    @property
    def is_root(self) -> bool:
        # Only the real root cgroup lacks cgroup.type; a cgroup namespace's "/" has one,
        # and the no-internal-processes rule applies to it.
        return not (self.own / "cgroup.type").exists()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:  # one write(2): cgroupfs acts on each write
        fh.write(value)


def _rmdir(path: Path) -> None:
    # cgroupfs removes a group together with its control files; tests swap this out,
    # because a plain directory holding files cannot be removed that way.
    os.rmdir(path)


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(proc: Path) -> list[tuple[str, Path, set[str]]]:
    """(fstype, mount point, options) of every cgroup/cgroup2 mount."""
    found = []
    for line in _read(proc / "self" / "mounts").splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            found.append((fields[2], Path(_unescape(fields[1])), set(fields[3].split(","))))
    return found


def _pids(group: Path) -> set[int]:
    return {int(p) for p in _read(group / "cgroup.procs").split() if p.isdigit()}


def locate(proc: Path = PROC) -> tuple[Hierarchy | None, str]:
    """This process's place in the cgroup v2 hierarchy, or None and why there is none."""
    mounts = _mounts(proc)
    v2 = [(path, opts) for kind, path, opts in mounts if kind == "cgroup2"]
    if not v2:
        return None, "no cgroup2 file system in /proc/self/mounts (cgroup v1 only)"
    rel = next((line[3:] for line in _read(proc / "self" / "cgroup").splitlines()
                if line.startswith("0::")), None)
    if rel is None:
        return None, "this process has no cgroup v2 entry ('0::') in /proc/self/cgroup"
    for mount, opts in v2:
        own = mount / rel.lstrip("/")
        if (own / "cgroup.controllers").exists():
            if "ro" in opts:
                return None, f"cgroup2 at {mount} is mounted read-only"
            break
    else:
        return None, f"this process's cgroup {rel} is not visible below {v2[0][0]}"
    if own.name == HOST_LEAF and (own.parent / SANDBOX_DIR).is_dir():
        own = own.parent  # we (or the process we were forked from) moved here: the set-up is done
    return Hierarchy(mount, own, proc), ""


def probe(proc: Path = PROC) -> tuple[bool, str]:
    """(available, a note naming exactly what is missing or where jails will go)."""
    hier, why = locate(proc)
    if hier is None:
        return False, why
    rel = "/" + str(hier.own.relative_to(hier.mount)).lstrip(".")
    offered = set(_read(hier.own / "cgroup.controllers").split())
    lacking = [c for c in CONTROLLERS if c not in offered]
    if lacking:
        v1 = sorted(str(path) for kind, path, opts in _mounts(proc)
                    if kind == "cgroup" and opts & set(lacking))
        where = f"; this host binds them to cgroup v1 ({', '.join(v1)}): a v1/v2 hybrid" if v1 else ""
        return False, (f"cgroup v2 at {hier.mount} (this process's cgroup {rel}) offers only "
                       f"{', '.join(sorted(offered)) or 'no controllers'}; missing: {', '.join(lacking)}{where}")
    if not os.access(hier.own / "cgroup.subtree_control", os.W_OK) or not os.access(hier.own, os.W_OK):
        return False, f"{hier.own} is not writable by uid {os.geteuid()} (not delegated to this user)"
    enabled = set(_read(hier.own / "cgroup.subtree_control").split())
    move = ""
    if not set(CONTROLLERS) <= enabled and not hier.is_root:
        others = _pids(hier.own) - {os.getpid()}
        if others:
            shown = ", ".join(str(p) for p in sorted(others)[:5]) + (", …" if len(others) > 5 else "")
            return False, (f"{hier.own} holds other processes ({shown}) and does not hand "
                           f"{', '.join(c for c in CONTROLLERS if c not in enabled)} to its children; "
                           "cgroup v2 forbids that while it holds processes (no internal processes). "
                           "Run this service in a cgroup of its own (systemd: Delegate=yes)")
        if _pids(hier.own):
            move = f"; this process will first move into {hier.host_leaf} (no internal processes)"
    trial = hier.own / f"plugyard-probe-{os.getpid()}"
    try:
        trial.mkdir()
        _rmdir(trial)
    except OSError as exc:
        return False, f"cannot create a cgroup below {hier.own}: {exc.strerror or exc}"
    return True, f"cgroup v2 at {hier.mount}: jails get cpu, memory and pids limits below {hier.base}{move}"


def _prepare(hier: Hierarchy) -> None:
    """Make `hier.base` a group that hands every controller to its children (once per process)."""
    with _LOCK:
        if hier in _PREPARED:
            return
        enabled = set(_read(hier.own / "cgroup.subtree_control").split())
        needed = [c for c in CONTROLLERS if c not in enabled]
        if needed:
            if not hier.is_root and _pids(hier.own):
                if _pids(hier.own) - {os.getpid()}:
                    raise CgroupError(f"{hier.own} holds other processes; cannot enable {', '.join(needed)}")
                hier.host_leaf.mkdir(exist_ok=True)
                _write(hier.host_leaf / "cgroup.procs", str(os.getpid()))
            _enable(hier.own, needed)
        hier.base.mkdir(exist_ok=True)
        _enable(hier.base, [c for c in CONTROLLERS if c not in _read(hier.base / "cgroup.subtree_control").split()])
        _sweep(hier)
        _PREPARED.add(hier)


def _enable(group: Path, controllers: list[str]) -> None:
    if not controllers:
        return
    try:
        _write(group / "cgroup.subtree_control", " ".join(f"+{c}" for c in controllers))
    except OSError as exc:
        hint = " (it holds processes: no internal processes)" if exc.errno == errno.EBUSY else ""
        raise CgroupError(f"cannot enable {', '.join(controllers)} in {group}: {exc.strerror}{hint}") from None


def _sweep(hier: Hierarchy) -> None:
    """Remove groups left by processes that died without removing theirs."""
    for entry in hier.base.iterdir():
        owner = re.match(r"(\d+)-", entry.name)
        if entry.is_dir() and owner and int(owner.group(1)) != os.getpid() \
                and not (hier.proc / owner.group(1)).exists():
            JailGroup(entry, hier.proc).remove(timeout=0)


def _children(proc: Path, pid: int) -> list[int]:
    kids: list[int] = []
    for task in (proc / str(pid) / "task").glob("*"):
        kids += [int(p) for p in _read(task / "children").split() if p.isdigit()]
    return kids


class JailGroup:
    """One cgroup: the limits of a jail (or of one process in it), and what it used."""

    def __init__(self, path: Path, proc: Path = PROC) -> None:
        self.path, self.proc = path, proc
        self._hands_down = False

    def __repr__(self) -> str:
        return f"JailGroup({str(self.path)!r})"

    @classmethod
    def create(cls, name: str, *, memory_bytes: int | None = None, cpu_max: tuple[int, int] | None = None,
               pids_max: int | None = None, parent: JailGroup | None = None,
               hierarchy: Hierarchy | None = None) -> JailGroup | None:
        """A new group below `plugyard-sandbox/` (or below `parent`) with these limits, or None.

        `cpu_max` is (quota, period) in microseconds: (50_000, 100_000) is half a CPU.
        None when cgroups are unavailable or the kernel refuses a limit; the reason is
        logged. A limit that is not a positive integer is the caller's bug: ValueError.
        """
        for value in (memory_bytes, pids_max, *(cpu_max or ())):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"cgroup limits must be positive integers, got {value!r}")
        try:
            if parent is None:
                hier = hierarchy
                if hier is None:
                    hier, why = locate()
                    if hier is None:
                        raise CgroupError(why)
                _prepare(hier)
                base, proc = hier.base, hier.proc
            else:
                parent._hand_down()
                base, proc = parent.path, parent.proc
            path = base / f"{os.getpid()}-{next(_SEQ)}-{_UNSAFE.sub('_', name)[:64]}"
            path.mkdir()
        except (CgroupError, OSError) as exc:
            log.warning("sandbox cgroup %r not created: %s", name, exc)
            return None
        group = cls(path, proc)
        try:
            group._limit(memory_bytes, cpu_max, pids_max)
        except OSError as exc:
            log.warning("sandbox cgroup %s: cannot set limits: %s", path, exc)
            group.remove(timeout=0)
            return None
        return group

    def _limit(self, memory_bytes: int | None, cpu_max: tuple[int, int] | None, pids_max: int | None) -> None:
        if memory_bytes is not None:
            _write(self.path / "memory.max", str(memory_bytes))
            if (self.path / "memory.swap.max").exists():  # absent without swap accounting
                _write(self.path / "memory.swap.max", "0")  # else memory.max only bounds RAM
        if cpu_max is not None:
            _write(self.path / "cpu.max", f"{cpu_max[0]} {cpu_max[1]}")
        if pids_max is not None:
            _write(self.path / "pids.max", str(pids_max))

    def _hand_down(self) -> None:
        if not self._hands_down:
            enabled = _read(self.path / "cgroup.subtree_control").split()
            _enable(self.path, [c for c in CONTROLLERS if c not in enabled])
            self._hands_down = True

    def add(self, pid: int) -> None:
        """Move `pid` and every process below it into this group, parents before children.

        Parents first is what makes it race-free: the kernel serialises fork against
        migration, so a child forked after its parent moved is born in the group, and one
        forked before is already in /proc/<pid>/task/*/children when we look.
        """
        queue, seen = [pid], set()
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen.add(current)
            try:
                _write(self.path / "cgroup.procs", str(current))
            except OSError as exc:
                if current != pid and exc.errno == errno.ESRCH:
                    continue  # a descendant that exited meanwhile
                raise CgroupError(f"cannot move pid {current} into {self.path}: {exc.strerror}") from None
            queue += _children(self.proc, current)

    def pids(self) -> set[int]:
        """Processes in this group and the groups below it."""
        found = _pids(self.path)
        for sub in self._subgroups():
            found |= JailGroup(sub, self.proc).pids()
        return found

    def cpu_seconds(self) -> float:
        """CPU time used by every process that has been in the group, exited ones included."""
        for line in _read(self.path / "cpu.stat").splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec" and value.strip().isdigit():
                return int(value) / 1_000_000
        return 0.0

    def memory_peak_bytes(self) -> int:
        """The most memory the group has held (memory.peak, kernel 5.19+), else what it holds now."""
        for name in ("memory.peak", "memory.current"):
            text = _read(self.path / name).strip()
            if text.isdigit():
                return int(text)
        return 0

    def oom_kills(self) -> int:
        """How many processes the kernel killed for reaching memory.max."""
        return _event(self.path / "memory.events", "oom_kill")

    def forks_refused(self) -> int:
        """How many fork/clone calls failed on pids.max (in this group or below)."""
        return _event(self.path / "pids.events", "max")

    def kill(self) -> None:
        """SIGKILL every process in the group and below it."""
        if (self.path / "cgroup.kill").exists():  # kernel 5.14+: atomic, no pid races
            try:
                _write(self.path / "cgroup.kill", "1")
                return
            except OSError:
                pass
        # A process forking meanwhile can escape one pass; pids.max bounds how often.
        for _ in range(3):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def remove(self, timeout: float = 2.0) -> bool:
        """Remove the group and the groups below it; True when gone. Call kill() first
        if processes may remain: a group with processes cannot be removed (EBUSY)."""
        deadline = time.monotonic() + timeout
        for sub in self._subgroups():
            JailGroup(sub, self.proc).remove(max(0.0, deadline - time.monotonic()))
        while True:
            try:
                _rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                    log.warning("sandbox cgroup %s not removed: %s", self.path, exc.strerror)
                    return False
                time.sleep(0.01)  # a killed process takes a moment to leave

    def _subgroups(self) -> list[Path]:
        try:
            return [entry for entry in self.path.iterdir() if entry.is_dir()]
        except OSError:
            return []


def _event(path: Path, key: str) -> int:
    for line in _read(path).splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0
