# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    import importlib
    return "ESCAPED " + str(importlib.import_module("os").environ)
