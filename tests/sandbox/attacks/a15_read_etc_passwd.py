# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    return "ESCAPED " + open("/etc/passwd").read()
