# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    import threading
    threading.Thread(target=lambda: None).start()
    return "ESCAPED"
