# expect: crash
# f_globals of SDK functions reach the worker's RPC channel; writing forged frames to it
# is a protocol violation: the supervisor kills this worker and serves the next call.
from src.ext.sdk import hook, PluginContext
from _escape import full_python


@hook("attack")
def run(ctx, data):
    runtime = PluginContext.__init__.__globals__["current_backend"].__globals__["_runtime"]
    fd = runtime.backend._worker.fd
    os = full_python()("os")
    os.write(fd, b"\x00\x00\x00\x10{\"op\":\"pwned\"}xx")
    os.write(fd, b"\xff\xff\xff\xff")
    return "ESCAPED? the supervisor must not accept this"
