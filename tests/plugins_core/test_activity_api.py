"""The tenant's activity through the API: one event with every handler's outcome, and the
invocation log across the tenant's plugins — real plugins, a real dispatch, one tenant's view."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plugins_core.events.emit import emit
from plugins_core.events.tasks import dispatch_event
from plugins_core.models import Invocation
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db

ALPHA = '''
from src.ext.sdk import hook

@hook("build.completed", priority=5)
def alpha_first(ctx, event_data):
    ctx.secrets.get("API_KEY")
    return {"seen": event_data["build_id"]}

@hook("build.completed", priority=1)
def alpha_second(ctx, event_data):
    return {"second": True}
'''
BETA = '''
from src.ext.sdk import hook

@hook("build.completed", priority=20)
def beta_fails(ctx, event_data):
    raise ValueError("nope")
'''
BUILD = {"build_id": 9, "status": "success"}
SECRETS = {"alpha": {"API_KEY": "alpha-key"}}


def _dispatched(actor, *plugins):
    """Given these plugins installed and enabled for ``actor``'s tenant, one build.completed
    event raised and dispatched the way the worker does it. Returns (event, installations)."""
    # alpha reads API_KEY, so it is enabled once that is set
    installations = {slug: install(actor, plugin_zip(slug, code, events=["build.completed"]), secrets=SECRETS.get(slug))
                     for slug, code in plugins}
    event = emit(actor.tenant, "build.completed", BUILD)
    dispatch_event(event.pk)
    return event, installations


@pytest.fixture
def acme(owner):
    return _dispatched(owner, ("alpha", ALPHA), ("beta", BETA))


def test_an_event_answers_every_handlers_outcome_in_dispatch_order(owner, acme):
    event, installations = acme

    response = owner.client.get(f"/api/events/{event.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["type"], body["payload"]) == (event.pk, "build.completed", BUILD)
    assert body["created_at"] and body["dispatched_at"]
    # Highest priority first across plugins, then each plugin's handlers by their priority.
    assert [(h["plugin"], h["handler"]) for h in body["handlers"]] == [
        ("beta", "beta_fails"), ("alpha", "alpha_first"), ("alpha", "alpha_second"),
    ]
    fails, first, second = body["handlers"]
    assert fails["status"] == "error" and "nope" in fails["error"] and fails["result"] is None
    assert first["status"] == "ok" and first["result"] == {"seen": 9}
    assert second["result"] == {"second": True}
    assert {h["installation"] for h in (first, second)} == {installations["alpha"].pk}
    assert fails["installation"] == installations["beta"].pk
    for handler in body["handlers"]:
        stored = Invocation.objects.get(pk=handler["id"])
        assert handler["kind"] == "hook" and handler["attempts"] == 1
        assert handler["duration_ms"] is not None and handler["created_at"] and handler["finished_at"]
        assert handler["report"] == stored.report


def test_the_tenant_invocation_log_spans_plugins_newest_first_and_pages(owner, acme):
    event, installations = acme

    page = owner.client.get("/api/invocations", {"limit": 2}).json()

    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    everything = owner.client.get("/api/invocations").json()["results"]
    ids = [item["id"] for item in everything]
    assert ids == sorted(ids, reverse=True)
    assert {item["plugin"] for item in everything} == {"alpha", "beta"}
    item = next(item for item in everything if item["name"] == "alpha_first")
    assert item["installation"] == installations["alpha"].pk and item["event"] == event.pk
    assert item["event_type"] == "build.completed" and item["kind"] == "hook" and item["status"] == "ok"
    assert {"result", "attempts", "created_at", "finished_at", "logs", "error", "report"} <= item.keys()


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"plugin": "alpha"}, {"alpha_first", "alpha_second"}),
        ({"status": "error"}, {"beta_fails"}),
        ({"name": "alpha_second"}, {"alpha_second"}),
        ({"kind": "hook", "event_type": "build.completed"}, {"beta_fails", "alpha_first", "alpha_second"}),
        ({"kind": "route"}, set()),
        ({"event_type": "device.created"}, set()),
        ({"since": "2000-01-01T00:00:00Z"}, {"beta_fails", "alpha_first", "alpha_second"}),
        ({"since": "2999-01-01T00:00:00Z"}, set()),
        ({"plugin": "alpha", "status": "error"}, set()),
    ],
)
def test_the_tenant_invocation_log_takes_the_per_plugin_filters(owner, acme, params, names):
    response = owner.client.get("/api/invocations", params)
    assert response.status_code == 200, response.content
    assert {item["name"] for item in response.json()["results"]} == names


def test_the_installation_filter_takes_an_installation_id(owner, acme):
    _, installations = acme
    response = owner.client.get("/api/invocations", {"installation": installations["beta"].pk})
    assert [item["name"] for item in response.json()["results"]] == ["beta_fails"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/invocations", {"status": "bogus"}, "status"),
        ("/api/invocations", {"kind": "bogus"}, "kind"),
        ("/api/invocations", {"installation": "abc"}, "installation"),
        ("/api/invocations", {"installation": "-1"}, "installation"),
        ("/api/invocations", {"installation": "99999999999999999999999"}, "installation"),
        ("/api/invocations", {"since": "yesterday"}, "since"),
        ("/api/invocations", {"since": "2024-13-45T00:00:00"}, "since"),
        ("/api/events/abc", {}, "id"),
        ("/api/events/1.5", {}, "id"),
        ("/api/events/0", {}, "id"),
        ("/api/events/99999999999999999999999", {}, "id"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(owner, path, params, field):
    response = owner.client.get(path, params)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"][0]["field"] == field


def test_an_event_that_does_not_exist_is_404(owner):
    assert owner.client.get("/api/events/424242").status_code == 404


def test_another_tenant_sees_neither_the_event_nor_its_invocations(owner, other_owner, acme):
    event, installations = acme
    # The other tenant has activity of its own, from a plugin with the same slug.
    theirs, their_installations = _dispatched(other_owner, ("alpha", ALPHA))

    assert other_owner.client.get(f"/api/events/{event.pk}").status_code == 404
    assert owner.client.get(f"/api/events/{theirs.pk}").status_code == 404
    listed = other_owner.client.get("/api/invocations").json()
    assert listed["count"] == 2
    assert {item["installation"] for item in listed["results"]} == {their_installations["alpha"].pk}
    assert other_owner.client.get("/api/invocations", {"plugin": "beta"}).json()["count"] == 0
    for installation in installations.values():
        page = other_owner.client.get("/api/invocations", {"installation": installation.pk}).json()
        assert page["count"] == 0
    assert {item["installation"] for item in owner.client.get("/api/invocations", {"plugin": "alpha"}).json()["results"]} \
        == {installations["alpha"].pk}


@pytest.mark.parametrize("path", ["/api/invocations", "/api/events/{event}"])
def test_reading_activity_needs_the_developer_role(make_actor, acme, path):
    event, _ = acme
    url = path.format(event=event.pk)
    assert make_actor("acme", "member").client.get(url).status_code == 403
    assert make_actor("acme", "developer").client.get(url).status_code == 200


def test_a_calls_report_shows_its_ctx_calls(owner, acme):
    event, _ = acme
    handlers = owner.client.get(f"/api/events/{event.pk}").json()["handlers"]
    first = next(h for h in handlers if h["handler"] == "alpha_first")
    [call] = first["report"]["ctx_calls"]
    assert call["method"] == "secrets.get" and call["ok"] is True and call["ms"] >= 0
    assert first["report"]["tripwires"] == []


REPORT = {
    "ctx_calls": [{"method": "storage.get", "ms": 1.25, "ok": True},
                  {"method": "http.request", "ms": 30.5, "ok": False, "error": "denied"}],
    "tripwires": ["open '/etc/passwd'"],
    "rpc_calls": 3,
    "truncated": {"result": False, "logs": True},
}


def test_the_report_renders_what_is_stored_in_every_view(owner, acme):
    event, installations = acme
    record = Invocation.objects.get(name="alpha_first")
    Invocation.objects.filter(pk=record.pk).update(report=REPORT)
    Invocation.objects.filter(name="alpha_second").update(report={})

    def report_of(items, name):
        return next(item["report"] for item in items if item.get("name", item.get("handler")) == name)

    handlers = owner.client.get(f"/api/events/{event.pk}").json()["handlers"]
    tenant_log = owner.client.get("/api/invocations").json()["results"]
    plugin_log = owner.client.get(f"/api/plugins/{installations['alpha'].pk}/invocations").json()["results"]
    for items in (handlers, tenant_log, plugin_log):
        assert report_of(items, "alpha_first") == REPORT
        assert report_of(items, "alpha_second") == {}


def test_the_tenant_log_runs_a_fixed_number_of_queries(owner, acme):
    def queries(limit):
        with CaptureQueriesContext(connection) as context:
            assert owner.client.get("/api/invocations", {"limit": limit}).status_code == 200
        return len(context.captured_queries)

    owner.client.get("/api/invocations")  # the first call records the token's use; measure steady calls
    assert queries(1) == queries(3)


def test_the_schema_documents_the_activity_endpoints(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    listed = {p["name"] for p in paths["/api/invocations"]["get"]["parameters"]}
    assert {"kind", "status", "name", "event_type", "since", "plugin", "installation", "limit", "offset"} <= listed
    assert "/api/events/{id}" in paths
