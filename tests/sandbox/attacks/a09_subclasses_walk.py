# expect: error
# The classic: walk object.__subclasses__() to a class whose methods' globals hold `os`.
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    for cls in ().__class__.__base__.__subclasses__():
        init = getattr(cls, "__init__", None)
        g = getattr(init, "__globals__", None)
        if g and "os" in g and hasattr(g["os"], "system"):
            rc = g["os"].system("cat /etc/passwd")  # the tripwire fires here; exec is denied anyway
            return "ESCAPED" if rc == 0 else f"contained: rc={rc}"
    return "contained: no os"
