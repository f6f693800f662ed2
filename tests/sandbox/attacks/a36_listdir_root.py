# expect: ok
# needs: bwrap
# What is there to see? Only the jail: no /etc, /home, /root/.ssh, /work, /proc, /dev.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    os = full_python()("os")
    seen = sorted(os.listdir("/"))
    if {"etc", "home", "work", "proc", "dev", "var"} & set(seen):
        return "ESCAPED sees " + repr(seen)
    return "contained: " + repr(seen)
