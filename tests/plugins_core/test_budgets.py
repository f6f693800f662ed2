"""Budgets on what a plugin can multiply, through the public API: emits per originating event,
a tenant's files, a tenant's invocation-log bytes a day.

Each budget is guarded by breaking it once on purpose (the cap raised out of reach): the
test that holds it must then fail.
"""
import pytest

from plugins_core.events.tasks import dispatch_event
from plugins_core.models import Event, Invocation, TenantUsage
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db

DOUBLING = '''
from src.ext.sdk import hook

@hook("device.created")
def double(ctx, event_data):
    refused = []
    for n in range(2):
        try:
            ctx.emit("device.created", {"device_id": event_data["device_id"],
                                         "device_data": {"name": "copy", "type": "server"}})
        except Exception as exc:
            refused.append(str(exc))
    return {"refused": refused}
'''


def _dispatch_all(first: Event) -> None:
    """Run the event and every event it led to, as workers would."""
    done: set[int] = set()
    while pending := list(Event.objects.exclude(pk__in=done).filter(pk=first.pk)
                          | Event.objects.exclude(pk__in=done).filter(root=first)):
        for event in pending:
            dispatch_event(event.pk)
            done.add(event.pk)


def test_one_device_event_leads_to_at_most_the_fan_out_cap_of_events(owner, settings):
    settings.PLUGYARD_MAX_EVENTS_PER_ROOT = 20
    install(owner, plugin_zip("doubler", DOUBLING, events=["device.created"], emits=["device.created"]))
    response = owner.client.post("/api/devices/", {"name": "edge-1", "type": "server"}, format="json")
    assert response.status_code == 201, response.content
    first = Event.objects.get(type="device.created", root__isnull=True)
    _dispatch_all(first)
    # Without the cap, the depth cap alone lets 2 emits per call make 62 more (issue #9 saw 63).
    assert Event.objects.filter(root=first).count() == 20
    refusals = [r for i in Invocation.objects.filter(name="double") for r in (i.result or {}).get("refused", [])]
    assert refusals and all("led to 20 events already" in r for r in refusals)
    refused_calls = [c for i in Invocation.objects.filter(name="double") for c in i.report.get("ctx_calls", [])
                     if not c["ok"]]
    assert refused_calls and all(c["method"] == "emit" for c in refused_calls)


FILES = '''
from src.ext.sdk import route

@route("/write/<name>", methods=["POST"])
def write(ctx, name):
    try:
        return ctx.files.upload(name, content="x" * 600)
    except Exception as exc:
        return {"error": str(exc)}, 507
'''


def test_a_tenants_plugin_files_stop_at_its_budget(owner, settings):
    settings.PLUGYARD_TENANT_BUDGETS = {**settings.PLUGYARD_TENANT_BUDGETS, "file_bytes": 1000}
    install(owner, plugin_zip("writer", FILES, permissions=["files.write"], routes=True))
    assert owner.client.post("/ext/writer/write/a.txt").status_code == 200
    assert owner.client.post("/ext/writer/write/a.txt").status_code == 200  # replacing counts the difference
    over = owner.client.post("/ext/writer/write/b.txt")
    assert over.status_code == 507 and "budget is 1000 bytes" in over.json()["error"]
    assert TenantUsage.objects.get(tenant=owner.tenant).file_bytes == 600


CHATTY = '''
from src.ext.sdk import route

@route("/talk", methods=["GET"])
def talk(ctx):
    print("y" * 1500)
    return {"ok": True}
'''


def test_a_tenant_over_its_log_budget_keeps_outcomes_and_says_why(owner, other_owner, settings):
    settings.PLUGYARD_TENANT_BUDGETS = {**settings.PLUGYARD_TENANT_BUDGETS, "log_bytes_per_day": 4000}
    install(owner, plugin_zip("chatty", CHATTY, routes=True))
    install(other_owner, plugin_zip("chatty", CHATTY, routes=True))
    for _ in range(4):
        assert owner.client.get("/ext/chatty/talk").status_code == 200
    logs = [i.logs for i in Invocation.objects.filter(tenant=owner.tenant, kind="route").order_by("id")]
    assert logs[0] == ["y" * 1500] and "over its daily budget" in logs[-1][0]
    assert Invocation.objects.filter(tenant=owner.tenant, status="ok").count() == 4
    # Another tenant's budget is its own.
    assert other_owner.client.get("/ext/chatty/talk").status_code == 200
    assert Invocation.objects.get(tenant=other_owner.tenant).logs == ["y" * 1500]
