# expect: ok
# needs: seccomp
# Workers of one plugin version share a jail; they cannot signal or trace each other.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    os = full_python()("os")
    for pid in range(1, 64):
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 9)
            return f"ESCAPED killed {pid}"
        except PermissionError:
            continue
        except ProcessLookupError:
            continue
    return "contained"
