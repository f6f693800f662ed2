# expect: memory
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    return len("x" * (2 * 1024 ** 3))
