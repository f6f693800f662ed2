"""Readiness: /readyz and manage.py health answer 503 / exit 1 naming what is stuck."""
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from kombu import Connection

from plugins_core import health, sandboxes
from plugins_core.events.emit import emit
from plugins_core.jobs.beat import Scheduler
from plugins_core.models import Event, Heartbeat, Invocation
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db

HOOK = 'from src.ext.sdk import hook\n\n@hook("build.completed")\ndef seen(ctx, event_data):\n    return 1\n'


def _alive(seconds_ago: float = 1) -> None:
    at = timezone.now() - dt.timedelta(seconds=seconds_ago)
    for name in ("beat", "worker"):
        Heartbeat.objects.update_or_create(name=name, defaults={"at": at})


def _failing(client) -> tuple[int, list[str]]:
    response = client.get("/readyz")
    return response.status_code, response.json()["failing"]


def test_ready_when_every_part_answers_and_nothing_waits(client):
    _alive()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert [c["name"] for c in body["checks"]] == list(health.CHECKS)


def test_no_heartbeat_yet_is_not_ready(client):
    assert _failing(client) == (503, ["beat: no tick of beat yet", "workers: no heartbeat run by a worker yet"])


def test_a_silent_worker_or_beat_is_named_with_its_age_and_threshold(client, settings):
    settings.PLUGYARD_READY = {**settings.PLUGYARD_READY, "workers_s": 60, "beat_s": 30}
    _alive(seconds_ago=10)
    Heartbeat.objects.filter(name="worker").update(at=timezone.now() - dt.timedelta(seconds=125))
    assert _failing(client) == (503, ["workers: the last heartbeat run by a worker was 125 s ago (threshold 60 s)"])
    Heartbeat.objects.filter(name="beat").update(at=timezone.now() - dt.timedelta(seconds=45))
    assert _failing(client)[1][0] == "beat: the last tick of beat was 45 s ago (threshold 30 s)"


def test_an_event_waiting_in_the_outbox_past_the_threshold_is_not_ready(client, owner, settings):
    settings.PLUGYARD_READY = {**settings.PLUGYARD_READY, "outbox_s": 90}
    _alive()
    event = emit(owner.tenant, "build.completed", {"build_id": 1, "status": "success"})
    Event.objects.filter(pk=event.pk).update(dispatched_at=None, created_at=timezone.now() - dt.timedelta(seconds=80))
    assert _failing(client) == (200, [])
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - dt.timedelta(seconds=100))
    assert _failing(client) == (503, ["outbox: the oldest undispatched event has waited 100 s (threshold 90 s)"])
    Event.objects.filter(pk=event.pk).update(dispatched_at=timezone.now())
    assert _failing(client) == (200, [])


def test_a_hook_nobody_claims_past_the_threshold_is_not_ready(client, owner, settings):
    settings.PLUGYARD_READY = {**settings.PLUGYARD_READY, "pending_s": 300}
    installation = install(owner, plugin_zip("seen", HOOK, events=["build.completed"]))
    _alive()
    event = emit(owner.tenant, "build.completed", {"build_id": 1, "status": "success"})
    Event.objects.filter(pk=event.pk).update(dispatched_at=timezone.now())
    Invocation.objects.create(tenant=owner.tenant, installation=installation, event=event, kind="hook", name="seen")
    Invocation.objects.filter(event=event).update(created_at=timezone.now() - dt.timedelta(seconds=301))
    assert _failing(client) == (503, ["pending: the oldest unclaimed hook invocation has waited 301 s (threshold 300 s)"])


def test_the_sandbox_service_down_is_not_ready(client, settings):
    _alive()
    settings.PLUGYARD_SANDBOX = {**settings.PLUGYARD_SANDBOX, "socket_path": "/tmp/plugyard-no-such.sock"}
    sandboxes.reset()
    try:
        assert _failing(client) == (503, ["sandbox: the sandbox service does not answer (is manage.py sandboxd running?)"])
    finally:
        settings.PLUGYARD_SANDBOX = {**settings.PLUGYARD_SANDBOX}
        sandboxes.reset()


def test_an_unreachable_broker_is_not_ready(client, monkeypatch):
    _alive()
    class Unreachable:  # the app with a broker nobody listens on
        @staticmethod
        def connection_for_write():
            return Connection("redis://127.0.0.1:9/0", connect_timeout=1)

    monkeypatch.setattr(health, "current_app", Unreachable)
    status, failing = _failing(client)
    assert status == 503 and failing[0].startswith("broker: the broker did not answer (")


def test_the_heartbeat_task_and_beats_tick_write_their_heartbeats():
    health.heartbeat.apply()
    assert Heartbeat.objects.get(name="worker").at > timezone.now() - dt.timedelta(seconds=5)
    Scheduler._heartbeat(type("Beat", (), {"_heartbeat_at": float("-inf")})())
    assert Heartbeat.objects.get(name="beat").at > timezone.now() - dt.timedelta(seconds=5)


def test_the_command_prints_each_check_and_exits_1_when_not_ready():
    _alive()
    out = io.StringIO()
    call_command("health", stdout=out)
    assert out.getvalue().splitlines()[-1] == "ready"
    Heartbeat.objects.filter(name="worker").delete()
    with pytest.raises(CommandError, match="not ready: workers: no heartbeat run by a worker yet"):
        call_command("health", stdout=io.StringIO())
    call_command("health", "--only", "beat,database", stdout=io.StringIO())  # the worker is not judged
    with pytest.raises(CommandError, match="--only: unknown check"):
        call_command("health", "--only", "nope")
