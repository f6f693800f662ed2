"""Manifest: both guides' manifests parse into one model; every bad field is named and coded."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugyard_sdk.manifest import (
    Manifest,
    SemVer,
    apply_config_defaults,
    parse_manifest,
    validate_config,
)
from plugyard_sdk.problems import PackageInvalid, Problem
from pydantic import ValidationError

from .conftest import OPS_PLUGIN_YAML, SBH_PLUGIN_JSON, sbh_manifest


def problems_of(filename: str, raw: bytes) -> list[Problem]:
    with pytest.raises(PackageInvalid) as info:
        parse_manifest(filename, raw)
    return info.value.problems


def codes(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.field, p.code) for p in problems}


# ------------------------------------------------------------------ the guides' manifests


def test_sbh_guide_manifest_parses() -> None:
    m = parse_manifest("plugin.json", SBH_PLUGIN_JSON.encode())
    assert (m.slug, m.name, m.version, m.entry) == ("my-plugin", "My Plugin", "1.0.0", "main.py")
    assert m.permissions == ["db.read", "outbound_http"]
    assert m.routes_enabled is True and m.routes == []
    assert m.events == ["auth.user.created", "build.completed"]
    assert [(j.name, j.schedule) for j in m.jobs] == [("daily_cleanup", "0 2 * * *")]
    assert m.repo_url == "https://github.com/your-org/my-plugin"
    assert m.source_format == "sbh"
    assert m.runtime.entrypoint == "main.py"


def test_ops_center_guide_manifest_parses_and_normalises() -> None:
    m = parse_manifest("plugin.yaml", OPS_PLUGIN_YAML.encode())
    assert (m.slug, m.version, m.entry, m.type, m.category) == (
        "my-plugin",
        "1.0.0",
        "main.py",
        "backend",
        "monitoring",
    )
    assert m.permissions == ["devices.read", "devices.write", "alerts.write", "users.read"]
    assert [(h.event, h.handler, h.priority, h.kind) for h in m.hooks] == [
        ("device.created", "on_device_created", 10, "action"),
        ("device.metrics_updated", "on_metrics_updated", 10, "action"),
    ]
    assert [(r.path, r.methods, r.handler) for r in m.routes] == [
        ("/status", ["GET"], "get_status"),
        ("/devices/{device_id}/stats", ["GET"], "get_device_stats"),
    ]
    assert m.routes_enabled is True
    assert (
        m.pricing.model == "free" and m.pricing.price == Decimal(0) and m.pricing.currency == "USD"
    )
    assert m.keywords == ["monitoring", "devices", "automation"]
    assert m.repo_url == m.homepage == "https://github.com/yourorg/my-plugin"
    assert m.license == "MIT"
    assert (
        m.config_schema is not None and m.config_schema["properties"]["threshold"]["default"] == 0.8
    )
    assert m.runtime.version == "3.11+"
    assert m.source_format == "ops-center"
    assert m.subscribed_events() == ["device.created", "device.metrics_updated"]


def test_the_two_formats_normalise_identically_where_they_overlap() -> None:
    sbh = {
        "slug": "twin", "name": "Twin", "version": "2.1.0-rc.1+b7", "description": "d", "author": "a",
        "repo_url": "https://example.com/twin", "entry": "main.py",
        "permissions": ["devices.read", "db.read"], "events": ["device.created"],
        "routes": [{"path": "/status", "methods": ["get"], "handler": "get_status"}],
        "jobs": [{"name": "sync", "schedule": "0 */6 * * *"}],
        "config_schema": {"type": "object", "properties": {"n": {"type": "integer", "default": 3}}},
        "allowed_domains": ["API.example.com", "*.example.org"], "emits": ["twin.*"],
    }  # fmt: skip
    ops = (
        "id: twin\nname: Twin\nversion: 2.1.0-rc.1+b7\ndescription: d\nauthor: a\n"
        "repository: https://example.com/twin\n"
        "permissions: [devices:read, db:read]\nevents: [device.created]\n"
        "routes:\n  - path: /status\n    methods: [GET]\n    handler: get_status\n"
        "jobs:\n  - name: sync\n    schedule: '0 */6 * * *'\n"
        "config_schema:\n  type: object\n  properties:\n    n: {type: integer, default: 3}\n"
        "allowed_domains: [api.example.com, '*.example.org']\ncustom_events: ['twin.*']\n"
        "runtime:\n  type: python\n  version: '3.11+'\n  entrypoint: main.py\n"
    )
    a = parse_manifest("plugin.json", json.dumps(sbh).encode()).to_dict()
    b = parse_manifest("plugin.yaml", ops.encode()).to_dict()
    assert a.pop("source_format") == "sbh" and b.pop("source_format") == "ops-center"
    assert a == b
    assert a["allowed_domains"] == ["api.example.com", "*.example.org"]


def test_filters_and_filter_kind_hooks_become_filter_hooks() -> None:
    raw = sbh_manifest(
        hooks=[
            {"event": "device.data.process", "handler": "enrich", "kind": "filter", "priority": 20}
        ],
        filters=[{"event": "order.total", "handler": "discount"}],
    )
    m = parse_manifest("plugin.json", raw)
    assert [(h.event, h.kind, h.priority) for h in m.hooks] == [
        ("device.data.process", "filter", 20),
        ("order.total", "filter", 10),
    ]
    assert m.subscribed_events() == [
        "auth.user.created",
        "build.completed",
        "device.data.process",
        "order.total",
    ]


def test_routes_false_and_emitted_namespaces() -> None:
    m = parse_manifest(
        "plugin.json", sbh_manifest(routes=False, emits=["email.*", "notification.sent"])
    )
    assert m.routes_enabled is False
    assert m.emits == ["email.*", "notification.sent"]


def test_a_paid_plugin() -> None:
    raw = sbh_manifest(pricing={"model": "subscription", "price": 9.99, "currency": "eur"})
    m = parse_manifest("plugin.json", raw)
    assert (m.pricing.model, m.pricing.price, m.pricing.currency) == (
        "subscription",
        Decimal("9.99"),
        "EUR",
    )


def test_manifest_is_frozen() -> None:
    m = parse_manifest("plugin.json", SBH_PLUGIN_JSON.encode())
    with pytest.raises(ValidationError):
        m.slug = "other"  # type: ignore[misc]


# ------------------------------------------------------------------ bad fields

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"slug": "My Plugin"}, "slug", "invalid_slug"),
    ({"slug": "a"}, "slug", "invalid_slug"),
    ({"slug": "-abc"}, "slug", "invalid_slug"),
    ({"slug": "x" * 65}, "slug", "invalid_slug"),
    ({"slug": None}, "slug", "required"),
    ({"name": None}, "name", "required"),
    ({"name": 5}, "name", "invalid_type"),
    ({"version": "1.0"}, "version", "invalid_semver"),
    ({"version": "01.0.0"}, "version", "invalid_semver"),
    ({"version": "1.0.0-"}, "version", "invalid_semver"),
    ({"version": 1.0}, "version", "invalid_semver"),
    ({"entry": "../main.py"}, "entry", "invalid_path"),
    ({"entry": "/srv/main.py"}, "entry", "invalid_path"),
    ({"entry": "main.txt"}, "entry", "invalid_path"),
    ({"entry": "src\\main.py"}, "entry", "invalid_path"),
    ({"permissions": ["db.read", "root"]}, "permissions[1]", "unknown_permission"),
    ({"permissions": ["db.read", "db:read"]}, "permissions[1]", "duplicate"),
    ({"permissions": "db.read"}, "permissions", "invalid_type"),
    ({"events": ["Auth.User"]}, "events[0]", "invalid_event"),
    ({"events": ["user"]}, "events[0]", "invalid_event"),
    ({"events": ["a.b", "a.b"]}, "events[1]", "duplicate"),
    ({"jobs": [{"name": "x", "schedule": "61 * * * *"}]}, "jobs[0].schedule", "invalid_cron"),
    ({"jobs": [{"name": "x", "schedule": "* * *"}]}, "jobs[0].schedule", "invalid_cron"),
    ({"jobs": [{"name": "x", "schedule": "0 0 * * * *"}]}, "jobs[0].schedule", "invalid_cron"),
    ({"jobs": [{"name": "x", "schedule": "*/0 * * * *"}]}, "jobs[0].schedule", "invalid_cron"),
    ({"jobs": [{"name": "x"}]}, "jobs[0].schedule", "required"),
    (
        {"jobs": [{"name": "daily cleanup", "schedule": "0 2 * * *"}]},
        "jobs[0].name",
        "invalid_identifier",
    ),
    (
        {"jobs": [{"name": "a", "schedule": "0 2 * * *"}, {"name": "a", "schedule": "0 3 * * *"}]},
        "jobs[1].name",
        "duplicate",
    ),
    ({"routes": [{"path": "status"}]}, "routes[0].path", "invalid_route"),
    ({"routes": [{"path": "/a b"}]}, "routes[0].path", "invalid_route"),
    ({"routes": [{"path": "/a/<x>/<x>"}]}, "routes[0].path", "invalid_route"),
    ({"routes": [{"path": "/a", "methods": ["FETCH"]}]}, "routes[0].methods[0]", "invalid_choice"),
    ({"routes": [{"path": "/a", "methods": ["GET", "get"]}]}, "routes[0].methods[1]", "duplicate"),
    ({"routes": [{"path": "/a/<int:x>"}, {"path": "/a/{y}"}]}, "routes[1].path", "duplicate"),
    ({"routes": "yes"}, "routes", "invalid_type"),
    (
        {"hooks": [{"event": "a.b", "handler": "not valid"}]},
        "hooks[0].handler",
        "invalid_identifier",
    ),
    ({"hooks": [{"event": "a.b", "kind": "around"}]}, "hooks[0].kind", "invalid_choice"),
    (
        {"hooks": [{"event": "a.b", "handler": "f"}, {"event": "a.b", "handler": "f"}]},
        "hooks[1]",
        "duplicate",
    ),
    ({"config_schema": {"type": "array"}}, "config_schema.type", "invalid_schema"),
    (
        {"config_schema": {"type": "object", "properties": {"a": {"type": "nope"}}}},
        "config_schema.properties.a.type",
        "invalid_schema",
    ),
    (
        {
            "config_schema": {
                "type": "object",
                "properties": {"a": {"$ref": "https://evil.example/s.json"}},
            }
        },
        "config_schema.properties.a.$ref",
        "invalid_schema",
    ),
    (
        {
            "config_schema": {
                "type": "object",
                "properties": {"a": {"type": "integer", "default": "x"}},
            }
        },
        "config_schema.properties.a.default",
        "invalid_schema",
    ),
    ({"config_schema": "object"}, "config_schema", "invalid_type"),
    ({"pricing": {"model": "free", "price": 5}}, "pricing.price", "invalid_price"),
    ({"pricing": {"model": "one-time", "price": 0}}, "pricing.price", "invalid_price"),
    ({"pricing": {"model": "lease"}}, "pricing.model", "invalid_choice"),
    ({"pricing": {"model": "free", "price": -1}}, "pricing.price", "invalid_value"),
    ({"pricing": {"currency": "dollars"}}, "pricing.currency", "invalid_value"),
    ({"allowed_domains": ["https://api.example.com"]}, "allowed_domains[0]", "invalid_domain"),
    ({"allowed_domains": ["*"]}, "allowed_domains[0]", "invalid_domain"),
    ({"emits": ["*"]}, "emits[0]", "invalid_event"),
    ({"repo_url": "github.com/x"}, "repo_url", "invalid_url"),
    ({"type": "plugin"}, "type", "invalid_choice"),
    ({"runtime": {"type": "node"}}, "runtime.type", "invalid_choice"),
    ({"runtime": {"entrypoint": "other.py"}}, "runtime.entrypoint", "conflict"),
    ({"id": "other-id"}, "id", "conflict"),
    ({"colour": "blue"}, "colour", "unknown_field"),
    ({"pricing": {"model": "free", "trial": 3}}, "pricing.trial", "unknown_field"),
]


@pytest.mark.parametrize(("changes", "field", "code"), BAD, ids=[f"{f}-{c}" for _, f, c in BAD])
def test_bad_field_is_named_and_coded(changes: dict[str, Any], field: str, code: str) -> None:
    problems = problems_of("plugin.json", sbh_manifest(**changes))
    assert (field, code) in codes(problems), problems


def test_unknown_top_level_field_lists_the_accepted_ones() -> None:
    [problem] = problems_of("plugin.json", sbh_manifest(colour="blue"))
    assert (
        "colour" in problem.message
        and "permissions" in problem.message
        and "config_schema" in problem.message
    )


def test_cron_problem_carries_croniter_reason() -> None:
    [problem] = problems_of(
        "plugin.json", sbh_manifest(jobs=[{"name": "x", "schedule": "61 * * * *"}])
    )
    assert "out of range" in problem.message


def test_ops_center_manifest_without_id_asks_for_id() -> None:
    raw = OPS_PLUGIN_YAML.replace("id: my-plugin\n", "").encode()
    assert ("id", "required") in codes(problems_of("plugin.yaml", raw))


def test_every_problem_is_reported_at_once() -> None:
    raw = sbh_manifest(
        slug="Bad Slug", version="1", permissions=["db.read", "nope"],
        jobs=[{"name": "x", "schedule": "bad"}], extra=True,
        config_schema={"type": "array"},
    )  # fmt: skip
    assert {
        ("slug", "invalid_slug"), ("version", "invalid_semver"), ("permissions[1]", "unknown_permission"),
        ("jobs[0].schedule", "invalid_cron"), ("extra", "unknown_field"), ("config_schema.type", "invalid_schema"),
    } <= codes(problems_of("plugin.json", raw))  # fmt: skip


# ------------------------------------------------------------------ unreadable files


@pytest.mark.parametrize(
    ("filename", "raw", "code"),
    [
        ("plugin.json", b'{"slug": "x",', "invalid_json"),
        ("plugin.json", b'{"slug": "ab", "slug": "cd"}', "duplicate"),
        ("plugin.json", b"[1, 2]", "invalid_type"),
        ("plugin.json", b"\xff\xfe\x00", "invalid_encoding"),
        ("plugin.yaml", b"id: [unclosed", "invalid_yaml"),
        ("plugin.yaml", b"a: &x [1]\nb: *x\n", "invalid_yaml"),
        ("plugin.yaml", b"just a string", "invalid_type"),
        ("manifest.json", b"{}", "missing_manifest"),
    ],
)
def test_unreadable_manifest(filename: str, raw: bytes, code: str) -> None:
    problems = problems_of(filename, raw)
    assert [p.code for p in problems] == [code]


def test_json_syntax_error_gives_the_line() -> None:
    [problem] = problems_of("plugin.json", b'{\n  "slug": "x",\n  oops\n}')
    assert "line 3" in problem.message


def test_yaml_true_key_is_reported_not_crashed() -> None:
    problems = problems_of("plugin.yaml", OPS_PLUGIN_YAML.encode() + b"yes: 1\n")
    assert ("True", "invalid_type") in codes(problems)


# ------------------------------------------------------------------ semver


def test_semver_parses_prerelease_and_build() -> None:
    v = SemVer.parse("1.2.3-rc.1+build.5")
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == (
        1,
        2,
        3,
        ("rc", "1"),
        ("build", "5"),
    )
    assert str(v) == "1.2.3-rc.1+build.5"


def test_semver_precedence() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]  # fmt: skip
    parsed = [SemVer.parse(v) for v in order]
    assert sorted(reversed(parsed)) == parsed
    assert SemVer.parse("1.0.0+a") == SemVer.parse("1.0.0+b")


@pytest.mark.parametrize(
    "text", ["1", "1.0", "v1.0.0", "1.0.0.0", "1.02.0", "1.0.0-01", "1.0.0+", " 1.0.0"]
)
def test_semver_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        SemVer.parse(text)


# ------------------------------------------------------------------ config


SCHEMA = json.loads(
    '{"type": "object", "properties": {"threshold": {"type": "number", "default": 0.8, "maximum": 1},'
    ' "enabled": {"type": "boolean", "default": true}, "mode": {"enum": ["a", "b"]},'
    ' "nested": {"type": "object", "properties": {"depth": {"type": "integer", "default": 2}}}},'
    ' "required": ["mode"], "additionalProperties": false}'
)


def test_apply_config_defaults_fills_missing_values_without_touching_the_input() -> None:
    config = {"enabled": False, "nested": {}}
    assert apply_config_defaults(SCHEMA, config) == {
        "enabled": False,
        "threshold": 0.8,
        "nested": {"depth": 2},
    }
    assert config == {"enabled": False, "nested": {}}
    assert apply_config_defaults(None, None) == {}


def test_validate_config_names_every_error_by_path() -> None:
    problems = validate_config(SCHEMA, {"threshold": "high", "nested": {"depth": 1.5}, "colour": 1})
    assert codes(problems) == {
        ("config.threshold", "invalid_type"),
        ("config.nested.depth", "invalid_type"),
        ("config.mode", "required"),
        ("config", "unknown_field"),
    }
    assert validate_config(SCHEMA, apply_config_defaults(SCHEMA, {"mode": "a"})) == []
    assert codes(validate_config(SCHEMA, {"mode": "c", "threshold": 2})) == {
        ("config.mode", "invalid_choice"),
        ("config.threshold", "invalid_value"),
    }


def test_validate_config_never_fetches_remote_references() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/x.json"}}}
    assert codes(validate_config(schema, {"a": 1})) == {("config", "invalid_schema")}


# ------------------------------------------------------------------ robustness

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = sorted(set(Manifest.model_fields) | {"id", "repository", "filters", "custom_events"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_json, st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=8)))
def test_arbitrary_json_only_ever_raises_package_invalid(data: Any) -> None:
    for filename, raw in (
        ("plugin.json", json.dumps(data).encode()),
        ("plugin.yaml", json.dumps(data).encode()),
    ):
        try:
            manifest = parse_manifest(filename, raw)
        except PackageInvalid as exc:
            assert exc.problems and all(isinstance(p, Problem) for p in exc.problems)
        else:
            assert isinstance(manifest, Manifest)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=6))
def test_arbitrary_fields_on_a_valid_manifest(changes: dict[str, Any]) -> None:
    base = json.loads(SBH_PLUGIN_JSON)
    base.update(changes)
    try:
        parse_manifest("plugin.json", json.dumps(base).encode())
    except PackageInvalid as exc:
        assert exc.problems
