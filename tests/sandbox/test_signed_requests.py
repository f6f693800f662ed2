"""Given a route that receives signed webhooks, when it verifies them in the sandbox, then only a good signature passes.

A plugin can verify with the SDK (`plugyard_sdk.signing.verify`) or by hand with `hmac`,
as the SBH guide's `validate_signature` would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugyard_sdk.signing import signature_headers

from plugins_core.sandbox import DictBridge

from .conftest import call, make_plugin

KEY = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHM="  # base64 of "secret-key-for-tests"

WITH_SDK = '''
from src.ext.sdk import route, PluginContext
from plugyard_sdk.signing import WebhookVerificationError, verify


@route("/webhook", methods=["POST"])
def webhook_handler(ctx: PluginContext):
    try:
        message_id = verify(ctx.secrets.get("SIGNING_KEY"), ctx.request.headers, ctx.request.data)
    except WebhookVerificationError as exc:
        return {"error": str(exc)}, 401
    return {"status": "processed", "id": message_id}
'''

WITH_HMAC = '''
import base64
import hashlib
import hmac

from src.ext.sdk import route, PluginContext


def validate_signature(ctx, body, signature):
    key = base64.b64decode(ctx.secrets.get("SIGNING_KEY").removeprefix("whsec_"))
    signed = f"{ctx.request.headers.get('webhook-id')}.{ctx.request.headers.get('webhook-timestamp')}.{body}"
    expected = "v1," + base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature or "")


@route("/webhook", methods=["POST"])
def webhook_handler(ctx: PluginContext):
    if not validate_signature(ctx, ctx.request.body, ctx.request.headers.get("webhook-signature")):
        return {"error": "Invalid signature"}, 401
    return {"status": "processed", "id": ctx.request.headers.get("webhook-id")}
'''


@pytest.mark.parametrize("source", [WITH_SDK, WITH_HMAC], ids=["sdk-verify", "hmac-by-hand"])
def test_a_route_accepts_a_good_signature_and_refuses_a_forged_one(supervisor, tmp_path: Path, source: str) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": source})
    bridge = DictBridge(secrets={"SIGNING_KEY": KEY})
    body = json.dumps({"event_type": "build.completed", "build_id": "b1"})
    headers = signature_headers(KEY, "msg_42", body)

    good = call(supervisor, plugin, "route", "/webhook", bridge=bridge, installation="signed",
                context={"request": {"method": "POST", "path": "/webhook", "headers": headers, "body": body}})
    forged = call(supervisor, plugin, "route", "/webhook", bridge=bridge, installation="signed",
                  context={"request": {"method": "POST", "path": "/webhook", "headers": headers,
                                       "body": body.replace("b1", "b2")}})

    assert good.status == "ok", good
    assert good.value["body"] == {"status": "processed", "id": "msg_42"}
    assert forged.status == "ok", forged
    assert forged.value["status"] == 401
