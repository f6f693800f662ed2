"""The one record of every call: attempts capped, stored results and logs capped, the report.

Through the public paths: a hook whose every attempt died, a route whose answer is larger
than the log keeps, a handler that prints more than the log keeps.
"""
import datetime as dt
import json

import pytest
from django.utils import timezone

from plugins_core.events.dispatch import run_event_hooks
from plugins_core.events.emit import emit
from plugins_core.models import Invocation, InvocationStatus
from tests.kit import install, plugin_zip
from tests.plugins_core.test_events import WORKS

pytestmark = pytest.mark.django_db


def test_a_hook_whose_every_attempt_died_is_given_up_and_says_so(owner, settings):
    settings.PLUGYARD_INVOCATION_MAX_ATTEMPTS = 3
    installation = install(owner, plugin_zip("works", WORKS, events=["build.completed"]))
    event = emit(owner.tenant, "build.completed", {"build_id": 1, "status": "success"})
    run_event_hooks(event, installation)
    row = Invocation.objects.get(event=event)
    # Its worker (or the sandbox) died holding it, three times over.
    Invocation.objects.filter(pk=row.pk).update(status=InvocationStatus.RUNNING, attempts=3,
                                                lease_until=timezone.now() - dt.timedelta(seconds=1))
    claims = run_event_hooks(event, installation)
    row.refresh_from_db()
    assert [c.run for c in claims] == [False]
    assert row.status == InvocationStatus.CRASH and "gave up after 3 attempt(s)" in row.error


BIG = '''
from src.ext.sdk import route

@route("/big", methods=["GET"])
def big(ctx):
    print("z" * 3000)
    return {"blob": "x" * 300000}
'''


def test_the_log_keeps_a_capped_copy_while_the_caller_gets_everything(owner, settings):
    settings.PLUGYARD_INVOCATION_MAX_RESULT_BYTES = 64 * 1024
    settings.PLUGYARD_INVOCATION_MAX_LOG_BYTES = 1000
    install(owner, plugin_zip("big", BIG, routes=True))
    response = owner.client.get("/ext/big/big")
    assert response.status_code == 200 and len(response.json()["blob"]) == 300000
    row = Invocation.objects.get(kind="route")
    assert row.result["truncated"] is True and row.result["bytes"] > 300000
    assert row.logs == ["[plugyard: 1 more log line(s) not stored: the log limit is 1000 bytes]"]
    assert row.report["truncated"] == {"result": True, "logs": True}


SECRETIVE = '''
from src.ext.sdk import hook

@hook("build.completed")
def uses_ctx(ctx, event_data):
    ctx.secrets.get("API_KEY")
    ctx.emit("secretive.seen", {"build": event_data["build_id"]})
    return "done"
'''


def test_the_row_of_a_call_shows_its_ctx_calls_and_never_their_arguments(owner):
    installation = install(owner, plugin_zip("secretive", SECRETIVE, events=["build.completed"]),
                           secrets={"API_KEY": "k-123"})
    event = emit(owner.tenant, "build.completed", {"build_id": 7, "status": "success"})
    run_event_hooks(event, installation)
    row = Invocation.objects.get(event=event)
    calls = row.report["ctx_calls"]
    assert [c["method"] for c in calls] == ["secrets.get", "emit"] and all(c["ok"] for c in calls)
    assert all(isinstance(c["ms"], float) for c in calls) and "API_KEY" not in json.dumps(row.report)
    body = owner.client.get(f"/api/plugins/{installation.pk}/invocations").json()["results"][0]
    assert [c["method"] for c in body["report"]["ctx_calls"]] == ["secrets.get", "emit"]
