"""test-event is a test: one installation when named, no event stored, the catalog's example
by default; and the event catalog, whose every example is valid against its schema."""

import jsonschema
import pytest

from plugins_core.events.catalog import all_events
from plugins_core.models import Event, Installation, Invocation
from tests.conftest import make_zip, plugin_files
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db

# A plugin that raises its own event, a product event it declared, and a file upload
# (which the host raises files.uploaded for): three kinds of emit, none may be stored.
EMITTER = '''
from src.ext.sdk import hook

@hook("build.completed")
def on_build(ctx, event_data):
    ctx.emit("report.generated", {"build": event_data["build_id"]})
    ctx.emit("build.completed", {"build_id": 99, "status": "again"})
    ctx.files.upload("reports/build.json", "{}")
    return {"seen": event_data}
'''
# A second plugin that handles the event, so also the build.completed the first one raises.
LISTENER = '''
from src.ext.sdk import hook

@hook("build.completed")
def on_build(ctx, event_data):
    return "listener ran"
'''


def _try(actor, **body):
    """POST test-event; asserts it stored no event (making the actor's tenant raised a few already)."""
    before = set(Event.objects.values_list("pk", flat=True))
    response = actor.client.post("/api/plugins/test-event", body, format="json")
    assert set(Event.objects.values_list("pk", flat=True)) == before
    return response


@pytest.fixture
def emitter(owner):
    return install(owner, plugin_zip("emitter", EMITTER, events=["build.completed"], emits=["build.completed"],
                                     permissions=["files.write"]))


@pytest.fixture
def listener(owner):
    return install(owner, plugin_zip("listener", LISTENER, events=["build.completed"]))


def test_a_named_installation_runs_alone_and_its_emits_are_reported_not_stored(owner, emitter, listener):
    response = _try(owner, event_type="build.completed", event_data={"build_id": 7, "status": "success"},
                    installation=emitter.pk)

    assert response.status_code == 200, response.content
    [handler] = response.json()["handlers"]
    assert (handler["plugin"], handler["installation"], handler["status"]) == ("emitter", emitter.pk, "ok")
    assert handler["emitted"] == [
        {"event_type": "report.generated", "payload": {"build": 7}, "source": "ctx.emit"},
        {"event_type": "build.completed", "payload": {"build_id": 99, "status": "again"}, "source": "ctx.emit"},
        {"event_type": "files.uploaded", "payload": {"path": "reports/build.json", "size": 2}, "source": "host"},
    ]
    assert not Event.objects.filter(type__in=["build.completed", "report.generated", "files.uploaded"]).exists()
    assert not Invocation.objects.filter(installation=listener).exists()
    assert Invocation.objects.get(pk=handler["invocation"]).event_id is None


def test_without_an_installation_every_handler_runs_but_emits_reach_no_one(owner, emitter, listener):
    response = _try(owner, event_type="build.completed", event_data={"build_id": 7, "status": "success"})

    assert response.status_code == 200, response.content
    assert [(h["plugin"], h["result"]) for h in response.json()["handlers"]] == [
        ("emitter", {"seen": {"build_id": 7, "status": "success"}}), ("listener", "listener ran")]
    assert list(Invocation.objects.filter(installation=listener).values_list("name", flat=True)) == ["on_build"]


def test_an_emit_refused_for_real_is_refused_in_a_test_too(owner):
    undeclared = EMITTER.replace('    ctx.emit("build.completed", {"build_id": 99, "status": "again"})\n', "")
    undeclared = undeclared.replace('ctx.emit("report.generated"', 'ctx.emit("build.completed"')
    installation = install(owner, plugin_zip("sneaky", undeclared, events=["build.completed"],
                                             permissions=["files.write"]))
    response = _try(owner, event_type="build.completed", installation=installation.pk)
    [handler] = response.json()["handlers"]
    assert handler["status"] == "error" and "declare it under 'emits'" in handler["error"]
    assert handler["emitted"] == []


