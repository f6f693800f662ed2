"""Dev builds (plugyard dev): checked like an upload, run at once, replaced on each push, never listed;
the invocation feed's cursor; and a replay's recorded input, redacted."""
from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from plugins_core import secrets
from plugins_core.models import Installation, Invocation, Plugin, PluginVersion
from tests.conftest import make_zip, plugin_files, upload

pytestmark = pytest.mark.django_db


def _package(pong: str = "ok", version: str = "1.0.0") -> bytes:
    files = plugin_files("sbh-my-plugin")
    files["main.py"] = files["main.py"].replace(b'"status": "ok"', f'"status": "{pong}"'.encode())
    manifest = json.loads(files["plugin.json"])
    manifest["version"] = version
    files["plugin.json"] = json.dumps(manifest).encode()
    return make_zip(files)


def _push(actor, data: bytes, pk: int | None = None):
    url = f"/api/plugins/{pk}/dev" if pk else "/api/plugins/dev"
    return actor.client.post(url, {"file": SimpleUploadedFile("p.zip", data)}, format="multipart")


@pytest.fixture
def installed(owner) -> int:
    answer = upload(owner, _package())
    assert answer.status_code == 201, answer.json()
    owner.client.post(f"/api/plugins/{answer.json()['id']}/enable")
    return answer.json()["id"]


def test_a_push_runs_at_once_without_a_version_bump_and_replaces_the_previous_build(owner, installed) -> None:
    first = _push(owner, _package("one"), installed)
    assert first.status_code == 200, first.json()
    assert first.json()["dev_version"] == "1.0.0+dev.1" and first.json()["replaced"] is None
    assert owner.client.get("/ext/my-plugin/ping").json()["status"] == "one"
    two = _package("two")  # the same bytes pushed twice below (a zip stamps its entries with the time)
    second = _push(owner, two, installed)
    assert (second.json()["dev_version"], second.json()["replaced"]) == ("1.0.0+dev.2", "1.0.0+dev.1")
    assert owner.client.get("/ext/my-plugin/ping").json()["status"] == "two"  # a fresh worker: new sha256
    assert list(PluginVersion.with_dev.filter(is_dev=True).values_list("version", flat=True)) == ["1.0.0+dev.2"]
    assert _push(owner, two, installed).json()["unchanged"] is True


def test_dev_builds_are_never_offered_and_delete_returns_to_the_release(owner, installed) -> None:
    _push(owner, _package("dev"), installed)
    plugin = Plugin.objects.get(slug="my-plugin")
    assert plugin.latest_version.version == "1.0.0"
    assert list(PluginVersion.objects.values_list("version", flat=True)) == ["1.0.0"]  # the marketplace's view
    assert Installation.objects.get(pk=installed).version.is_dev  # foreign keys still reach it
    back = owner.client.delete(f"/api/plugins/{installed}/dev")
    assert back.status_code == 200 and back.json()["version"] == "1.0.0"
    assert owner.client.get("/ext/my-plugin/ping").json()["status"] == "ok"
    assert not PluginVersion.with_dev.filter(is_dev=True).exists()
    assert owner.client.delete(f"/api/plugins/{installed}/dev").json()["error"]["code"] == "no_dev_build"


def test_a_release_replaces_the_dev_build(owner, installed) -> None:
    _push(owner, _package("dev"), installed)
    assert upload(owner, _package("released", "1.1.0")).status_code == 201
    assert Installation.objects.get(pk=installed).version.version == "1.1.0"
    assert not PluginVersion.with_dev.filter(is_dev=True).exists()


def test_a_push_is_validated_like_an_upload(owner, installed) -> None:
    files = plugin_files("sbh-my-plugin")
    files["main.py"] += b"\n@hook('build.complete')\ndef typo(ctx, event_data):\n    return None\n"
    refused = _push(owner, make_zip(files), installed)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_package"
    assert upload(owner, make_zip(files)).json()["error"]["details"] == refused.json()["error"]["details"]


def test_pushing_needs_an_admin_and_another_tenants_installation_is_not_found(owner, installed, make_actor,
                                                                               other_owner) -> None:
    developer = make_actor("acme", "developer")
    assert _push(developer, _package("x"), installed).status_code == 403
    assert _push(other_owner, _package("x"), installed).status_code == 404
    assert other_owner.client.delete(f"/api/plugins/{installed}/dev").status_code == 404


def test_a_push_before_any_upload_installs_the_plugin_switched_off(owner) -> None:
    created = _push(owner, _package("fresh"))
    assert created.status_code == 201, created.json()
    assert created.json()["installation"]["enabled"] is False and created.json()["created"] is True
    conflict = owner.client.delete(f"/api/plugins/{created.json()['installation']['id']}/dev")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "no_released_version"


def test_the_invocation_feed_follows_a_cursor_oldest_first(owner, installed) -> None:
    for _ in range(3):
        owner.client.get("/ext/my-plugin/ping")
    ids = [row["id"] for row in owner.client.get(f"/api/plugins/{installed}/invocations").json()["results"]]
    page = owner.client.get(f"/api/plugins/{installed}/invocations?after={min(ids)}").json()["results"]
    assert [row["id"] for row in page] == sorted(ids)[1:]
    assert owner.client.get(f"/api/plugins/{installed}/invocations?after=x").status_code == 400


def test_a_replay_returns_the_recorded_input_redacted_with_the_outcome(owner, installed, other_owner) -> None:
    secrets.set_secret(Installation.objects.get(pk=installed), "API_TOKEN", "tok-very-secret")
    tried = owner.client.post("/api/plugins/test-event", {
        "event_type": "auth.user.created", "installation": installed,
        "event_data": {"user": {"id": "u1", "email": "ann@example.com", "name": "Ann",
                                "bio": "my token is tok-very-secret"}}}, format="json")
    assert tried.status_code == 200, tried.json()
    ident = tried.json()["handlers"][0]["invocation"]
    replay = owner.client.get(f"/api/invocations/{ident}/replay").json()
    assert replay["kind"] == "hook" and replay["event_type"] == "auth.user.created"
    assert replay["handler"] == "on_user_created" and replay["replayable"] is True
    assert replay["input"]["payload"]["user"] == {"id": "u1", "email": "[redacted]", "name": "[redacted]",
                                                  "bio": "my token is [redacted]"}
    assert replay["outcome"]["status"] == "ok"
    assert "ann@example.com" not in json.dumps(replay)
    assert other_owner.client.get(f"/api/invocations/{ident}/replay").status_code == 404
    route = owner.client.get("/ext/my-plugin/ping")
    assert route.status_code == 200
    last = Invocation.objects.filter(kind="route").latest("id")
    routed = owner.client.get(f"/api/invocations/{last.pk}/replay").json()
    assert routed["input"]["request"]["method"] == "GET" and routed["input"]["request"]["path"] == "/ping"
    assert "authorization" not in {k.lower() for k in routed["input"]["request"]["headers"]}
