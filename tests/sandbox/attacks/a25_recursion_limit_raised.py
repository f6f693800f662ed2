# expect: crash,memory,error,timeout
# With the recursion limit lifted, frames pile up until the 100 MB address-space limit or
# the C stack stops them, or the deadline does first (Python 3.11 frames are small, and a
# slow machine may not reach the limit in 3 s): the worker dies, the host lives.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    full_python()("sys").setrecursionlimit(10 ** 7)

    def down(n):
        return down(n + 1) + 1
    return down(0)
