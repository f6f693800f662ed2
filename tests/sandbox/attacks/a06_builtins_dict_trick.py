# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    b = __builtins__
    imp = b["__import__"] if isinstance(b, dict) else b.__import__
    sys = imp("sys")
    return "ESCAPED " + str(sys.modules["os"].listdir("/"))
