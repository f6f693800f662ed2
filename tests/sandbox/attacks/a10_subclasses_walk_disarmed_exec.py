# expect: ok
# needs: seccomp
# Same walk with the tripwire switched off: execve is denied by seccomp and /bin/sh is absent.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    os = full_python()("os")
    try:
        os.execv("/bin/sh", ["sh", "-c", "id"])
    except OSError as exc:
        return f"contained: {exc}"
    return "ESCAPED"
