# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    def down(n):
        return down(n + 1) + 1
    return down(0)
