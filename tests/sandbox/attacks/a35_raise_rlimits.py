# expect: ok
from src.ext.sdk import hook
from _escape import full_python


@hook("attack")
def run(ctx, data):
    resource = full_python()("resource")
    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        return "ESCAPED raised RLIMIT_AS"
    except (OSError, ValueError) as exc:
        return f"contained: {exc}"
