# expect: ok
# needs: bwrap
# With the real `open`, the file is simply not there: the jail has no /etc.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    full_python()
    try:
        return "ESCAPED " + len.__self__.open("/etc/passwd").read()
    except OSError as exc:
        return f"contained: {exc}"
