"""seccomp-bpf programs, compiled on the host with libseccomp (pyseccomp), loaded in the jail.

Two filters, stacked: the *zygote* filter (loaded once in the zygote, inherited by every
worker) denies what no process in the jail ever needs — exec, new sockets, ptrace,
mount, namespaces, kernel keyrings, BPF, module loading... The *worker* filter (loaded
in each forked worker before plugin code exists) also denies process creation — fork,
vfork, and clone of any kind, so workers have no threads either — plus signals to other
processes, fd passing, prctl and rlimit changes. Denied calls fail with EPERM (clone3
with ENOSYS, so libc falls back to clone and gets EPERM); other architectures are killed.
"""

from __future__ import annotations

import errno
import tempfile
from typing import Any

__all__ = ["WORKER_DENY", "ZYGOTE_DENY", "compile_filters", "seccomp_available"]

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
WORKER_DENY = (
    "clone", "fork", "vfork", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "sendmsg", "sendmmsg", "recvmsg",
    "recvmmsg", "sendto", "recvfrom", "prctl", "seccomp", "setrlimit", "prlimit64",
    "memfd_create", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat",
    "rmdir", "symlink", "symlinkat", "link", "linkat", "chmod", "fchmod", "fchmodat", "chown",
    "fchown", "lchown", "fchownat", "truncate", "ftruncate", "chdir", "fchdir", "setpgid",
    "setsid", "flock", "inotify_init", "inotify_init1", "fanotify_mark",
)


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


def _build(deny: tuple[str, ...], extra: dict[str, int] | None = None) -> bytes:
    import pyseccomp as sc

    flt: Any = sc.SyscallFilter(sc.ALLOW)
    for name in deny:
        try:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        except (ValueError, OSError, RuntimeError):
            continue  # not a syscall on this architecture
    for name, err in (extra or {}).items():
        try:
            flt.add_rule(sc.ERRNO(err), name)
        except (ValueError, OSError, RuntimeError):
            continue
    with tempfile.TemporaryFile() as fh:  # export_bpf writes to a real fd
        flt.export_bpf(fh)
        fh.seek(0)
        return fh.read()


_cache: dict[str, bytes] = {}


def compile_filters() -> tuple[bytes, bytes]:
    """(zygote program, worker program) as raw BPF; cached per process."""
    if not _cache:
        _cache["zygote"] = _build(ZYGOTE_DENY)
        _cache["worker"] = _build(WORKER_DENY, {"clone3": errno.ENOSYS})
    return _cache["zygote"], _cache["worker"]
