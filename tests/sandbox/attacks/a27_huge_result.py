# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    return "y" * (8 * 1024 * 1024)
