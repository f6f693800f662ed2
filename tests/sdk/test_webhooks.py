"""Webhooks-as-code: the SBH guide's YAML parses; every bad value is named by file and path."""

from __future__ import annotations

import pytest
from plugyard_sdk.problems import PackageInvalid
from plugyard_sdk.webhooks import parse_webhook, placeholder_problems, render_placeholders

from .conftest import SBH_WEBHOOK

PATH = "webhooks/notifications.yaml"
FILES = {"transforms/build_completed.py"}


def test_guide_webhook_parses_with_the_yaml_on_key() -> None:
    spec = parse_webhook(PATH, SBH_WEBHOOK.encode(), FILES)
    assert spec.on == ["build.completed", "auth.user.created"]
    assert spec.api_version == "v1" and spec.name == "notifications" and spec.path == PATH
    assert spec.delivery.url == "${SECRET:WEBHOOK_URL}"
    assert spec.delivery.headers == {"X-Source": "SBH", "X-Tenant": "${TENANT_ID}"}
    assert spec.delivery.signing is not None and spec.delivery.signing.alg == "HMAC-SHA256"
    assert spec.transform is not None
    assert (spec.transform.file, spec.transform.function) == (
        "transforms/build_completed.py",
        "transform",
    )
    assert (spec.retry.max_attempts, spec.retry.backoff) == (6, "exponential")
    assert spec.secret_names() == ["WEBHOOK_URL", "WEBHOOK_SIGNING_KEY"]


def test_quoted_on_key_works_too() -> None:
    raw = SBH_WEBHOOK.replace("\non:", '\n"on":').encode()
    assert parse_webhook(PATH, raw, FILES).on == ["build.completed", "auth.user.created"]


def test_minimal_webhook_gets_defaults() -> None:
    spec = parse_webhook(
        PATH, b"api_version: v1\non: [a.b]\ndelivery:\n  url: https://example.com/hook\n"
    )
    assert spec.transform is None and spec.delivery.signing is None
    assert (spec.retry.max_attempts, spec.retry.backoff) == (6, "exponential")


BAD = [
    ('alg: "HMAC-SHA256"', 'alg: "MD5"', "delivery.signing.alg", "invalid_choice"),
    ("api_version: v1", "api_version: v2", "api_version", "invalid_choice"),
    ('on: ["build.completed", "auth.user.created"]', "on: []", "on", "invalid_value"),
    ('on: ["build.completed", "auth.user.created"]', 'on: ["Build"]', "on[0]", "invalid_event"),
    ("${TENANT_ID}", "${TENANT}", "delivery.headers.X-Tenant", "invalid_placeholder"),
    ("${TENANT_ID}", "${SECRET:lower}", "delivery.headers.X-Tenant", "invalid_placeholder"),
    ("${TENANT_ID}", "${SECRET:OPEN", "delivery.headers.X-Tenant", "invalid_placeholder"),
    ('url: "${SECRET:WEBHOOK_URL}"', 'url: "ftp://example.com"', "delivery.url", "invalid_url"),
    (
        'url: "${SECRET:WEBHOOK_URL}"',
        'url: "https://x/${SECRET:bad name}"',
        "delivery.url",
        "invalid_placeholder",
    ),
    (
        'secret: "${SECRET:WEBHOOK_SIGNING_KEY}"',
        'secret: "hunter2"',
        "delivery.signing.secret",
        "plain_secret",
    ),
    ("#transform", "", "transform.entry", "invalid_path"),
    ("transforms/build_completed.py", "../build_completed.py", "transform.entry", "invalid_path"),
    ('language: "python"', 'language: "lua"', "transform.language", "invalid_choice"),
    ("max_attempts: 6", "max_attempts: 0", "retry.max_attempts", "invalid_value"),
    ("max_attempts: 6", "max_attempts: 21", "retry.max_attempts", "invalid_value"),
    ('backoff: "exponential"', 'backoff: "linear"', "retry.backoff", "invalid_choice"),
    ("retry:", "surprise: 1\nretry:", "surprise", "unknown_field"),
    ("api_version: v1\n", "", "api_version", "required"),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "code"), BAD, ids=[f"{f}-{c}" for _, _, f, c in BAD]
)
def test_bad_webhook_value_is_named_by_file_and_path(
    old: str, new: str, field: str, code: str
) -> None:
    assert old in SBH_WEBHOOK
    with pytest.raises(PackageInvalid) as info:
        parse_webhook(PATH, SBH_WEBHOOK.replace(old, new, 1).encode(), FILES)
    assert (f"{PATH}: {field}", code) in {(p.field, p.code) for p in info.value.problems}, (
        info.value.problems
    )


def test_transform_file_must_be_in_the_package() -> None:
    with pytest.raises(PackageInvalid) as info:
        parse_webhook(PATH, SBH_WEBHOOK.encode(), {"main.py"})
    [problem] = info.value.problems
    assert (problem.field, problem.code) == (f"{PATH}: transform.entry", "missing_file")


@pytest.mark.parametrize("raw", [b"- a\n- b\n", b"key: [oops", b"\xff\xfe"])
def test_unreadable_webhook_file(raw: bytes) -> None:
    with pytest.raises(PackageInvalid) as info:
        parse_webhook(PATH, raw)
    assert info.value.problems[0].field == PATH


def test_placeholders_render_and_are_checked() -> None:
    text = "https://hooks.example.com/${TENANT_ID}?k=${SECRET:KEY}"
    assert placeholder_problems(text) is None
    assert render_placeholders(text, {"KEY": "s3"}, "acme") == "https://hooks.example.com/acme?k=s3"
    with pytest.raises(KeyError):
        render_placeholders("${SECRET:MISSING}", {}, "acme")
    assert placeholder_problems("${NOPE}") is not None
