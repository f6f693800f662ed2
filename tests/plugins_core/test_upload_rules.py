"""The host's upload rules: subscriptions that could never fire, webhooks without their
permission, and route paths outside the grammar are refused with field and reason, in one
answer with every other problem; and a package the SDK refuses is never loaded."""
import json

import pytest

from plugins_core import services
from plugins_core.models import Installation, PluginVersion
from tests.conftest import make_tar_gz, make_zip, upload

pytestmark = pytest.mark.django_db

WEBHOOK = b"""api_version: v1
on: ["build.completed"]
delivery:
  url: "${SECRET:WEBHOOK_URL}"
"""


def _sbh(code: str = "x = 1\n", *, files: dict[str, bytes] | None = None, **manifest) -> bytes:
    document = {"slug": "rules", "name": "Rules", "version": "1.0.0", "entry": "main.py", "events": [],
                **manifest}
    return make_zip({"plugin.json": json.dumps(document).encode(), "main.py": code.encode(), **(files or {})})


def _ops(yaml_tail: str, code: str) -> bytes:
    manifest = f"id: rules\nname: Rules\nversion: 1.0.0\nruntime:\n  entrypoint: main.py\n{yaml_tail}"
    return make_tar_gz({"plugin.yaml": manifest.encode(), "main.py": code.encode()}, top="rules-1.0.0")


def _refused(actor, data: bytes) -> dict[str, dict[str, str]]:
    response = upload(actor, data)
    assert response.status_code == 400, response.json()
    assert not (PluginVersion.objects.exists() or Installation.objects.exists())
    return {detail["field"]: detail for detail in response.json()["error"]["details"]}


# -- each rule, once -----------------------------------------------------------------------


def test_a_hook_on_an_event_outside_the_catalog_is_refused(owner):
    code = "from ops_center_sdk import Plugin\nplugin = Plugin('rules')\n\nasync def on_it(**kw):\n    pass\n"
    problems = _refused(owner, _ops("hooks:\n  - event: device.craeted\n    handler: on_it\n", code))
    assert problems["hooks[0].event"]["code"] == "unknown_event"
    assert "'device.craeted' is not an event this product raises" in problems["hooks[0].event"]["message"]


def test_a_code_hook_on_an_event_outside_the_catalog_is_refused(owner):
    code = ("from ops_center_sdk import Plugin\nplugin = Plugin('rules')\n\n"
            "@plugin.hook('device.craeted')\nasync def on_it(**kw):\n    pass\n")
    problems = _refused(owner, _ops("", code))
    assert problems["on_it"]["code"] == "unknown_event"


def test_an_unknown_filter_is_refused_in_the_manifest_and_in_the_code(owner):
    code = ("from ops_center_sdk import Plugin\nplugin = Plugin('rules')\n\n"
            "async def in_manifest(value):\n    return value\n\n"
            "@plugin.filter_hook('device.created')\nasync def in_code(value):\n    return value\n")
    tail = "hooks:\n  - event: device.created\n    handler: in_manifest\nfilters:\n  - event: device.data.nope\n    handler: in_manifest\n"
    problems = _refused(owner, _ops(tail, code))
    assert problems["filters[0].event"]["code"] == "unknown_filter"
    assert "its filters are: device.data.process" in problems["filters[0].event"]["message"]
    assert problems["in_code"]["code"] == "unknown_filter"  # device.created is an action event
    assert "hooks[0].event" not in problems


def test_a_webhook_file_needs_the_emit_webhook_permission(owner):
    problems = _refused(owner, _sbh(files={"webhooks/notify.yaml": WEBHOOK}))
    assert problems["webhooks/notify.yaml"]["code"] == "missing_permission"
    assert "'emit_webhook'" in problems["webhooks/notify.yaml"]["message"]
    response = upload(owner, _sbh(permissions=["emit_webhook"], files={"webhooks/notify.yaml": WEBHOOK}))
    assert response.status_code == 201, response.json()


def test_a_webhook_on_an_event_outside_the_catalog_is_refused(owner):
    webhook = WEBHOOK.replace(b'"build.completed"', b'"build.completed", "build.finished"')
    problems = _refused(owner, _sbh(permissions=["emit_webhook"], files={"webhooks/notify.yaml": webhook}))
    assert problems["webhooks/notify.yaml: on[1]"]["code"] == "unknown_event"


def test_a_route_path_outside_the_grammar_is_refused_at_its_line(owner):
    code = "from src.ext.sdk import route\n\n\n@route('/items/<float:x>')\ndef item(ctx, x):\n    return {'x': x}\n"
    problems = _refused(owner, _sbh(code, routes=True))
    assert problems["main.py:4"]["code"] == "invalid_route"
    message = problems["main.py:4"]["message"]
    assert "unknown converter 'float'" in message and "valid converters are int, path, slug, str, uuid" in message


def test_a_route_marked_by_hand_is_checked_with_the_same_grammar(owner):
    # No decorator to refuse it at load: the host parses the load report's paths itself.
    code = ("def item(ctx, x):\n    return {'x': x}\n\n"
            "item.__plugyard__ = [{'type': 'route', 'path': '/items/<float:x>', 'methods': ['GET'], 'style': 'sbh'}]\n")
    problems = _refused(owner, _sbh(code, routes=True))
    assert problems["item"]["code"] == "invalid_route"
    assert "unknown converter 'float'" in problems["item"]["message"]


def test_a_manifest_route_path_outside_the_grammar_is_refused(owner):
    problems = _refused(owner, _ops("routes:\n  - path: /items/{x:float}\n    handler: item\n", "x = 1\n"))
    assert problems["routes[0].path"]["code"] == "invalid_route"


# -- one answer ----------------------------------------------------------------------------


def test_every_problem_of_the_manifest_and_the_code_comes_in_one_answer(owner):
    code = ("from src.ext.sdk import hook, route\n\n"
            "@hook('build.completed')\ndef built(ctx, data):\n    pass\n\n"
            "@route('/items/<float:x>')\ndef item(ctx, x):\n    return {}\n")
    data = _sbh(code, routes=True, events=["build.completed", "auth.user.craeted"],
                files={"webhooks/notify.yaml": WEBHOOK})
    problems = _refused(owner, data)
    assert {field: p["code"] for field, p in problems.items()} == {
        "events[1]": "unknown_event",
        "webhooks/notify.yaml": "missing_permission",
        "main.py:7": "invalid_route",
    }


def test_code_problems_beside_manifest_problems_when_the_code_loads(owner):
    code = ("from ops_center_sdk import Plugin\nplugin = Plugin('rules')\n\n"
            "@plugin.filter_hook('device.nope')\nasync def f(value):\n    return value\n")
    problems = _refused(owner, _ops("hooks:\n  - event: alert.craeted\n    handler: missing\n", code))
    assert problems["hooks[0].event"]["code"] == "unknown_event"
    assert problems["hooks[0].handler"]["code"] == "missing_handler"
    assert problems["f"]["code"] == "unknown_filter"


def test_a_package_the_sdk_refuses_is_not_loaded(owner, monkeypatch):
    loaded = []
    real = services._load_report
    monkeypatch.setattr(services, "_load_report", lambda *a, **kw: loaded.append(a) or real(*a, **kw))
    problems = _refused(owner, _sbh("x = 1\n", version="1.0", events=["auth.user.craeted"]))
    assert problems["version"]["code"] == "invalid_semver"
    assert loaded == []

