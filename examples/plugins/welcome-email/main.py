"""Welcome Email: the SBH guide's first example, sending a real email on user creation."""
from src.ext.sdk import PluginContext, hook, job, route


@hook("auth.user.created")
def on_user_created(ctx: PluginContext, event_data):
    """Send a welcome email to the new user and tell the product it was sent."""
    user_email = event_data.get("user", {}).get("email")
    if not user_email:
        print("auth.user.created without an email; nothing to send")
        return {"sent": False}
    ctx.send_email(to=[user_email], subject="Welcome!", body="Your account is ready.")
    ctx.emit("email.welcome_sent", {"user_email": user_email})
    return {"sent": True}


@route("/ping", methods=["GET"])
def ping_route(ctx: PluginContext):
    """Health check endpoint."""
    return {"status": "ok", "plugin": "welcome-email", "tenant": ctx.tenant_id}


@job("daily_cleanup", schedule="0 2 * * *")
def daily_cleanup_job(ctx: PluginContext):
    """Daily cleanup task."""
    print("Running daily cleanup...")
    return {"status": "cleanup_completed"}
