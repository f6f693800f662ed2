"""`GET /metrics`: off without a token, a bearer token (or staff) to read it, and output that
Prometheus's own parser reads, with every metric docs/operators.md lists."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from prometheus_client.parser import text_string_to_metric_families

from plugins_core.models import Event
from tests.plugins_core.test_metrics import sandbox_down  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

TOKEN = "a-scrape-token-for-tests"
NAMES = {
    "plugyard_event_lag_seconds", "plugyard_events_undispatched", "plugyard_broker_up", "plugyard_queue_depth",
    "plugyard_invocations_last_hour", "plugyard_invocations_pending", "plugyard_sandbox_up",
    "plugyard_sandbox_zygotes", "plugyard_sandbox_workers", "plugyard_sandbox_memory_bytes",
    "plugyard_webhook_deliveries_last_hour", "plugyard_job_slot_runs_last_hour", "plugyard_job_slot_lag_seconds",
}


@pytest.fixture
def token(settings):
    settings.PLUGYARD_METRICS_TOKEN = TOKEN
    return TOKEN


def _families(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def _value(family, **labels) -> float:
    (sample,) = [s for s in family.samples if s.labels == labels]
    return sample.value


def test_without_a_token_setting_the_endpoint_is_not_there(client, settings):
    settings.PLUGYARD_METRICS_TOKEN = None
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_a_missing_or_wrong_token_is_401(client, token):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": TOKEN},
                    {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}, {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}x"}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401, headers
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"plugyard_" not in response.content


def test_the_right_token_reads_every_metric(client, token, owner):
    Event.objects.create(tenant=owner.tenant, type="build.completed")
    families = _families(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"))
    assert NAMES <= set(families)
    assert _value(families["plugyard_sandbox_up"]) == 1  # the session's real sandbox service
    assert _value(families["plugyard_sandbox_memory_bytes"], kind="zygote") >= 0
    waiting = Event.objects.filter(dispatched_at__isnull=True).count()
    assert waiting >= 1 and _value(families["plugyard_events_undispatched"]) == waiting
    assert _value(families["plugyard_event_lag_seconds"]) > 0
    assert _value(families["plugyard_invocations_last_hour"], kind="hook", status="ok") == 0
    assert {s.labels["queue"] for s in families["plugyard_queue_depth"].samples} == {"celery", "events", "jobs"}
    assert _value(families["plugyard_broker_up"]) == 1


def test_a_signed_in_staff_user_reads_it_and_other_users_do_not(client, token):
    user = get_user_model().objects.create_user("someone", password="pw-long-enough-1")
    client.force_login(user)
    assert client.get("/metrics").status_code == 401
    user.is_staff = True
    user.save()
    assert "plugyard_sandbox_up" in _families(client.get("/metrics"))


def test_with_the_sandbox_down_it_says_so_instead_of_failing(client, token, sandbox_down):  # noqa: F811
    families = _families(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"))
    assert _value(families["plugyard_sandbox_up"]) == 0
    assert "plugyard_sandbox_workers" not in families


def test_only_get(client, token):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
