"""The SDK's Standard Webhooks signing: what the host sends is what a receiver verifies."""
from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from plugyard_sdk.signing import (
    WebhookVerificationError,
    sign,
    signature_headers,
    signing_key,
    verify,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = '{"test": 2432232314}'


def test_the_standard_webhooks_reference_vector():
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, BODY) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_whsec_secrets_are_base64_and_others_are_their_utf8_bytes():
    assert signing_key("whsec_" + base64.b64encode(b"\x00key").decode()) == b"\x00key"
    assert signing_key("plain-secret-é") == "plain-secret-é".encode()
    with pytest.raises(ValueError, match="base64"):
        signing_key("whsec_not base64!")


def test_signed_headers_verify_and_return_the_message_id():
    headers = signature_headers(SECRET, "msg_1", BODY.encode())
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    upper = {name.title(): value for name, value in headers.items()}  # header names arrive in any case
    assert verify(SECRET, upper, BODY) == "msg_1"


def test_several_signatures_pass_when_one_matches():
    headers = signature_headers(SECRET, "msg_1", BODY)
    headers["webhook-signature"] = "v1,bm90LWl0 " + headers["webhook-signature"]
    assert verify(SECRET, headers, BODY) == "msg_1"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: (h, b.replace("2432", "2433")), "no signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_2"}, b), "no signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "webhook-signature header is missing"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "whole number"),
        (lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) - 3600)}, b), "tolerance"),
        (lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, b), "no signature"),
    ],
)
def test_tampered_stale_or_incomplete_requests_are_refused(tamper, reason):
    headers, body = tamper(signature_headers(SECRET, "msg_1", BODY), BODY)
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(SECRET, headers, body)


def test_a_wrong_secret_is_refused():
    headers = signature_headers(SECRET, "msg_1", BODY)
    with pytest.raises(WebhookVerificationError):
        verify("whsec_" + base64.b64encode(b"another key").decode(), headers, BODY)


def test_the_timestamp_tolerance_is_the_receivers_choice():
    headers = signature_headers(SECRET, "msg_1", BODY, timestamp=1_000_000)
    assert verify(SECRET, headers, BODY, now=1_000_000 + 50, tolerance_s=60) == "msg_1"
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers, BODY, now=1_000_000 + 61, tolerance_s=60)


def test_the_module_needs_neither_django_nor_pydantic():
    code = "import sys, plugyard_sdk.signing; sys.exit(bool({'django', 'pydantic'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
