# expect: ok
# Reaching the RPC backend directly and naming another installation gets nothing: the
# protocol has no such field, and the bridge serves only the installation being invoked.
from src.ext.sdk import hook, PluginContext


@hook("attack")
def run(ctx, data):
    backend = PluginContext.__init__.__globals__["current_backend"]()
    for args in ({"name": "OTHER_TENANT_KEY", "installation_key": "inst-victim"},
                 {"name": "OTHER_TENANT_KEY", "installation_id": "inst-victim", "tenant_id": "victim"}):
        try:
            value = backend.call("secrets.get", args)
        except Exception as exc:
            value = None
        if value:
            return "ESCAPED " + value
    return "contained: " + str(ctx.secrets.get("OTHER_TENANT_KEY"))
