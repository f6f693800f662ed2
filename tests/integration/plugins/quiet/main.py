from src.ext.sdk import hook, route


@route("/hello", methods=["GET"])
def hello(ctx):
    return {"hello": ctx.tenant_id}


@hook("device.created")
def seen(ctx, event_data):
    return {"seen": event_data["device_id"]}
