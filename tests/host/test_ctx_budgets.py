"""Budgets through the public path: an uploaded plugin's job, run by the runner in the real sandbox service.

Given a plugin whose job emits more events than its budget allows, when the job runs, then
the calls past the budget fail in the plugin with a clear HostError, only the budgeted
events exist, and the host's bridge recorded the refusals.
"""
from __future__ import annotations

import json

import pytest

from plugins_core import runner
from plugins_core.events.models import Event
from tests.conftest import make_zip
from tests.jobs.support import install

pytestmark = pytest.mark.django_db

MANIFEST = {
    "slug": "emit-flood", "name": "Emit flood", "version": "1.0.0", "description": "emits too much",
    "author": "tests", "entry": "main.py", "permissions": [],
    "jobs": [{"name": "flood", "schedule": "0 2 * * *"}],
}
MAIN = '''from src.ext.sdk import HostError, job


@job("flood", schedule="0 2 * * *")
def flood(ctx):
    refused = []
    for i in range(6):
        try:
            ctx.emit("report.generated", {"i": i})
        except HostError as exc:
            refused.append(str(exc))
    return {"refused": refused}
'''


def test_an_emit_flood_stops_at_the_budget(make_actor, settings, monkeypatch):
    settings.PLUGYARD_CTX_BUDGETS = {"emit": 4}
    bridges = []
    real = runner.InstallationBridge

    def recording(*args, **kwargs):
        bridges.append(real(*args, **kwargs))
        return bridges[-1]

    monkeypatch.setattr(runner, "InstallationBridge", recording)
    installation = install(make_actor("flood", "owner"),
                           make_zip({"plugin.json": json.dumps(MANIFEST).encode(), "main.py": MAIN.encode()}))

    record = runner.invoke(installation, kind="job", name="flood")

    assert record.status == "ok", record.error
    assert record.result == {"refused": ["ctx.emit: over the budget of 4 calls per invocation"] * 2}
    assert Event.objects.filter(tenant=installation.tenant, type="report.generated").count() == 4
    [bridge] = bridges
    assert [c.outcome for c in bridge.calls] == ["ok"] * 4 + ["over_budget"] * 2
    assert bridge.budget.exceeded == {"emit": 2}
