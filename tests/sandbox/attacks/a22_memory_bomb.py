# expect: memory
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    hoard = []
    while True:
        hoard.append(" " * (10 * 1024 * 1024))
