# expect: timeout
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    while True:
        pass
