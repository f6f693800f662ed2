# expect: ok
# needs: bwrap,seccomp
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    os = full_python()("os")
    results = []
    for path in ("main.py", "/plugin/evil.py", "/tmp/x", "/x"):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            written = os.write(fd, b"owned")
            results.append(("ESCAPED", path, written))
        except OSError as exc:
            results.append(("contained", path, exc.errno))
    if any(r[0] == "ESCAPED" for r in results):
        return "ESCAPED " + repr(results)
    try:
        open("notes.txt", "w")
    except PermissionError:
        return "contained: " + repr(results)
    return "ESCAPED guarded open allowed writing"
