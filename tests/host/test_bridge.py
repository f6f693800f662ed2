"""The bridge: the ctx table's methods, each refused without its permission, its arguments and budget checked."""
from __future__ import annotations

import pytest
from plugyard_sdk.ctx_methods import CTX_METHODS, RESOURCE_DEPENDENT
from plugyard_sdk.permissions import ALL_PERMISSIONS

from plugins_core.host.errors import (
    BadArguments,
    BridgeError,
    PermissionDenied,
    QuotaExceeded,
    Refused,
    UnknownMethod,
)
from plugins_core.sandbox.bridge import answer_rpc
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


def test_every_named_permission_is_a_real_one():
    named = {m.permission for m in CTX_METHODS.values() if m.permission not in (None, RESOURCE_DEPENDENT)}
    assert named <= set(ALL_PERMISSIONS)


def test_every_permissioned_method_is_exercised_here():
    permissioned = {name for name, m in CTX_METHODS.items() if m.permission is not None}
    assert permissioned == {method for method, _, _ in CALLS}


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
    with pytest.raises(UnknownMethod, match="^ctx: no host method 'os.system'$"):
        bridge.call("os.system", {"cmd": "id"})
    with pytest.raises(BadArguments, match="^ctx.db.query: unexpected argument 'sql'"):
        bridge.call("db.query", {"table": "devices", "sql": "DROP TABLE"})
    with pytest.raises(BadArguments, match="^ctx.db.query: arguments must be an object$"):
        bridge.call("db.query", ["devices"])
    assert all(isinstance(e, BridgeError) for e in (UnknownMethod("x"), BadArguments("x")))
    assert [r.outcome for r in bridge.calls] == ["unknown_method", "bad_arguments", "bad_arguments"]


ARGUMENT_CASES = [
    ("db.insert", {"table": "devices"}, "ctx.db.insert: missing argument 'data'"),
    ("db.get_by_id", {"table": "devices", "id": [1]}, "ctx.db.get_by_id: argument 'id' must be a string or an integer, not array"),
    ("storage.set", {"key": "k"}, "ctx.storage.set: missing argument 'value'"),
    ("storage.get", {"key": 7}, "ctx.storage.get: argument 'key' must be a string, not integer"),
    ("http.request", {"method": "GET", "url": "https://api.example.com/", "timeout": "5"},
     "ctx.http.request: argument 'timeout' must be a number, not string"),
    ("scheduler.run_in", {"delay_seconds": 5, "handler": "f", "kwargs": [1]},
     "ctx.scheduler.run_in: argument 'kwargs' must be an object, not array"),
    ("config.get", {"key": "x"}, "ctx.config.get: unexpected argument 'key'; arguments: none"),
]


@pytest.mark.parametrize(("method", "args", "message"), ARGUMENT_CASES, ids=[m for m, _, _ in ARGUMENT_CASES])
def test_arguments_are_checked_from_the_table_before_the_permission(acme, make_installation, bridge_for, method,
                                                                   args, message):
    bridge = bridge_for(make_installation(acme, permissions=[]))
    with pytest.raises(BadArguments) as refused:
        bridge.call(method, args)
    assert str(refused.value).startswith(message)
    # ... and the plugin sees the same text as a HostError (answer_rpc adds no second prefix)
    answer = answer_rpc(bridge, {"method": method, "args": args})
    assert answer["error"] == {"type": "host", "message": str(refused.value)}


def test_an_optional_argument_given_as_null_takes_the_handlers_default(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme))
    bridge.call("storage.set", {"key": "device:1", "value": None})
    assert bridge.call("storage.list_keys", {"pattern": None}) == ["device:1"]
    assert bridge.call("storage.get", {"key": "device:1"}) is None


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


# -- budgets: calls per invocation (a bridge serves one invocation) ----------------------------

def test_a_call_past_its_budget_is_refused_recorded_and_not_run(acme, make_installation, bridge_for):
    from plugins_core.events.models import Event

    bridge = bridge_for(make_installation(acme))
    budget = CTX_METHODS["emit"].budget
    for i in range(budget):
        bridge.call("emit", {"event_type": "report.generated", "data": {"i": i}})
    with pytest.raises(QuotaExceeded) as refused:
        bridge.call("emit", {"event_type": "report.generated", "data": {"i": budget}})
    assert str(refused.value) == f"ctx.emit: over the budget of {budget} calls per invocation"
    assert refused.value.code == "over_budget"
    assert Event.objects.filter(type="report.generated").count() == budget
    assert bridge.calls[-1].method == "emit" and bridge.calls[-1].outcome == "over_budget"
    assert bridge.budget.exceeded == {"emit": 1}
    answer = answer_rpc(bridge, {"method": "emit", "args": {"event_type": "report.generated"}})
    assert answer["error"]["message"] == f"ctx.emit: over the budget of {budget} calls per invocation"
    # other methods keep their own budgets; a new invocation (a new bridge) starts afresh
    assert bridge.call("storage.exists", {"key": "k"}) is False
    assert bridge_for(bridge.installation).call("emit", {"event_type": "report.generated"})


def test_refused_calls_count_too(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme, permissions=[]), budgets={"http.request": 2})
    for _ in range(2):
        with pytest.raises(PermissionDenied):
            bridge.call("http.request", {"method": "GET", "url": "https://api.example.com/"})
    with pytest.raises(QuotaExceeded, match="over the budget of 2 calls"):
        bridge.call("http.request", {"method": "GET", "url": "https://api.example.com/"})


def test_the_setting_overrides_the_tables_budgets(acme, make_installation, bridge_for, settings):
    settings.PLUGYARD_CTX_BUDGETS = {"storage.get": 1}
    bridge = bridge_for(make_installation(acme))
    bridge.call("storage.get", {"key": "k"})
    with pytest.raises(QuotaExceeded, match=r"^ctx\.storage\.get: over the budget of 1 calls per invocation$"):
        bridge.call("storage.get", {"key": "k"})
    settings.PLUGYARD_CTX_BUDGETS = {"storage.gett": 1}
    with pytest.raises(ValueError, match="no such ctx method"):
        bridge_for(bridge.installation)
