"""Plugin routes under /ext/<slug>/..., run in the real sandbox."""

import pytest

from plugins_core.models import Invocation
from tests.conftest import make_zip, plugin_files, upload
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db


def test_sbh_guide_ping_answers_through_ext(owner):
    install(owner, make_zip(plugin_files("sbh-my-plugin")))
    response = owner.client.get("/ext/my-plugin/ping")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "plugin": "my-plugin", "tenant": "acme"}
    record = Invocation.objects.get(kind="route")
    assert record.name == "ping_route" and record.status == "ok"


def test_ops_center_guide_routes_answer_with_path_parameters(owner, ops_tar):
    installation_id = upload(owner, ops_tar, "p.tar.gz").json()["id"]
    owner.client.post(f"/api/plugins/{installation_id}/enable")
    status = owner.client.get("/ext/my-plugin/status")
    assert status.status_code == 200, status.content
    assert status.json() == {"status": "running", "version": "1.0.0", "devices_tracked": 0}
    missing = owner.client.get("/ext/my-plugin/devices/dev-1/stats")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Device not found"}


ROUTES = '''
from src.ext.sdk import route

@route("/users/<user_id>", methods=["GET"])
def get_user(ctx, user_id):
    return {"user_id": user_id, "query": ctx.request.args if hasattr(ctx.request, "args") else None}

@route("/items/<int:n>", methods=["POST"])
def post_item(ctx, n):
    return {"n": n, "body": ctx.request.get_json(), "auth": ctx.request.headers.get("Authorization")}, 201

@route("/text", methods=["GET"])
def text(ctx):
    return "plain words"

@route("/list", methods=["GET"])
def listing(ctx):
    return [1, 2, 3]

@route("/slow", methods=["GET"])
def slow(ctx):
    while True:
        pass

@route("/boom", methods=["GET"])
def boom(ctx):
    raise ValueError("the plugin broke")
'''


@pytest.fixture
def routes_plugin(owner, settings):
    settings.PLUGYARD_SANDBOX = {**settings.PLUGYARD_SANDBOX, "hook_timeout_s": 1}
    install(owner, plugin_zip("routes-demo", ROUTES, routes=True))
    return owner


def test_parameters_statuses_and_bodies(routes_plugin):
    client = routes_plugin.client
    assert client.get("/ext/routes-demo/users/42").json()["user_id"] == "42"
    created = client.post("/ext/routes-demo/items/7", {"a": 1}, format="json")
    assert created.status_code == 201
    assert created.json() == {"n": 7, "body": {"a": 1}, "auth": None}
    text = client.get("/ext/routes-demo/text")
    assert text.status_code == 200 and text.content == b"plain words"
    assert client.get("/ext/routes-demo/list").json() == [1, 2, 3]


def test_unknown_path_and_wrong_method(routes_plugin):
    client = routes_plugin.client
    assert client.get("/ext/routes-demo/nope").status_code == 404
    wrong = client.get("/ext/routes-demo/items/7")
    assert wrong.status_code == 405
    assert wrong["Allow"] == "POST, OPTIONS"  # as Django's View lists them
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_deadline_answers_504_and_crash_502_and_the_host_carries_on(routes_plugin):
    client = routes_plugin.client
    slow = client.get("/ext/routes-demo/slow")
    assert slow.status_code == 504
    boom = client.get("/ext/routes-demo/boom")
    assert boom.status_code == 502
    assert "the plugin broke" in boom.json()["error"]["message"]
    assert "/work/" not in boom.content.decode()
    assert client.get("/ext/routes-demo/text").status_code == 200


def test_body_limit_and_rate_limit(routes_plugin, settings):
    settings.PLUGYARD_ROUTES = {"max_body_bytes": 100, "rate_limit_per_minute": 3}
    client = routes_plugin.client
    big = client.post("/ext/routes-demo/items/1", {"x": "y" * 500}, format="json")
    assert big.status_code == 413
    statuses = [client.get("/ext/routes-demo/text").status_code for _ in range(5)]
    assert statuses.count(429) >= 1
    assert client.get("/ext/routes-demo/text").has_header("Retry-After")


def test_unknown_disabled_foreign_and_routeless_plugins(owner, other_owner):
    installation_id = install(owner, plugin_zip("quiet", "x = 1\n")).pk
    assert owner.client.get("/ext/quiet/anything").status_code == 404
    assert owner.client.get("/ext/nobody/ping").status_code == 404
    install(owner, make_zip(plugin_files("sbh-my-plugin")))
    assert other_owner.client.get("/ext/my-plugin/ping").status_code == 404
    owner.client.post(f"/api/plugins/{installation_id}/disable")
    response = owner.client.get("/ext/quiet/x")
    assert response.status_code == 404


