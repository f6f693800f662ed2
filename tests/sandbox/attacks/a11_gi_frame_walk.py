# expect: error
# Generator frames lead to the worker's frames and their globals (the pipe, the guard...).
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    def gen():
        yield
    g = gen()
    frame = g.gi_frame
    while frame is not None:
        if "os" in frame.f_globals:
            return "ESCAPED " + str(frame.f_globals["os"].listdir("/"))
        frame = frame.f_back
    return "contained"
