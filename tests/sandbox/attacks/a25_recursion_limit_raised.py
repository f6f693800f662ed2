# expect: crash,memory,error
# With the recursion limit lifted, the C stack overflows: the worker dies, the host lives.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    full_python()("sys").setrecursionlimit(10 ** 7)

    def down(n):
        return down(n + 1) + 1
    return down(0)
