# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    import ctypes
    return "ESCAPED " + str(ctypes.CDLL(None).getpid())
