"""seccomp-bpf programs, compiled on the host with libseccomp (pyseccomp), loaded in the jail.

Two filters, stacked. The *zygote* filter (loaded once in the zygote, inherited by every
worker) is a deny-list of what no process in the jail ever needs: exec, new sockets,
ptrace, mount, namespaces, kernel keyrings, BPF, module loading... The zygote runs only
trusted code (the SDK and our runtime), and it must still fork.

The *worker* filter (loaded in each forked worker before plugin code exists) is an
allow-list: the system calls an interpreter serving calls over its inherited socket
needs — reading and writing open descriptors, memory, time, its own signals, polling
(asyncio), read-only opens in the jail — and nothing else. Every other call fails with
EPERM: process creation of any kind (so workers have no threads), signals to others,
fd passing, prctl, rlimit changes, writes to the file system, and whatever the kernel
adds next. The list was taken from `strace` of the guides' examples and the supervisor
tests; `tests/sandbox/attacks/a38_unlisted_syscall.py` shows a call on neither list refused.
"""

from __future__ import annotations

import errno
import tempfile
from typing import Any

__all__ = ["WORKER_ALLOW", "WORKER_ALLOW_IF", "ZYGOTE_DENY", "compile_filters", "seccomp_available"]

ZYGOTE_DENY = (
    "execve", "execveat", "socket", "connect", "bind", "listen", "accept", "accept4", "ptrace",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open",
    "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "process_vm_readv",
    "process_vm_writev", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init", "acct", "quotactl",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog", "vhangup", "iopl",
    "ioperm", "personality", "mknod", "mknodat", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "fsopen", "fsmount",
    "fsconfig", "move_mount", "open_tree", "lookup_dcookie", "kcmp", "sethostname",
    "setdomainname", "mbind", "migrate_pages", "move_pages", "set_mempolicy",
)
WORKER_ALLOW = (
    # descriptors the worker already holds (its socket, files it opened read-only)
    "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "close",
    "lseek", "dup", "dup2", "dup3", "fstat", "newfstatat", "stat", "lstat", "statx", "fstatfs",
    "getdents64", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd",
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
    # time and waiting
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "pipe", "pipe2", "socketpair",
    "getsockname", "getsockopt", "shutdown", "futex", "sched_yield", "restart_syscall",
    # its own signals and identity
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
    "rt_sigtimedwait", "sigaltstack", "getpid", "gettid", "getppid", "getuid", "geteuid",
    "getgid", "getegid", "getgroups", "getresuid", "getresgid", "getpgrp", "getpgid", "getsid",
    "getrlimit", "getrusage", "times", "getpriority", "sched_getaffinity", "uname", "sysinfo",
    "getrandom", "rseq", "set_robust_list", "arch_prctl",
    # leaving
    "exit", "exit_group",
)
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND
#: Allowed only with these arguments: (argument index, mask, value) — allowed when any holds.
#: Opens are read-only. fcntl and ioctl get no F_SETOWN / FIOSETOWN, which would let a
#: worker aim SIGIO at a sibling worker (another tenant's) in the same jail.
WORKER_ALLOW_IF: dict[str, list[tuple[int, int, int]]] = {
    "openat": [(2, _WRITE_FLAGS, 0)],
    "open": [(1, _WRITE_FLAGS, 0)],
    # F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC
    "fcntl": [(1, 0xFFFFFFFF, cmd) for cmd in (0, 1, 2, 3, 4, 1030)],
    # TCGETS (isatty), FIONREAD, FIONBIO, FIONCLEX, FIOCLEX
    "ioctl": [(1, 0xFFFFFFFF, request) for request in (0x5401, 0x541B, 0x5421, 0x5450, 0x5451)],
}


def seccomp_available() -> tuple[bool, str]:
    """Whether filters can be built (pyseccomp + libseccomp) and the kernel has seccomp."""
    try:
        import pyseccomp  # noqa: F401
    except Exception as exc:
        return False, f"pyseccomp/libseccomp unavailable: {exc}"
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            if "Seccomp:" not in fh.read():
                return False, "kernel without seccomp"
    except OSError:
        return False, "cannot read /proc/self/status"
    return True, "libseccomp"


def _build(default: str, listed: tuple[str, ...], conditional: dict[str, list[tuple[int, int, int]]] | None = None) -> bytes:
    """A program: ``default`` ("allow" or "deny") for every call, the other for ``listed``
    and, when their arguments match, for ``conditional``."""
    import pyseccomp as sc

    deny = sc.ERRNO(errno.EPERM)
    flt: Any = sc.SyscallFilter(sc.ALLOW if default == "allow" else deny)
    other = deny if default == "allow" else sc.ALLOW
    rules = [(name, ()) for name in listed]
    rules += [(name, (sc.Arg(index, sc.MASKED_EQ, mask, value),))
              for name, alternatives in (conditional or {}).items() for index, mask, value in alternatives]
    for name, args in rules:
        try:
            flt.add_rule(other, name, *args)
        except (ValueError, OSError, RuntimeError):
            continue  # not a syscall on this architecture
    with tempfile.TemporaryFile() as fh:  # export_bpf writes to a real fd
        flt.export_bpf(fh)
        fh.seek(0)
        return fh.read()


_cache: dict[str, bytes] = {}


def compile_filters() -> tuple[bytes, bytes]:
    """(zygote program, worker program) as raw BPF; cached per process."""
    if not _cache:
        _cache["zygote"] = _build("allow", ZYGOTE_DENY)
        _cache["worker"] = _build("deny", WORKER_ALLOW, WORKER_ALLOW_IF)
    return _cache["zygote"], _cache["worker"]
