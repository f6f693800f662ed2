"""Resident memory of the sandbox's processes, read from /proc (Linux; 0 where it cannot be read).

VmRSS counts every page a process has resident, shared ones included: a worker forked from
its zygote shares most of its pages with it, so a sum over both counts those pages twice.
That makes the sum an upper bound of what the jails hold, which is the figure an operator
sizing a machine wants; the kernel's cgroup accounting is the exact one where it exists.
"""

from __future__ import annotations

import os
from collections.abc import Collection

__all__ = ["rss_bytes", "tree_rss_bytes"]


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` in bytes; 0 when it is gone (or not ours to read)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss_bytes(root: int, *, apart: Collection[int] = ()) -> int:
    """VmRSS of ``root`` and every process below it, leaving out ``apart`` and what is below them.

    A jail is bubblewrap, its pid-1 bubblewrap and the zygote's interpreter under it; the
    workers the zygote forks are counted on their own, so the caller passes them as ``apart``.
    """
    total, pending, seen = 0, [root], set()
    while pending:
        pid = pending.pop()
        if pid in seen or pid in apart:
            continue
        seen.add(pid)
        total += rss_bytes(pid)
        pending.extend(_children(pid))
    return total


def _children(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (a fork may come from any thread)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                found.extend(int(child) for child in fh.read().split())
        except (OSError, ValueError):  # gone meanwhile, or a kernel without CONFIG_PROC_CHILDREN
            continue
    return found
