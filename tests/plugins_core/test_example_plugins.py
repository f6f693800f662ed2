"""The examples on the server (issue 11, point 6): each of slack-notifier, daily-kpi and
device-anomaly-detector, uploaded through the API and run by the real sandbox service,
answers one of its handlers with an ok invocation; `make run`'s demo data loads them all."""
from __future__ import annotations

import io
import json
import socket
import zipfile
from pathlib import Path

import pytest

from plugins_core.jobs import runs
from plugins_core.models import Installation, Invocation
from tests.host import servers
from tests.kit import install

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
SLACK_PATH = "/services/T000/B000/XXXX"


def example_zip(name: str) -> bytes:
    """The example as `plugyard build` and load_demo package it: without its own tests/."""
    root = EXAMPLES / name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and "__pycache__" not in relative.parts and relative.parts[0] != "tests":
                archive.writestr(relative.as_posix(), path.read_bytes())
    return buffer.getvalue()


def _test_event(actor, installation, event_type, event_data):
    response = actor.client.post("/api/plugins/test-event", {"event_type": event_type, "event_data": event_data,
                                                             "installation": installation.pk}, format="json")
    assert response.status_code == 200, response.content
    [handler] = response.json()["handlers"]
    return handler


@pytest.fixture
def slack(settings, monkeypatch):
    """A local Slack: hooks.slack.com resolves to a receiver on 127.0.0.1 that answers "ok", and the
    outbound policy exempts exactly that address; nothing leaves the machine."""
    with servers.serve({SLACK_PATH: lambda handler, query, body: handler._send(200, b"ok")}) as recorder:
        settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "ports": [80, 443, recorder.port],
                                  "UNSAFE_private_addresses_for_tests": [f"127.0.0.1:{recorder.port}"]}
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host == "hooks.slack.com":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield recorder


def test_slack_notifier_posts_a_build_to_the_webhook_url_it_was_given(owner, slack):
    url = f"http://hooks.slack.com:{slack.port}{SLACK_PATH}"
    installation = install(owner, example_zip("slack-notifier"), "slack-notifier.zip",
                           secrets={"SLACK_WEBHOOK_URL": url})
    assert installation.approved_domains == ["hooks.slack.com"]

    handler = _test_event(owner, installation, "build.completed",
                          {"build_id": 42, "status": "success", "project_name": "api"})

    assert handler["status"] == "ok", handler
    assert handler["result"] == {"sent": True, "status": 200, "text": ":white_check_mark: Build 42 of api: success"}
    [request] = slack.requests
    assert (request["method"], request["path"]) == ("POST", SLACK_PATH)
    assert json.loads(request["body"]) == {"text": ":white_check_mark: Build 42 of api: success"}


def test_slack_notifier_pointed_elsewhere_is_refused_and_the_refusal_recorded(owner, slack):
    installation = install(owner, example_zip("slack-notifier"), "slack-notifier.zip",
                           secrets={"SLACK_WEBHOOK_URL": f"http://127.0.0.1:{slack.port}{SLACK_PATH}"})

    handler = _test_event(owner, installation, "auth.user.created", {"user": {"id": 7, "email": "ada@example.com"}})

    assert handler["status"] == "error" and "127.0.0.1" in handler["error"], handler
    assert slack.requests == []
    assert Invocation.objects.get(pk=handler["invocation"]).status == "error"


def test_daily_kpi_runs_now_and_answers_its_kpis(owner):
    installation = install(owner, example_zip("daily-kpi"), "daily-kpi.zip")
    assert owner.client.get("/ext/daily-kpi/kpi/latest").status_code == 404

    response = owner.client.post(f"/api/plugins/{installation.pk}/jobs/daily_kpi/run-now")
    assert response.status_code == 202, response.content
    runs.execute(response.json()["run_id"])
    run = owner.client.get(response.json()["url"]).json()

    assert run["status"] == "ok", run
    assert run["result"]["status"] == "kpis_stored" and run["result"]["users"] >= 1
    latest = owner.client.get("/ext/daily-kpi/kpi/latest")
    assert latest.status_code == 200, latest.content
    assert latest.json()["kpis"]["users"] == run["result"]["users"]


def test_device_anomaly_detector_learns_and_alerts_on_a_spike(owner):
    installation = install(owner, example_zip("device-anomaly-detector"), "device-anomaly-detector.zip")
    assert installation.version.manifest["entry"] == "device_anomaly_detector.py"
    device = owner.client.post("/api/devices/", {"name": "edge-01", "type": "server"}, format="json")
    assert device.status_code == 201, device.content
    device_id = device.json()["id"]

    for cpu in (40.0, 42.0, 41.0, 39.0, 40.5, 41.5):
        handler = _test_event(owner, installation, "device.metrics_updated", {"device_id": device_id, "metrics": {"cpu": cpu}})
        assert handler["status"] == "ok" and handler["result"]["anomalies"] == {}, handler
    spike = _test_event(owner, installation, "device.metrics_updated", {"device_id": device_id, "metrics": {"cpu": 97.0}})

    assert spike["status"] == "ok", spike
    assert spike["result"]["anomalies"]["cpu"]["anomaly"] is True
    baseline = owner.client.get(f"/ext/device-anomaly-detector/devices/{device_id}/baseline")
    assert baseline.status_code == 200, baseline.content
    assert baseline.json()["metrics"]["cpu"]["samples"] == 6


def test_make_runs_demo_data_loads_every_example(owner):
    from marketplace.management.commands.load_demo import Command

    command = Command()
    command._examples(owner.tenant)

    installed = {i.plugin.slug: i.enabled for i in Installation.objects.for_tenant(owner.tenant).select_related("plugin")}
    expected = {path.name for path in EXAMPLES.iterdir() if path.is_dir()}
    assert {"slack-notifier", "daily-kpi", "device-anomaly-detector"} <= expected
    assert set(installed) == expected
    # slack-notifier waits for its webhook URL; every other example is switched on.
    assert {slug for slug, enabled in installed.items() if not enabled} == {"slack-notifier"}
