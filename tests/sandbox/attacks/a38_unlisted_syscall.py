# expect: ok
# needs: seccomp
# Calls on neither seccomp list: lowering its own priority, pinning itself to a CPU, and
# aiming SIGIO at another process (F_SETOWN). The worker filter is an allow-list, so each
# fails; a deny-list that forgot them would let them through.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    ctypes = full_python()("ctypes")
    libc = ctypes.CDLL(None, use_errno=True)
    mask = ctypes.c_ulong(1)
    attempts = {
        "setpriority": libc.setpriority(0, 0, 19),
        "sched_setaffinity": libc.sched_setaffinity(0, ctypes.sizeof(mask), ctypes.byref(mask)),
        "fcntl_setown": libc.fcntl(0, 8, 1),  # F_SETOWN to pid 1
        "open_for_writing": libc.open(b"/plugin/x", 0o101, 0o600),  # O_WRONLY|O_CREAT
    }
    if any(rc >= 0 for rc in attempts.values()):
        return "ESCAPED " + repr(attempts)
    return "contained: " + repr(attempts)
