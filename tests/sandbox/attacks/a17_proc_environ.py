# expect: ok
# needs: bwrap
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    os = full_python()("os")
    found = []
    for path in ("/proc/1/environ", "/proc/self/environ", "/proc/self/mem"):
        try:
            found.append(len.__self__.open(path, "rb").read(100))
        except OSError:
            pass
    if found:
        return "ESCAPED " + repr(found)
    return "contained: env=" + repr(dict(os.environ))
