"""Kernel-enforced limits applied inside the jail: rlimits, non-dumpable, seccomp-bpf.

The seccomp programs are compiled on the host with libseccomp and arrive here as raw BPF;
loading one needs only `prctl`, which we reach through ctypes (loaded by trusted code
before any plugin code, and hidden from the plugin by the import guard).
"""

from __future__ import annotations

import ctypes
import resource
from typing import Any

__all__ = ["apply_rlimits", "load_seccomp", "set_no_new_privs", "set_nondumpable", "set_parent_death_signal"]

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(option: int, arg2: int | Any = 0) -> None:
    if _libc.prctl(option, arg2, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def set_no_new_privs() -> None:
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)


def set_parent_death_signal() -> None:
    """Die with the zygote even where no PID namespace does it for us (no-bwrap fallback)."""
    _prctl(_PR_SET_PDEATHSIG, 9)


def set_nondumpable() -> None:
    """Other processes of the same uid (sibling workers) cannot open our /proc/<pid>/mem."""
    _prctl(_PR_SET_DUMPABLE, 0)


def load_seccomp(program: bytes) -> None:
    """Install one filter (filters stack: each new one can only take rights away)."""
    if not program or len(program) % 8:
        raise ValueError("not a BPF program")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    set_no_new_privs()
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


_LIMITS = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
    "memlock": resource.RLIMIT_MEMLOCK,
}


def apply_rlimits(limits: dict[str, int]) -> dict[str, str]:
    """Set soft = hard for each limit (the plugin cannot raise a soft limit back up).

    Returns the limits that could not be set, with the reason (reported as layer notes).
    """
    failed: dict[str, str] = {}
    for name, value in limits.items():
        which = _LIMITS[name]
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as exc:
            failed[name] = str(exc)
    return failed
