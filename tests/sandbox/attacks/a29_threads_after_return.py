# expect: ok
# needs: seccomp
# A thread left spinning after the handler returns would outlive the call; workers cannot
# create threads at all (clone is denied).
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    thread = full_python()("_thread")

    def spin():
        while True:
            pass
    try:
        thread.start_new_thread(spin, ())
    except RuntimeError as exc:
        return f"contained: {exc}"
    return "ESCAPED thread started"
