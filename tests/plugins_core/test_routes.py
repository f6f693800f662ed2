"""Plugin routes under /ext/<slug>/..., run in the real sandbox."""
import json

import pytest

from plugins_core.models import Invocation
from tests.conftest import make_zip, plugin_files, upload

pytestmark = pytest.mark.django_db


def _install(actor, files, filename="p.zip"):
    response = upload(actor, make_zip(files), filename)
    assert response.status_code == 201, response.json()
    installation_id = response.json()["id"]
    assert actor.client.post(f"/api/plugins/{installation_id}/enable").status_code == 200
    return installation_id


def _plugin(slug: str, code: str, *, permissions=(), routes=True) -> dict[str, bytes]:
    manifest = {"slug": slug, "name": slug.title(), "version": "1.0.0", "entry": "main.py",
                "permissions": list(permissions), "routes": routes, "events": []}
    return {"plugin.json": json.dumps(manifest).encode(), "main.py": code.encode()}


def test_sbh_guide_ping_answers_through_ext(owner):
    _install(owner, plugin_files("sbh-my-plugin"))
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
    _install(owner, _plugin("routes-demo", ROUTES))
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
    assert wrong["Allow"] == "POST"
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
    installation_id = _install(owner, _plugin("quiet", "x = 1\n", routes=False))
    assert owner.client.get("/ext/quiet/anything").status_code == 404
    assert owner.client.get("/ext/nobody/ping").status_code == 404
    _install(owner, plugin_files("sbh-my-plugin"))
    assert other_owner.client.get("/ext/my-plugin/ping").status_code == 404
    owner.client.post(f"/api/plugins/{installation_id}/disable")
    response = owner.client.get("/ext/quiet/x")
    assert response.status_code == 404


def test_routes_need_the_api_headers(owner, client):
    _install(owner, plugin_files("sbh-my-plugin"))
    assert client.get("/ext/my-plugin/ping").status_code == 401
