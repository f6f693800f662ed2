"""CPU time per kind of process, from /proc: who pays for the work a benchmark drives.

:func:`snapshot` returns CPU seconds so far for named process trees, the sandbox service
(its own threads) and its jails, optionally the PostgreSQL and Redis servers, and the whole
machine; the difference of two snapshots is what each spent in between. The machine shares
its CPUs with whatever else runs, so :func:`describe` also says how much of the machine's
busy time was not the benchmark's.
"""
from __future__ import annotations

import os

__all__ = ["describe", "difference", "process_tree", "snapshot"]

_TICKS = os.sysconf("SC_CLK_TCK")
MACHINE = "machine (all processes)"


def _stat(pid: int) -> tuple[int, float, float, str] | None:
    """(parent pid, its own CPU seconds, its reaped children's, its name), None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            head, _, tail = fh.read().rpartition(")")
    except OSError:
        return None
    fields = tail.split()
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS,
            (int(fields[13]) + int(fields[14])) / _TICKS, head.partition("(")[2])


def _schedstat_s(pid: int) -> float:
    """A process's main thread's CPU time in nanoseconds' precision (jails are single-threaded)."""
    try:
        with open(f"/proc/{pid}/schedstat") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _machine_busy_s() -> float:
    with open("/proc/stat") as fh:
        cpu = [int(v) for v in fh.readline().split()[1:]]
    return (sum(cpu) - cpu[3] - cpu[4]) / _TICKS  # everything but idle and iowait


def snapshot(trees: dict[str, list[int]], *, sandboxd: int | None = None, servers: bool = False) -> dict[str, float]:
    """CPU seconds so far: each named list of processes with everything under them (reaped
    children included); with ``sandboxd``, the service's own threads and, apart, its jails
    (a jail's process uses well under a clock tick per call, which /proc/PID/stat rounds
    away per process, so they are read from schedstat); with ``servers``, every PostgreSQL
    and Redis server process (exited backends included, through the postmaster — and any
    other client's share); and the whole machine."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _stat(int(entry))) is not None:
            stats[int(entry)] = found
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root: int) -> list[int]:
        return process_tree(root, children) if root in stats else []

    found: dict[str, float] = {
        label: sum(stats[p][1] + stats[p][2] for root in roots for p in tree(root)) for label, roots in trees.items()
    }
    if sandboxd is not None:
        found["sandbox service"] = stats.get(sandboxd, (0, 0.0, 0.0, ""))[1]
        found["jails"] = sum(_schedstat_s(p) for p in tree(sandboxd) if p != sandboxd)
    if servers:
        found["PostgreSQL + Redis servers"] = sum(own + reaped for _, own, reaped, name in stats.values()
                                                  if name in ("postgres", "redis-server"))
    found[MACHINE] = _machine_busy_s()
    return found


def difference(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in before if key in after}


def describe(spent: dict[str, float], seconds: float, per: float | None = None, unit: str = "") -> tuple[str, str]:
    """(each kind's CPU — per ``per`` items in ms when given, else in % of one CPU —, the
    machine's busy share and how much of it was other processes)."""
    spent = dict(spent)
    machine = spent.pop(MACHINE)
    if per:
        parts = [f"{name} {value * 1000 / per:.2f}" for name, value in spent.items()]
    else:
        parts = [f"{name} {value * 100 / seconds:.0f} %" for name, value in spent.items()]
    cpus = os.cpu_count() or 1
    others = max(0.0, machine - sum(spent.values()))
    return ("; ".join(parts) + unit,
            f"machine busy {machine * 100 / (seconds * cpus):.0f} % of {cpus} CPUs, of which "
            f"{others * 100 / (seconds * cpus):.0f} % other processes (not this benchmark's)")


def process_tree(root: int, children: dict[int, list[int]]) -> list[int]:
    """``root`` and every process below it, parents first, from a parent -> children map."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found
