# expect: error
# `os` and `sys` are already in sys.modules of the worker; the filtered view still refuses them.
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    os = __import__("os")
    return "ESCAPED " + str(os.getpid())
