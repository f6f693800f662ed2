"""The bridge: one dispatch table, every permissioned method refused without its permission."""
from __future__ import annotations

import pytest
from plugyard_sdk.permissions import ALL_PERMISSIONS

from plugins_core.host.bridge import METHOD_PERMISSIONS, RESOURCE
from plugins_core.host.errors import (
    BadArguments,
    BridgeError,
    PermissionDenied,
    Refused,
    UnknownMethod,
)
from plugins_core.sandbox.bridge import BRIDGE_METHODS
from plugins_core.secrets import set_secret

pytestmark = pytest.mark.django_db

# One call per permissioned method, with arguments that would otherwise be valid.
CALLS = [
    ("http.request", {"method": "GET", "url": "https://api.example.com/"}, "outbound_http"),
    ("db.query", {"table": "devices", "filters": {}}, "db.read"),
    ("db.get_by_id", {"table": "users", "id": 1}, "db.read"),
    ("db.insert", {"table": "devices", "data": {"name": "x"}}, "db.write"),
    ("db.update", {"table": "devices", "id": 1, "data": {"name": "x"}}, "db.write"),
    ("files.list", {"prefix": ""}, "files.read"),
    ("files.read", {"path": "a.txt"}, "files.read"),
    ("files.upload", {"path": "a.txt", "content": "x"}, "files.write"),
    ("files.delete", {"path": "a.txt"}, "files.write"),
    ("llm.run", {"prompt": "hi", "options": {}}, "llm.use"),
    ("email.send", {"to": "a@example.com", "subject": "s", "body": "b"}, "send_email"),
    ("api.call", {"resource": "devices", "action": "list", "params": {}}, "devices.read"),
    ("api.call", {"resource": "devices", "action": "create", "data": {"name": "x"}}, "devices.write"),
    ("api.call", {"resource": "alerts", "action": "acknowledge", "id": 1}, "alerts.write"),
    ("api.call", {"resource": "users", "action": "list"}, "users.read"),
    ("api.call", {"resource": "organizations", "action": "get", "id": 1}, "organizations.read"),
    ("api.call", {"resource": "webhooks", "action": "list"}, "webhooks.read"),
    ("api.call", {"resource": "webhooks", "action": "create", "data": {"url": "https://x.test/", "events": ["device.created"]}}, "webhooks.write"),
]


def test_the_table_covers_exactly_the_sandbox_methods():
    assert set(METHOD_PERMISSIONS) == set(BRIDGE_METHODS)


def test_every_named_permission_is_a_real_one():
    named = {p for p in METHOD_PERMISSIONS.values() if p not in (None, RESOURCE)}
    assert named <= set(ALL_PERMISSIONS)


@pytest.mark.parametrize(("method", "args", "permission"), CALLS, ids=[f"{m}:{p}" for m, _, p in CALLS])
def test_each_method_is_denied_without_its_permission_and_names_it(acme, make_installation, bridge_for, method, args, permission):
    bridge = bridge_for(make_installation(acme, permissions=[]))
    with pytest.raises(PermissionDenied) as denied:
        bridge.call(method, args)
    assert denied.value.permission == permission
    assert permission in str(denied.value)
    assert bridge.calls[-1].outcome == "denied"


@pytest.mark.parametrize(("method", "args", "permission"), CALLS[:11], ids=[m for m, _, _ in CALLS[:11]])
def test_other_permissions_do_not_stand_in(acme, make_installation, bridge_for, method, args, permission):
    everything_else = [p for p in ALL_PERMISSIONS if p != permission and not p.startswith(("devices.", "users.", "alerts."))]
    bridge = bridge_for(make_installation(acme, permissions=everything_else))
    with pytest.raises(PermissionDenied) as denied:
        bridge.call(method, args)
    assert denied.value.permission == permission


def test_the_generic_db_permission_grants_every_resource(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme, permissions=["db.read"]))
    assert bridge.call("api.call", {"resource": "users", "action": "list"})  # the owner is a member
    assert bridge.call("db.query", {"table": "devices", "filters": {}}) == []


def test_a_resource_permission_grants_db_calls_on_that_resource_only(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme, permissions=["devices.read"]))
    assert bridge.call("db.query", {"table": "devices"}) == []
    with pytest.raises(PermissionDenied) as denied:
        bridge.call("db.query", {"table": "users"})
    assert denied.value.permission == "db.read"


def test_unknown_methods_and_bad_arguments_are_clear(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme, permissions=["db.read"]))
    with pytest.raises(UnknownMethod, match="no method 'os.system'"):
        bridge.call("os.system", {"cmd": "id"})
    with pytest.raises(BadArguments, match="db.query"):
        bridge.call("db.query", {"table": "devices", "sql": "DROP TABLE"})
    with pytest.raises(BadArguments, match="arguments must be an object"):
        bridge.call("db.query", ["devices"])
    assert all(isinstance(e, BridgeError) for e in (UnknownMethod("x"), BadArguments("x")))


def test_read_only_resources_refuse_writes_even_with_db_write(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme, permissions=["db.read", "db.write", "users.read"]))
    with pytest.raises(Refused, match="users is read-only"):
        bridge.call("db.insert", {"table": "users", "data": {"email": "x@y.z"}})
    with pytest.raises(Refused, match="read-only"):
        bridge.call("api.call", {"resource": "organizations", "action": "update", "id": acme.pk, "data": {"name": "x"}})


def test_secrets_are_the_installations_own(acme, make_installation, bridge_for):
    mine, theirs = make_installation(acme), make_installation(acme)
    set_secret(mine, "API_KEY", "mine")
    set_secret(theirs, "OTHER", "theirs")
    bridge = bridge_for(mine)
    assert bridge.call("secrets.get", {"name": "API_KEY"}) == "mine"
    assert bridge.call("secrets.get", {"name": "OTHER"}) is None
    with pytest.raises(BadArguments):
        bridge.call("secrets.get", {"name": "../OTHER"})


def test_emit_validates_the_name_and_data(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme))
    for bad in ("", "NoDots", "a..b", "has space.x", 42):
        with pytest.raises(BadArguments):
            bridge.call("emit", {"event_type": bad, "data": {}})
    with pytest.raises(BadArguments, match="object"):
        bridge.call("emit", {"event_type": "report.generated", "data": [1, 2]})
    with pytest.raises(BadArguments, match="limit"):
        bridge.call("emit", {"event_type": "report.generated", "data": {"x": "y" * 70_000}})


def test_emit_goes_through_the_event_system_and_cannot_impersonate(acme, make_installation, bridge_for):
    from plugins_core.events.models import Event

    bridge = bridge_for(make_installation(acme))
    bridge.call("emit", {"event_type": "report.generated", "data": {"ok": True}})
    event = Event.objects.get(type="report.generated")
    assert event.tenant == acme and event.source_installation == bridge.installation
    with pytest.raises(Refused, match="product event"):
        bridge.call("emit", {"event_type": "device.created", "data": {"device_id": 1, "device_data": {}}})


def test_calls_are_recorded_without_arguments(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme))
    bridge.call("storage.set", {"key": "k", "value": "secret-value"})
    record = bridge.calls[-1]
    assert (record.method, record.outcome) == ("storage.set", "ok")
    assert "secret-value" not in repr(bridge.calls)
