# expect: ok
# needs: seccomp
# Raw syscalls through ctypes: ptrace, unshare, mount, setrlimit all refused by seccomp.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    ctypes = full_python()("ctypes")
    libc = ctypes.CDLL(None, use_errno=True)
    attempts = {
        "ptrace": libc.ptrace(16, 1, 0, 0),  # PTRACE_ATTACH to pid 1
        "unshare": libc.unshare(0x10000000),  # CLONE_NEWUSER
        "mount": libc.mount(b"none", b"/", b"tmpfs", 0, None),
        "prctl_dumpable": libc.prctl(4, 1, 0, 0, 0),
    }
    if any(rc == 0 for rc in attempts.values()):
        return "ESCAPED " + repr(attempts)
    return "contained: " + repr(attempts)
