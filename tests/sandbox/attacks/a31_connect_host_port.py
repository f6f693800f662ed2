# expect: ok
# needs: bwrap,seccomp
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    socket = full_python()("socket")
    errors = []
    for addr in (("127.0.0.1", 5432), ("127.0.0.1", 6379), ("10.0.0.1", 80)):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(1)
            s.connect(addr)
            return f"ESCAPED connected to {addr}"
        except OSError as exc:
            errors.append(str(exc))
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        return "ESCAPED unix socket"
    except OSError as exc:
        errors.append(str(exc))
    return "contained: " + "; ".join(errors)
