"""Host resources through ctx.db and plugin.api: filters, limits, writes and their events."""
from __future__ import annotations

import pytest

from devices.models import Alert, Device
from plugins_core.events.models import Event
from plugins_core.host import resources
from plugins_core.host.errors import BadArguments, NotFound, Refused

pytestmark = pytest.mark.django_db

ALL = ["db.read", "db.write"]


@pytest.fixture
def bridge(acme, make_installation, bridge_for):
    return bridge_for(make_installation(acme, permissions=ALL + ["devices.read", "devices.write", "alerts.read",
                                                                 "alerts.write", "users.read", "organizations.read",
                                                                 "webhooks.read", "webhooks.write"]))


def api(bridge, resource, action, **kwargs):
    return bridge.call("api.call", {"resource": resource, "action": action, **kwargs})


@pytest.mark.parametrize("key", ["tenant__slug", "tenant", "password", "user__password", "name__startswith",
                                 "id__gt", "pk", "metadata__secret"])
def test_filters_are_public_field_names_not_orm_lookups(bridge, key):
    for table in ("devices", "users"):
        with pytest.raises(BadArguments, match=f"cannot filter {table} by"):
            bridge.call("db.query", {"table": table, "filters": {key: "x"}})


def test_filter_values_are_plain(bridge):
    with pytest.raises(BadArguments, match="value must be"):
        bridge.call("db.query", {"table": "devices", "filters": {"name": {"$ne": None}}})
    with pytest.raises(BadArguments, match="cannot order devices by 'tenant__slug'"):
        bridge.call("db.query", {"table": "devices", "order_by": "-tenant__slug"})


def test_limits_are_capped(acme, bridge):
    Device.objects.bulk_create([Device(tenant=acme, name=f"d{i:04}") for i in range(1005)])
    assert len(bridge.call("db.query", {"table": "devices"})) == resources.DEFAULT_LIMIT
    assert len(bridge.call("db.query", {"table": "devices", "limit": 5000})) == resources.MAX_LIMIT
    page2 = api(bridge, "devices", "list", params={"page": 2, "page_size": 10, "order_by": "name"})
    assert [d["name"] for d in page2] == [f"d{i:04}" for i in range(10, 20)]
    with pytest.raises(BadArguments):
        bridge.call("db.query", {"table": "devices", "limit": -1})


def test_sbh_db_calls_on_devices(acme, bridge):
    row = bridge.call("db.insert", {"table": "devices", "data": {"name": "edge-1", "type": "router"}})
    assert row["name"] == "edge-1" and Device.objects.get(pk=row["id"]).tenant == acme
    assert bridge.call("db.get_by_id", {"table": "devices", "id": row["id"]})["type"] == "router"
    assert bridge.call("db.get_by_id", {"table": "devices", "id": "device-123"}) is None
    updated = bridge.call("db.update", {"table": "devices", "id": row["id"], "data": {"status": "online"}})
    assert updated["status"] == "online"
    assert [d["id"] for d in bridge.call("db.query", {"table": "devices", "filters": {"status": ["online", "offline"]}})] == [row["id"]]
    with pytest.raises(BadArguments, match="no writable field"):
        bridge.call("db.update", {"table": "devices", "id": row["id"], "data": {"tenant_id": 99}})
    with pytest.raises(BadArguments, match="status"):
        bridge.call("db.update", {"table": "devices", "id": row["id"], "data": {"status": "exploded"}})
    with pytest.raises(NotFound):
        bridge.call("db.update", {"table": "devices", "id": 999999, "data": {"name": "x"}})
    with pytest.raises(NotFound, match="no host resource 'passwords'"):
        bridge.call("db.query", {"table": "passwords"})


