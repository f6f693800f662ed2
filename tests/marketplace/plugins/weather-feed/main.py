"""Weather Feed: a plugin with a required setting, a declared secret and one only its code reads."""
from src.ext.sdk import PluginContext, job, route


@route("/forecast", methods=["GET"])
def forecast(ctx: PluginContext):
    """What the installation is configured with; never the secrets, only whether they are there."""
    token = ctx.secrets.get("API_TOKEN")
    region = ctx.secrets.get("REGION_KEY")
    return {
        "api_url": ctx.config.get("api_url"),
        "units": ctx.config.get("units"),
        "has_token": token is not None,
        "has_region": region is not None,
    }


@route("/fail", methods=["GET"])
def fail(ctx: PluginContext):
    raise ValueError("the weather service said no")


@job("refresh", schedule="*/15 * * * *")
def refresh(ctx: PluginContext):
    return {"refreshed": True}
