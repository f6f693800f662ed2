# expect: timeout
# Ignore every catchable signal, then spin: the deadline uses SIGKILL.
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    signal = full_python()("signal")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGALRM):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        pass
