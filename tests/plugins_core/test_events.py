"""Events: the catalog at upload, emit and the outbox, test-event, filters, ctx.emit, the log."""

import pytest
from django.db import transaction

from devices.models import Device
from plugins_core.events.dispatch import run_event_hooks, send_chained
from plugins_core.events.emit import EventError, emit
from plugins_core.models import Event, Installation, Invocation
from tests.conftest import make_zip, plugin_files, upload
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db


def test_subscribing_to_an_unknown_event_is_refused_at_upload(owner):
    response = upload(owner, plugin_zip("typo", "x = 1\n", events=["auth.user.craeted"]))
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "events[0]"


def test_a_rolled_back_transaction_emits_nothing(owner):
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(owner.tenant, "build.completed", {"build_id": 1, "status": "success"})
        raise RuntimeError("roll back")
    assert not Event.objects.filter(type="build.completed").exists()


@pytest.mark.parametrize(
    ("event_type", "payload", "field"),
    [("no.such.event", {}, "event_type"), ("build.completed", {"status": "x"}, "event_data"),
     ("build.completed", {"build_id": 1, "status": 5}, "event_data.status"), ("build.completed", [1], "event_data")],
)
def test_emit_validates_type_and_payload(owner, event_type, payload, field):
    with pytest.raises(EventError) as excinfo:
        emit(owner.tenant, event_type, payload)
    assert excinfo.value.field == field


