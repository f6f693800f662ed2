# expect: error
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    import subprocess
    return "ESCAPED " + subprocess.check_output(["id"]).decode()
