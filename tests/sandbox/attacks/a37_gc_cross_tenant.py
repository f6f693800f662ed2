# expect: ok
# Look through every object in the process for another tenant's data: the worker was forked
# from a zygote that never ran plugin code, so there is none.
from src.ext.sdk import hook
from _escape import full_python

SECRET = None


@hook("plant")
def plant(ctx, data):
    global SECRET
    SECRET = data["secret"]
    return "planted"


@hook("attack")
def run(ctx, data):
    gc = full_python()("gc")
    for obj in gc.get_objects():
        if isinstance(obj, dict):
            for value in obj.values():
                if isinstance(value, str) and value.startswith("victim-secret"):
                    return "ESCAPED " + value
    return "contained: SECRET=" + repr(SECRET)
