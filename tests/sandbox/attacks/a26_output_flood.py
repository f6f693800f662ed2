# expect: ok
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    line = "x" * 1000
    for _ in range(20000):
        print(line)
    return "contained: printed 20 MB"
