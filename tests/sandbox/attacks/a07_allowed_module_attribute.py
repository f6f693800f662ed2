# expect: ok
# `random` imports `os` as `random._os`; the plugin's copy of `random` does not carry it.
from src.ext.sdk import hook
import random
import collections


@hook("attack")
def run(ctx, data):
    for mod, attr in ((random, "_os"), (collections, "_sys")):
        if hasattr(mod, attr):
            return "ESCAPED " + attr
    return "contained: no module attributes"
