"""Slack Notifier: the SBH guide's example that "sends Slack notifications for events".

Each handled event becomes one message posted to the installation's Slack incoming webhook
(the SLACK_WEBHOOK_URL secret) through ctx.http: the host makes the request, only to
hooks.slack.com, and records it. A refused or failed post fails the invocation, so it is
seen in the plugin's activity rather than lost.
"""
from src.ext.sdk import PluginContext, hook, route


def build_message(event_data):
    """The Slack text of a build.completed event."""
    ok = event_data.get("status") == "success"
    project = event_data.get("project_name") or "a project"
    icon = ":white_check_mark:" if ok else ":x:"
    return f"{icon} Build {event_data.get('build_id')} of {project}: {event_data.get('status')}"


def post_to_slack(ctx: PluginContext, text):
    url = ctx.secrets.get("SLACK_WEBHOOK_URL")
    if not url:
        raise RuntimeError("the SLACK_WEBHOOK_URL secret is not set")
    response = ctx.http.post(url, json={"text": text}, timeout=5)
    if not response.ok:
        raise RuntimeError(f"Slack answered {response.status_code}: {response.text[:200]}")
    return {"sent": True, "status": response.status_code, "text": text}


@hook("build.completed")
def on_build_completed(ctx: PluginContext, event_data):
    return post_to_slack(ctx, build_message(event_data))


@hook("auth.user.created")
def on_user_created(ctx: PluginContext, event_data):
    email = event_data.get("user", {}).get("email") or "someone"
    return post_to_slack(ctx, f":wave: {email} just signed up")


@route("/ping", methods=["GET"])
def ping_route(ctx: PluginContext):
    """Health check: says whether the webhook URL is set (never the URL itself)."""
    return {"status": "ok", "plugin": "slack-notifier", "configured": bool(ctx.secrets.get("SLACK_WEBHOOK_URL"))}
