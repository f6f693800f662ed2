"""llm.run against a fake OpenAI-compatible server (metered per tenant), and email.send."""
from __future__ import annotations

import json

import pytest
from django.core import mail

from plugins_core.host.errors import BadArguments, NotAvailable, QuotaExceeded, UpstreamError
from plugins_core.host.models import LlmUsage
from tests.host import servers

pytestmark = pytest.mark.django_db


def completion(handler, query, body):
    request = json.loads(body)
    reply = {"id": "cmpl-1", "object": "chat.completion", "model": request["model"],
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "short summary"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}
    handler._send(200, json.dumps(reply).encode(), {"Content-Type": "application/json"})


def failing(handler, query, body):
    handler._send(500, b"boom")


@pytest.fixture
def llm_bridge(acme, make_installation, bridge_for):
    return bridge_for(make_installation(acme, permissions=["llm.use"]))


def test_no_backend_is_a_clear_error(llm_bridge, settings):
    settings.PLUGYARD_LLM = {**settings.PLUGYARD_LLM, "base_url": None}
    with pytest.raises(NotAvailable, match="no LLM backend is configured"):
        llm_bridge.call("llm.run", {"prompt": "hi", "options": {}})


def test_run_calls_the_backend_and_meters_the_tenant(acme, llm_bridge, settings):
    with servers.serve({"/v1/chat/completions": completion}) as server:
        settings.PLUGYARD_LLM = {**settings.PLUGYARD_LLM, "base_url": f"http://127.0.0.1:{server.port}/v1", "api_key": "sk-test",
                                 "model": "tiny-model", "max_tokens": 100}
        reply = llm_bridge.call("llm.run", {"prompt": "Summarize this text: ...", "options": {"system": "be brief",
                                                                                               "max_tokens": 500}})
        llm_bridge.call("llm.run", {"prompt": "again", "options": {}})
    assert reply == "short summary"
    sent = json.loads(server.requests[0]["body"])
    assert sent["model"] == "tiny-model" and sent["max_tokens"] == 100
    assert sent["messages"] == [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "Summarize this text: ..."}]
    assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-test"
    usage = LlmUsage.objects.for_tenant(acme).get()
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (2, 24, 6)


def test_options_are_checked_and_the_daily_budget_holds(acme, llm_bridge, settings):
    with servers.serve({"/chat/completions": completion, "/bad/chat/completions": failing}) as server:
        settings.PLUGYARD_LLM = {**settings.PLUGYARD_LLM, "base_url": f"http://127.0.0.1:{server.port}", "daily_token_limit": 15}
        with pytest.raises(BadArguments, match="unknown LLM option"):
            llm_bridge.call("llm.run", {"prompt": "x", "options": {"model": "gpt-huge"}})
        llm_bridge.call("llm.run", {"prompt": "x", "options": {}})
        with pytest.raises(QuotaExceeded, match="15 LLM tokens for today"):
            llm_bridge.call("llm.run", {"prompt": "x", "options": {}})
        settings.PLUGYARD_LLM = {**settings.PLUGYARD_LLM, "base_url": f"http://127.0.0.1:{server.port}/bad", "daily_token_limit": None}
        with pytest.raises(UpstreamError, match="HTTP 500"):
            llm_bridge.call("llm.run", {"prompt": "x", "options": {}})


@pytest.fixture
def mail_bridge(acme, make_installation, bridge_for):
    return bridge_for(make_installation(acme, permissions=["send_email"]))


def test_send_email(mail_bridge):
    result = mail_bridge.call("email.send", {"to": ["a@example.com", "b@example.com"], "subject": "Welcome",
                                             "body": "Hello", "html": "<p>Hello</p>"})
    assert result == {"sent": True, "recipients": ["a@example.com", "b@example.com"]}
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["a@example.com", "b@example.com"]
    assert mail.outbox[0].alternatives[0][1] == "text/html"


@pytest.mark.parametrize(("args", "error"), [
    ({"to": "not-an-address", "subject": "s", "body": "b"}, "not a valid email"),
    ({"to": "a@example.com\nBcc: x@evil.test", "subject": "s", "body": "b"}, "single email"),
    ({"to": "a@example.com, b@example.com", "subject": "s", "body": "b"}, "single email"),
    ({"to": [], "subject": "s", "body": "b"}, "'to' must be"),
    ({"to": "a@example.com", "subject": "s\nBcc: x@evil.test", "body": "b"}, "one line"),
    ({"to": [f"u{i}@example.com" for i in range(21)], "subject": "s", "body": "b"}, "at most 20"),
])
def test_bad_emails_are_refused(mail_bridge, args, error):
    with pytest.raises((BadArguments, QuotaExceeded), match=error):
        mail_bridge.call("email.send", args)
    assert mail.outbox == []