def test_routes_need_the_api_headers(owner, client):
    install(owner, make_zip(plugin_files("sbh-my-plugin")))
    assert client.get("/ext/my-plugin/ping").status_code == 401


GRAMMAR = '''
from src.ext.sdk import route

@route("/things/<uuid:thing_id>", methods=["GET"])
def thing(ctx, thing_id):
    return {"thing_id": thing_id, "method": ctx.request.method}

@route("/tags/<slug:tag>/<int:page>", methods=["GET", "POST"])
def tag(ctx, tag, page):
    return {"tag": tag, "page": page}

@route("/files/{rest:path}", methods=["GET"])
def files(ctx, rest):
    return {"rest": rest}

@route("/cors", methods=["GET"])
def cors_get(ctx):
    return {"get": True}

@route("/cors", methods=["OPTIONS"])
def cors_options(ctx):
    return "", 204, {"Access-Control-Allow-Origin": "*"}
'''
UUID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


@pytest.fixture
def grammar_plugin(owner):
    install(owner, plugin_zip("grammar", GRAMMAR, routes=True))
    return owner.client


def test_every_converter_answers_through_ext(grammar_plugin):
    client = grammar_plugin
    thing = client.get(f"/ext/grammar/things/{UUID}")
    assert thing.status_code == 200, thing.content
    assert thing.json() == {"thing_id": UUID, "method": "GET"}
    assert client.get("/ext/grammar/things/not-a-uuid").status_code == 404
    assert client.get("/ext/grammar/tags/new_things/2").json() == {"tag": "new_things", "page": 2}
    assert client.get("/ext/grammar/tags/a.b/2").status_code == 404
    assert client.get("/ext/grammar/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}


def test_a_route_path_outside_the_grammar_never_uploads(owner):
    response = upload(owner, plugin_zip("floaty", 'from src.ext.sdk import route\n\n@route("/items/<float:x>")\ndef item(ctx, x):\n    return {}\n',
                                        routes=True))
    assert response.status_code == 400
    [problem] = response.json()["error"]["details"]
    assert problem["field"] == "main.py:3" and problem["code"] == "invalid_route"
    assert "unknown converter 'float'" in problem["message"]


def _served(actor, method: str, path: str) -> tuple[str, dict[str, str], bytes]:
    """The answer as the WSGI server gets it: the test client drops a HEAD body itself."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from django.test import RequestFactory

    environ = RequestFactory().generic(method, path, **actor.headers()).environ
    answer: dict[str, object] = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=dict(headers))

    # As the test client does: the test's transaction must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(WSGIHandler()(environ, start_response))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


def test_head_runs_the_get_route_and_answers_without_a_body(owner, grammar_plugin):
    client = grammar_plugin
    get = client.get("/ext/grammar/files/a/b")
    status, headers, body = _served(owner, "HEAD", "/ext/grammar/files/a/b")
    assert status.startswith("200")
    assert body == b""
    assert headers["Content-Length"] == str(len(get.content))
    assert headers["Content-Type"] == get["Content-Type"]
    assert Invocation.objects.filter(kind="route", name="files").count() == 2
    assert client.head(f"/ext/grammar/things/{UUID}").status_code == 200
    assert Invocation.objects.get(name="thing").result["body"]["method"] == "HEAD"  # as Django's View: GET's code, HEAD's request
    assert client.head("/ext/grammar/nope").status_code == 404


def test_options_answers_allow_without_waking_the_plugin(grammar_plugin):
    client = grammar_plugin
    before = Invocation.objects.count()
    options = client.options("/ext/grammar/tags/x/1")
    assert options.status_code == 200
    assert options["Allow"] == "GET, POST, HEAD, OPTIONS"
    assert options.content == b""
    assert client.options(f"/ext/grammar/things/{UUID}")["Allow"] == "GET, HEAD, OPTIONS"
    assert client.options("/ext/grammar/nope").status_code == 404
    assert Invocation.objects.count() == before
    wrong = client.delete("/ext/grammar/tags/x/1")
    assert wrong.status_code == 405 and wrong["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_options_declared_by_the_plugin_is_the_plugins_answer(grammar_plugin):
    options = grammar_plugin.options("/ext/grammar/cors")
    assert options.status_code == 204, options.content
    assert options["Access-Control-Allow-Origin"] == "*"
    assert Invocation.objects.get(kind="route").name == "cors_options"