def test_test_event_runs_the_sbh_guide_hook_and_reports_its_emit(owner):
    install(owner, make_zip(plugin_files("sbh-my-plugin")))
    response = owner.client.post(
        "/api/plugins/test-event",
        {"event_type": "auth.user.created", "event_data": {"user": {"id": 7, "email": "new@acme.test"}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    [outcome] = response.json()["handlers"]
    assert outcome["plugin"] == "my-plugin" and outcome["handler"] == "on_user_created"
    assert outcome["status"] == "ok"
    assert "New user created: new@acme.test" in outcome["logs"]
    assert outcome["emitted"] == [{"event_type": "email.welcome_sent", "payload": {"user_email": "new@acme.test"},
                                   "source": "ctx.emit"}]
    assert not Event.objects.filter(type="email.welcome_sent").exists()  # a test stores no event


@pytest.mark.parametrize(
    ("body", "field"),
    [({"event_type": "nope.nope", "event_data": {}}, "event_type"), ({"event_data": {}}, "event_type"),
     ({"event_type": "auth.user.created", "event_data": {"user": 5}}, "event_data.user")],
)
def test_test_event_bad_input_is_a_400_naming_the_field(owner, body, field):
    response = owner.client.post("/api/plugins/test-event", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == field


HOOKS = '''
from src.ext.sdk import hook

@hook("build.completed")
def fails(ctx, event_data):
    raise ValueError("nope")
'''
HANGS = '''
from src.ext.sdk import hook

@hook("build.completed")
def hangs(ctx, event_data):
    while True:
        pass
'''
WORKS = '''
from src.ext.sdk import hook

@hook("build.completed")
def works(ctx, event_data):
    return {"seen": event_data["build_id"]}
'''


def test_a_raising_or_hanging_plugin_never_blocks_the_others(owner, settings):
    settings.PLUGYARD_SANDBOX = {**settings.PLUGYARD_SANDBOX, "hook_timeout_s": 1}
    for slug, code in [("fails", HOOKS), ("hangs", HANGS), ("works", WORKS)]:
        install(owner, plugin_zip(slug, code, events=["build.completed"]))
    event = emit(owner.tenant, "build.completed", {"build_id": 9, "status": "success"})
    for installation in Installation.objects.all():
        run_event_hooks(event, installation)
    statuses = dict(Invocation.objects.filter(event=event).values_list("name", "status"))
    assert statuses == {"fails": "error", "hangs": "timeout", "works": "ok"}
    assert Invocation.objects.get(name="works").result == {"seen": 9}


def test_a_handler_runs_to_completion_once_per_event(owner):
    installation = install(owner, plugin_zip("works", WORKS, events=["build.completed"]))
    event = emit(owner.tenant, "build.completed", {"build_id": 1, "status": "success"})
    run_event_hooks(event, installation)
    claims = run_event_hooks(event, installation)  # a redelivered task
    assert [claim.run for claim in claims] == [False]
    assert Invocation.objects.filter(event=event).count() == 1


def test_the_ops_center_filter_enriches_device_data(owner, ops_tar):
    install(owner, ops_tar)
    value = send_chained(owner.tenant, "device.data.process", {"name": "sensor"})
    assert value["plugin_processed"] is True and "processed_at" in value
    assert Invocation.objects.get(kind="filter").status == "ok"


BAD_FILTER = '''
from ops_center_sdk import Plugin
plugin = Plugin(id="bad-filter", name="Bad", version="1.0.0")

@plugin.filter_hook("device.data.process", priority=99)
async def explode(data):
    raise RuntimeError("filter broke")
'''


def test_a_failing_filter_passes_the_value_on(owner, ops_tar):
    install(owner, plugin_zip("bad-filter", BAD_FILTER))
    install(owner, ops_tar)
    value = send_chained(owner.tenant, "device.data.process", {"name": "sensor"})
    assert value["plugin_processed"] is True
    assert Invocation.objects.get(name="explode").status == "error"


def test_device_creation_through_the_api_runs_the_filter(owner, ops_tar):
    install(owner, ops_tar)
    response = owner.client.post("/api/devices/", {"name": "edge-1", "type": "server"}, format="json")
    assert response.status_code == 201, response.content
    assert Device.objects.get().metadata.get("plugin_processed") is True


IMPERSONATE = '''
from src.ext.sdk import hook

@hook("build.completed")
def impersonate(ctx, event_data):
    ctx.emit("auth.user.deleted", {"user": {"id": 1, "email": "x@y.z"}})
'''


def test_plugins_cannot_raise_product_events_they_did_not_declare(owner):
    installation = install(owner, plugin_zip("imp", IMPERSONATE, events=["build.completed"]))
    event = emit(owner.tenant, "build.completed", {"build_id": 1, "status": "success"})
    run_event_hooks(event, installation)
    record = Invocation.objects.get(name="impersonate")
    assert record.status == "error" and "emits" in record.error
    assert not Event.objects.filter(type="auth.user.deleted").exists()


def test_invocation_log_filters_and_pages(owner):
    installation = install(owner, make_zip(plugin_files("sbh-my-plugin")))
    for _ in range(3):
        owner.client.get("/ext/my-plugin/ping")
    url = f"/api/plugins/{installation.pk}/invocations"
    page = owner.client.get(url, {"kind": "route", "limit": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2
    assert page["results"][0]["status"] == "ok"
    assert owner.client.get(url, {"status": "bogus"}).status_code == 400
    assert owner.client.get(url, {"since": "not-a-date"}).status_code == 400


def test_events_api_lists_only_the_callers_events(owner, other_owner):
    emit(owner.tenant, "build.completed", {"build_id": 1, "status": "success"})
    mine = owner.client.get("/api/events/", {"type": "build.completed"}).json()
    assert [e["type"] for e in mine["results"]] == ["build.completed"]
    assert other_owner.client.get("/api/events/", {"type": "build.completed"}).json()["count"] == 0


def test_lost_and_dead_invocations_are_found_and_finish_once(owner):
    import datetime as dt

    from django.utils import timezone

    from plugins_core.events.dispatch import record_pending, stalled_invocations

    installation = install(owner, plugin_zip("works", WORKS, events=["build.completed"]))
    event = emit(owner.tenant, "build.completed", {"build_id": 3, "status": "success"})
    assert [h.installation for h in record_pending(event)] == [installation]
    assert [h.installation for h in record_pending(event)] == [installation]  # a redelivered dispatch adds nothing
    pending = Invocation.objects.get(event=event)
    assert pending.status == "pending" and stalled_invocations() == []

    # The message was lost: after the grace period the row is found and run again.
    Invocation.objects.filter(pk=pending.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    assert stalled_invocations() == [(event.pk, installation.pk)]
    run_event_hooks(event, installation)
    assert Invocation.objects.get(pk=pending.pk).status == "ok"

    # A worker died mid-run holding the lease: once it runs out the hook is run again, once.
    Invocation.objects.filter(pk=pending.pk).update(status="running", lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert stalled_invocations() == [(event.pk, installation.pk)]
    run_event_hooks(event, installation)
    record = Invocation.objects.get(pk=pending.pk)
    assert record.status == "ok" and record.attempts == 2
    assert stalled_invocations() == []


def test_a_nul_character_in_the_type_filter_is_a_400_naming_it(owner):
    """PostgreSQL cannot compare a string holding NUL: refused before the query, on both legs."""
    response = owner.client.get("/api/events/", {"type": "build\x00completed"})
    assert response.status_code == 400, response.content
    [detail] = response.json()["error"]["details"]
    assert (detail["field"], detail["code"]) == ("type", "null_characters_not_allowed")