def test_without_event_data_the_catalogs_example_is_sent(owner):
    install(owner, make_zip(plugin_files("sbh-my-plugin")))
    [example] = [spec.example for spec in all_events() if spec.name == "auth.user.created"]

    response = _try(owner, event_type="auth.user.created")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["event_data"] == example
    [handler] = body["handlers"]
    assert handler["status"] == "ok" and f"New user created: {example['user']['email']}" in handler["logs"]
    assert handler["emitted"] == [{"event_type": "email.welcome_sent", "source": "ctx.emit",
                                   "payload": {"user_email": example["user"]["email"]}}]
    assert not Event.objects.filter(type="email.welcome_sent").exists()


def test_another_tenants_installation_is_answered_as_an_id_nobody_has(owner, other_owner):
    theirs = install(other_owner, plugin_zip("theirs", LISTENER, events=["build.completed"]))
    response = _try(owner, event_type="build.completed", installation=theirs.pk)
    nobodys = _try(owner, event_type="build.completed", installation=theirs.pk + 1000)
    assert response.status_code == nobodys.status_code == 400
    [detail] = response.json()["error"]["details"]
    assert (detail["field"], detail["code"]) == ("installation", "unknown_installation")
    assert detail["message"].replace(str(theirs.pk), "N") == (
        nobodys.json()["error"]["details"][0]["message"].replace(str(theirs.pk + 1000), "N"))
    assert not Invocation.objects.exists()


@pytest.mark.parametrize(("installation", "code"), [
    (10**9, "unknown_installation"), ("seven", "invalid"), (0, "min_value"),
])
def test_an_installation_that_names_nothing_is_a_400_naming_the_field(owner, emitter, installation, code):
    response = _try(owner, event_type="build.completed", installation=installation)
    assert response.status_code == 400
    [detail] = response.json()["error"]["details"]
    assert (detail["field"], detail["code"]) == ("installation", code)


def test_a_disabled_installation_or_one_without_the_hook_is_a_400(owner, emitter):
    response = _try(owner, event_type="auth.user.created", installation=emitter.pk)
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_handler"
    owner.client.post(f"/api/plugins/{emitter.pk}/disable")
    response = _try(owner, event_type="build.completed", installation=emitter.pk)
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "installation"
    assert not Invocation.objects.filter(kind="hook").exists()


def test_every_catalog_event_has_an_example_valid_against_its_schema():
    events = all_events()
    assert {"auth.user.created", "build.completed", "device.created", "device.data.process"} <= {e.name for e in events}
    for spec in events:
        assert isinstance(spec.example, dict), spec.name
        jsonschema.Draft202012Validator(spec.payload_schema).validate(spec.example)


def test_the_catalog_api_lists_each_event_with_its_schema_and_example(owner):
    response = owner.client.get("/api/events/catalog")
    assert response.status_code == 200, response.content
    by_name = {item["name"]: item for item in response.json()}
    assert set(by_name) == {spec.name for spec in all_events()}
    build = by_name["build.completed"]
    assert build["kind"] == "action" and build["description"] == "A build finished."
    assert build["payload_schema"]["required"] == ["build_id", "status"]
    jsonschema.Draft202012Validator(build["payload_schema"]).validate(build["example"])
    assert by_name["device.data.process"]["kind"] == "filter"


def test_the_catalog_and_test_event_are_in_the_openapi_schema(owner):
    schema = owner.client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    catalog = schema["paths"]["/api/events/catalog"]["get"]
    assert "200" in catalog["responses"]
    test_event = schema["paths"]["/api/plugins/test-event"]["post"]
    assert "storing no event" in test_event["summary"]
    request = schema["components"]["schemas"][test_event["requestBody"]["content"]["application/json"]["schema"]
                                              ["$ref"].rsplit("/", 1)[-1]]
    assert request["required"] == ["event_type"] and "installation" in request["properties"]
    assert "emitted" in schema["components"]["schemas"]["TestEventHandler"]["properties"]


def test_an_installation_that_never_ran_leaves_no_row(owner, emitter):
    Installation.objects.filter(pk=emitter.pk).update(enabled=False)
    assert _try(owner, event_type="build.completed").json()["handlers"] == []
