"""The dispatcher's rules, each guarded: tenancy, the one order, wildcard `emits`.

Every rule here was broken once on purpose (the tenant scoping in ``handlers`` removed; the
order reversed; wildcard matching made exact) and a test below failed each time.
"""
import pytest

from plugins_core.events import dispatch
from plugins_core.events.emit import EventError, emit, emit_from_plugin, is_declared
from plugins_core.models import Invocation
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db

SEEN = '''
from src.ext.sdk import hook

@hook("build.completed")
def seen(ctx, event_data):
    return {"tenant": ctx.tenant_id}
'''


def _filters(slug: str, *priorities: int) -> bytes:
    handlers = "".join(f'''
@plugin.filter_hook("device.data.process", priority={p})
async def f{p}(data):
    return {{**data, "trail": data.get("trail", []) + ["{slug}:{p}"]}}
''' for p in priorities)
    code = f'from ops_center_sdk import Plugin\nplugin = Plugin(id="{slug}", name="{slug}", version="1.0.0")\n{handlers}'
    return plugin_zip(slug, code)


def test_an_event_reaches_only_its_own_tenants_handlers(owner, other_owner):
    mine = install(owner, plugin_zip("seen", SEEN, events=["build.completed"]))
    theirs = install(other_owner, plugin_zip("seen", SEEN, events=["build.completed"]))
    event = emit(owner.tenant, "build.completed", {"build_id": 1, "status": "success"})

    assert [h.installation for h in dispatch.handlers(owner.tenant, "build.completed")] == [mine]
    claims = dispatch.send_all(event)
    assert [c.invocation.installation_id for c in claims] == [mine.pk]
    assert not Invocation.objects.filter(installation=theirs).exists()
    assert Invocation.objects.get(installation=mine).result == {"tenant": owner.tenant.slug}


def test_disabled_installations_are_not_reached(owner):
    installation = install(owner, plugin_zip("seen", SEEN, events=["build.completed"]))
    owner.client.post(f"/api/plugins/{installation.pk}/disable")
    assert dispatch.handlers(owner.tenant, "build.completed") == []


def test_the_one_order_is_priority_then_slug_then_handler(owner):
    # gamma's 50 first; alpha and beta tie at 10, so their slugs decide; then every 1.
    for slug, priorities in [("beta", (10,)), ("alpha", (10, 1)), ("gamma", (50, 1))]:
        install(owner, _filters(slug, *priorities))
    expected = ["gamma:50", "alpha:10", "beta:10", "alpha:1", "gamma:1"]

    order = [f"{h.installation.plugin.slug}:{h.subscription.priority}"
             for h in dispatch.handlers(owner.tenant, "device.data.process", dispatch.SendMode.CHAINED)]
    assert order == expected
    value = dispatch.send_chained(owner.tenant, "device.data.process", {"name": "sensor"})
    assert value["trail"] == expected  # each filter saw the one before it


def test_test_event_answers_every_handler_in_the_one_order(owner):
    for slug in ("zeta", "eta"):
        install(owner, plugin_zip(slug, SEEN, events=["build.completed"]))
    response = owner.client.post("/api/plugins/test-event", {"event_type": "build.completed",
                                                             "event_data": {"build_id": 2, "status": "success"}},
                                 format="json")
    assert response.status_code == 200, response.content
    assert [h["plugin"] for h in response.json()["handlers"]] == ["eta", "zeta"]


@pytest.mark.parametrize("event_type, declared, allowed", [
    ("device.created", ["device.*"], True),
    ("device.alert.raised", ["device.*"], True),
    ("devices.created", ["device.*"], False),  # a prefix of the name, not of its first word
    ("device", ["device.*"], False),
    ("device.created", ["device.created"], True),
    ("device.created", ["device.updated"], False),
])
def test_wildcard_emits_match_whole_dotted_words(event_type, declared, allowed):
    assert is_declared(event_type, set(declared)) is allowed


def test_a_plugin_raises_a_product_event_only_under_a_matching_emits_pattern(owner):
    wild = install(owner, plugin_zip("wild", SEEN, events=["build.completed"], emits=["device.*"]))
    payload = {"device_id": 1, "device_data": {"name": "d", "type": "server"}}
    assert emit_from_plugin(wild, "device.created", payload, depth=0)["event_type"] == "device.created"
    with pytest.raises(EventError) as refused:
        emit_from_plugin(wild, "build.completed", {"build_id": 1, "status": "success"}, depth=0)
    assert refused.value.code == "reserved_event"
