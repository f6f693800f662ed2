# expect: error
from src.ext.sdk import hook
import os  # refused at load: the plugin never runs


@hook("attack")
def run(ctx, data):
    return "ESCAPED " + os.popen("id").read()
