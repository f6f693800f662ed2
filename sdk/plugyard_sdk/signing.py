"""Standard Webhooks signatures: the host signs deliveries with this, receivers verify with it.

A signed request carries three headers (https://www.standardwebhooks.com):

* ``webhook-id`` — the delivery's id, the same on every retry (deduplicate on it);
* ``webhook-timestamp`` — when this attempt was signed, in unix seconds;
* ``webhook-signature`` — ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``; several
  space-separated signatures may be sent (while a key is being rotated).

The key is the secret's UTF-8 bytes, or, for a secret written ``whsec_<base64>``, the
decoded bytes after the prefix. Standard library only: this module is usable in a
receiver that has nothing else of Plugyard installed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "WebhookVerificationError",
    "sign",
    "signature_headers",
    "signing_key",
    "verify",
]

DEFAULT_TOLERANCE_S = 5 * 60
_PREFIX = "whsec_"
_VERSION = "v1"


class WebhookVerificationError(ValueError):
    """A request whose signature headers are missing, stale or do not match; ``str()`` says which."""


def signing_key(secret: str | bytes) -> bytes:
    """The HMAC key for ``secret``: base64-decoded after ``whsec_``, else its UTF-8 bytes."""
    if isinstance(secret, bytes):
        return secret
    if not isinstance(secret, str) or not secret:
        raise ValueError("the signing secret must be a non-empty string")
    if secret.startswith(_PREFIX):
        try:
            return base64.b64decode(secret[len(_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a secret starting with 'whsec_' must continue in base64") from None
    return secret.encode("utf-8")


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for one message."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + _as_bytes(body)
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return f"{_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(
    secret: str | bytes | None, msg_id: str, body: bytes | str, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers; without a secret, only id and timestamp."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(stamp)}
    if secret is not None:
        headers["webhook-signature"] = sign(secret, msg_id, stamp, body)
    return headers


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value).strip()
    raise WebhookVerificationError(f"the {name} header is missing")


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Check a received webhook; returns its ``webhook-id``, or raises `WebhookVerificationError`.

    ``body`` must be the raw request body, byte for byte, not re-serialised JSON. The
    timestamp must be within ``tolerance_s`` of ``now`` (either way), which bounds replays.
    """
    msg_id = _header(headers, "webhook-id")
    stamp_text = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        stamp = int(stamp_text)
    except ValueError:
        raise WebhookVerificationError("the webhook-timestamp header is not a whole number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance_s:
        raise WebhookVerificationError(
            f"the webhook-timestamp is {int(current - stamp)} s away from now; the tolerance is {tolerance_s} s"
        )
    expected = sign(secret, msg_id, stamp, body).encode("ascii")
    for candidate in signatures.split():
        # Compare every candidate in constant time; an unknown version simply never matches.
        if hmac.compare_digest(candidate.encode("utf-8", "replace"), expected):
            return msg_id
    raise WebhookVerificationError("no signature in webhook-signature matches the body")
