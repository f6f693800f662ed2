# expect: ok
# needs: seccomp
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    os = full_python()("os")
    children = 0
    for _ in range(50):
        try:
            if os.fork() == 0:
                while True:
                    pass
            children += 1
        except OSError as exc:
            return f"contained after {children} children: {exc}"
    return f"ESCAPED forked {children}"
