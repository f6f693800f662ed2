"""Given a Slack webhook URL secret, each event posts one message; nothing leaves the machine
(the kit's ctx.http is a fake that records the request)."""
import pytest
from main import build_message, on_build_completed, on_user_created, ping_route
from plugyard_sdk.testing import LocalBackend
from src.ext.sdk import PluginContext

URL = "https://hooks.slack.com/services/T000/B000/XXXX"


def _ctx(**backend):
    return PluginContext("test-tenant", "test-user", backend=LocalBackend(**backend))


def _posts(ctx):
    return [args for method, args in ctx.backend.calls if method == "http.request"]


def test_a_build_is_posted_to_the_webhook_url():
    ctx = _ctx(secrets={"SLACK_WEBHOOK_URL": URL}, permissions=["outbound_http"])

    result = on_build_completed(ctx, {"build_id": 42, "status": "success", "project_name": "api"})

    assert result["sent"] is True
    [post] = _posts(ctx)
    assert (post["method"], post["url"]) == ("POST", URL)
    assert post["json"] == {"text": ":white_check_mark: Build 42 of api: success"}


def test_a_failed_build_and_a_new_user_read_as_such():
    assert build_message({"build_id": 7, "status": "failed"}) == ":x: Build 7 of a project: failed"
    ctx = _ctx(secrets={"SLACK_WEBHOOK_URL": URL})
    assert on_user_created(ctx, {"user": {"email": "ada@example.com"}})["text"] == ":wave: ada@example.com just signed up"


def test_slack_refusing_fails_the_invocation():
    ctx = _ctx(secrets={"SLACK_WEBHOOK_URL": URL},
               http_responses={f"POST {URL}": {"status_code": 404, "text": "no_service"}})
    with pytest.raises(RuntimeError, match="Slack answered 404: no_service"):
        on_build_completed(ctx, {"build_id": 1, "status": "success"})


def test_without_the_secret_nothing_is_sent():
    ctx = _ctx()
    with pytest.raises(RuntimeError, match="SLACK_WEBHOOK_URL"):
        on_build_completed(ctx, {"build_id": 1, "status": "success"})
    assert _posts(ctx) == []
    assert ping_route(ctx) == {"status": "ok", "plugin": "slack-notifier", "configured": False}