def test_writes_emit_the_matching_events(acme, bridge):
    device = api(bridge, "devices", "create", data={"name": "New Device", "type": "server"})
    api(bridge, "devices", "update", id=device["id"], data={"status": "maintenance"})
    alert = api(bridge, "alerts", "create", data={"device_id": device["id"], "severity": "warning",
                                                  "title": "High CPU Usage", "message": "CPU above 90%"})
    assert alert["source"] == f"plugin:{bridge.installation.plugin.slug}"
    acked = api(bridge, "alerts", "acknowledge", id=alert["id"])
    assert acked["status"] == "acknowledged" and acked["acknowledged_at"]
    api(bridge, "alerts", "resolve", id=alert["id"])
    api(bridge, "devices", "delete", id=device["id"])
    events = list(Event.objects.for_tenant(acme).filter(type__regex=r"^(device|alert)\.").order_by("id").values_list("type", flat=True))
    assert events == ["device.created", "device.updated", "alert.created", "alert.updated", "alert.resolved",
                      "device.deleted"]
    created = Event.objects.get(type="device.created")
    assert created.payload["device_id"] == device["id"] and created.payload["device_data"]["name"] == "New Device"
    # A change made by a plugin is one level deeper than the invocation that made it.
    assert created.source_installation == bridge.installation and created.depth == 1


def test_ops_center_api_list_takes_filters_and_paging(acme, bridge):
    api(bridge, "devices", "create", data={"name": "a", "status": "online"})
    api(bridge, "devices", "create", data={"name": "b", "status": "offline"})
    assert [d["name"] for d in api(bridge, "devices", "list", params={"page": 1, "status": "online"})] == ["a"]
    with pytest.raises(BadArguments, match="no action 'explode'"):
        api(bridge, "alerts", "explode", id=1)


def test_users_and_organizations(acme, bridge, make_actor):
    make_actor("acme", "developer")
    users = api(bridge, "users", "list")
    assert {u["role"] for u in users} == {"owner", "developer"}
    assert set(users[0]) >= {"id", "email", "username", "role"} and "password" not in users[0]
    one = bridge.call("db.get_by_id", {"table": "users", "id": users[0]["id"]})
    assert one["email"] == users[0]["email"]
    assert bridge.call("db.query", {"table": "users", "filters": {"active": True, "role": "developer"}})[0]["role"] == "developer"
    orgs = api(bridge, "organizations", "list")
    assert [o["slug"] for o in orgs] == ["acme"]
    assert api(bridge, "organizations", "get", id=acme.pk)["name"] == acme.name


def test_webhook_subscriptions(acme, bridge):
    hook = api(bridge, "webhooks", "create", data={"url": "https://example.com/webhook",
                                                   "events": ["device.created", "alert.created"]})
    assert hook["installation_id"] == bridge.installation.pk
    assert [h["id"] for h in api(bridge, "webhooks", "list")] == [hook["id"]]
    with pytest.raises(BadArguments, match="Unknown event"):
        api(bridge, "webhooks", "create", data={"url": "https://example.com/", "events": ["no.such.event"]})
    with pytest.raises(BadArguments, match="url"):
        api(bridge, "webhooks", "create", data={"url": "javascript:alert(1)", "events": ["device.created"]})
    assert api(bridge, "webhooks", "delete", id=hook["id"]) == {"deleted": True, "id": hook["id"]}


def test_a_host_registers_its_own_resource(acme, bridge, make_installation, bridge_for):
    from tenants.scoping import TenantQuerySet

    thing = resources.Resource(
        name="alerts_summary",
        queryset_for_tenant=lambda tenant: TenantQuerySet(model=Alert).for_tenant(tenant),
        to_dict=lambda alert: {"id": alert.pk, "title": alert.title},
        read_permission="alerts.read",
        filterable_fields={"severity": "severity"},
    )
    Alert.objects.create(tenant=acme, title="t", severity="critical")
    with resources.registered_resource(thing):
        assert bridge.call("db.query", {"table": "alerts_summary", "filters": {"severity": "critical"}})[0]["title"] == "t"
        with pytest.raises(Refused, match="read-only"):
            api(bridge, "alerts_summary", "create", data={})
        denied = bridge_for(make_installation(acme, permissions=["devices.read"]))
        from plugins_core.host.errors import PermissionDenied

        with pytest.raises(PermissionDenied) as exc:
            denied.call("api.call", {"resource": "alerts_summary", "action": "list"})
        assert exc.value.permission == "alerts.read"
    with pytest.raises(NotFound):
        bridge.call("db.query", {"table": "alerts_summary"})
    with pytest.raises(ValueError, match="registered already"):
        resources.register_resource(resources.Resource("devices", lambda t: None, dict, "devices.read"))
