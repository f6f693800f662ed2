# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    import socket
    socket.create_connection(("127.0.0.1", 5432), timeout=1)
    return "ESCAPED connected"
