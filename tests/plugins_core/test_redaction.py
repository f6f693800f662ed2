"""The one redaction rule for what a replay may show (plugins_core.redaction)."""
from __future__ import annotations

from plugins_core.redaction import REDACTED, is_sensitive_key, redact


def test_personal_and_secret_keys_are_redacted_at_any_depth_and_the_shape_is_kept() -> None:
    payload = {"user": {"id": 7, "email": "ann@example.com", "firstName": "Ann", "last-name": "Lee",
                        "phone": "+44 20 7946 0958", "roles": ["admin"]},
               "api_key": "sk_live_123", "items": [{"name": "Ann", "qty": 2}], "device_id": 4}
    out = redact(payload)
    assert out["user"] == {"id": 7, "email": REDACTED, "firstName": REDACTED, "last-name": REDACTED,
                           "phone": REDACTED, "roles": ["admin"]}
    assert out["api_key"] == REDACTED and out["items"] == [{"name": REDACTED, "qty": 2}] and out["device_id"] == 4
    assert payload["user"]["email"] == "ann@example.com"  # a copy: the record is untouched


def test_emails_phones_and_the_installations_secrets_are_cut_out_of_any_string() -> None:
    text = "mail ann@example.com or call +1 (555) 123-4567 with token s3cr3t-value; order 12345"
    out = redact({"note": text, "count": 3}, secrets=["s3cr3t-value", "ab"])
    assert out["note"] == f"mail {REDACTED} or call {REDACTED} with token {REDACTED}; order 12345"
    assert out["count"] == 3


def test_sensitive_keys_by_suffix_but_not_device_names_or_idempotency_keys() -> None:
    assert is_sensitive_key("customer_email") and is_sensitive_key("github_token") and is_sensitive_key("Password")
    assert not is_sensitive_key("device_name") and not is_sensitive_key("idempotency_key")
    assert redact({"address": {"city": "Leeds", "street": "1 Main St"}}) == {"address": {"city": "Leeds",
                                                                                         "street": REDACTED}}
