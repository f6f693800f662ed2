# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    try:
        1 / 0
    except ZeroDivisionError as exc:
        frame = exc.__traceback__.tb_frame
    while frame is not None:
        if "protocol" in frame.f_globals:
            return "ESCAPED reached the worker's globals"
        frame = frame.f_back
    return "contained"
