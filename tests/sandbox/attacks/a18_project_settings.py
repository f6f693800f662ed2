# expect: ok
# needs: bwrap
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    full_python()
    for path in ("/work/main/config/settings.py", "/work/main/.env", "/root/.bash_history"):
        try:
            return "ESCAPED " + len.__self__.open(path).read(200)
        except OSError:
            pass
    return "contained"
