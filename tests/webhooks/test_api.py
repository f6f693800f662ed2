"""The delivery log and redelivery over the API: filters, roles, tenancy, errors, no secrets."""
from __future__ import annotations

import json

import pytest

from plugins_core import secrets
from plugins_core.events.emit import emit
from plugins_core.events.tasks import dispatch_event
from plugins_core.webhooks.models import WebhookDelivery
from plugins_core.webhooks.tasks import deliver_webhook
from tests.webhooks.conftest import SIGNING_KEY, URL_TOKEN

pytestmark = pytest.mark.django_db

BUILD = {"build_id": 7, "status": "failed"}


@pytest.fixture
def delivered(owner, install_guide, receiver, queued, django_capture_on_commit_callbacks):
    """One failed (422) and one succeeded delivery of the guide's webhook for ``owner``'s tenant."""
    installation = install_guide(owner)
    receiver.replies.append(422)
    for build_id in (1, 2):
        event = emit(owner.tenant, "build.completed", {**BUILD, "build_id": build_id})
        with django_capture_on_commit_callbacks(execute=True):
            dispatch_event(event.pk)
    while queued:
        deliver_webhook(*queued.pop(0))
    return installation


def url(installation, tail: str = "") -> str:
    return f"/api/plugins/{installation.pk}/webhooks/deliveries{tail}"


def test_the_log_lists_deliveries_with_their_attempts_newest_first(owner, delivered):
    response = owner.client.get(url(delivered))
    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 2
    newest, oldest = page["results"]
    assert (newest["status"], oldest["status"]) == ("succeeded", "failed")
    assert newest["webhook"] == "notifications" and newest["event_type"] == "build.completed"
    assert newest["body"]["build_id"] == 2 and newest["plugin"] == "guide-webhooks"
    [attempt] = oldest["attempt_log"]
    assert attempt["status_code"] == 422 and attempt["number"] == 1 and "not retried" in attempt["error"]


@pytest.mark.parametrize(("query", "count"), [("status=failed", 1), ("status=succeeded", 1), ("webhook=notifications", 2),
                                             ("webhook=other", 0), ("event_type=auth.user.created", 0),
                                             ("event_type=build.completed&limit=1", 2)])
def test_the_log_filters(owner, delivered, query, count):
    response = owner.client.get(url(delivered) + "?" + query)
    assert response.status_code == 200 and response.json()["count"] == count


def test_a_bad_status_filter_is_a_400_naming_the_field(owner, delivered):
    response = owner.client.get(url(delivered) + "?status=exploded")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "status"


def test_one_delivery_by_id(owner, delivered):
    delivery = WebhookDelivery.objects.get(status="failed")
    response = owner.client.get(url(delivered, f"/{delivery.pk}"))
    assert response.status_code == 200 and response.json()["id"] == delivery.pk
    assert owner.client.get(url(delivered, "/999999")).status_code == 404


def test_redeliver_starts_a_new_cycle_that_is_sent(owner, delivered, receiver, queued, django_capture_on_commit_callbacks):
    delivery = WebhookDelivery.objects.get(status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.post(url(delivered, f"/{delivery.pk}/redeliver"))
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending" and response.json()["cycle"] == 1
    assert response.json()["attempts"] == 0 and response.json()["error"] == ""
    assert len(queued) == 1
    deliver_webhook(*queued.pop())
    answer = owner.client.get(url(delivered, f"/{delivery.pk}")).json()
    assert answer["status"] == "succeeded"
    assert [(a["cycle"], a["number"], a["status_code"]) for a in answer["attempt_log"]] == [(0, 1, 422), (1, 1, 200)]
    first, again = [r for r in receiver.requests if json.loads(r["body"])["build_id"] == 1]
    assert first["body"] == again["body"] and first["headers"]["webhook-id"] == again["headers"]["webhook-id"]


def test_redeliver_after_setting_a_missing_secret(owner, install_guide, receiver, queued, django_capture_on_commit_callbacks):
    installation = install_guide(owner, signing_key=None)
    event = emit(owner.tenant, "build.completed", BUILD)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_event(event.pk)
    deliver_webhook(*queued.pop())
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "WEBHOOK_SIGNING_KEY" in delivery.error
    secrets.set_secret(installation, "WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.client.post(url(installation, f"/{delivery.pk}/redeliver")).status_code == 202
    deliver_webhook(*queued.pop())
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and len(receiver.requests) == 1


def test_redeliver_while_an_attempt_is_under_way_is_a_409(owner, delivered):
    delivery = WebhookDelivery.objects.get(status="failed")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="retrying", lease_token="x",
                                                          lease_until="2999-01-01T00:00:00Z")
    response = owner.client.post(url(delivered, f"/{delivery.pk}/redeliver"))
    assert response.status_code == 409 and response.json()["error"]["code"] == "delivery_busy"


def test_redeliver_needs_the_admin_role(make_actor, delivered):
    developer = make_actor("acme", "developer")
    delivery = WebhookDelivery.objects.get(status="failed")
    assert developer.client.get(url(delivered)).status_code == 200
    assert developer.client.post(url(delivered, f"/{delivery.pk}/redeliver")).status_code == 403
    assert make_actor("acme", "member").client.get(url(delivered)).status_code == 403


def test_another_tenants_ids_answer_404(other_owner, delivered):
    delivery = WebhookDelivery.objects.first()
    assert other_owner.client.get(url(delivered)).status_code == 404
    assert other_owner.client.get(url(delivered, f"/{delivery.pk}")).status_code == 404
    assert other_owner.client.post(url(delivered, f"/{delivery.pk}/redeliver")).status_code == 404
    assert WebhookDelivery.objects.get(pk=delivery.pk).cycle == 0


def test_answers_hold_no_secret(owner, delivered):
    text = owner.client.get(url(delivered)).content.decode()
    assert URL_TOKEN not in text and SIGNING_KEY not in text and SIGNING_KEY.removeprefix("whsec_") not in text
    assert "http://127.0.0.1:" in text  # the target, scheme and host only


def test_the_endpoints_are_in_the_openapi_schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    paths = response.json()["paths"]
    assert "get" in paths["/api/plugins/{id}/webhooks/deliveries"]
    assert "get" in paths["/api/plugins/{id}/webhooks/deliveries/{delivery_id}"]
    assert "post" in paths["/api/plugins/{id}/webhooks/deliveries/{delivery_id}/redeliver"]


def test_the_admin_shows_deliveries_with_attempts_and_redelivers(client, delivered, queued, django_capture_on_commit_callbacks):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    client.force_login(get_user_model().objects.create_superuser("staff", "staff@x.test", "pw-long-enough-1"))
    failed = WebhookDelivery.objects.get(status="failed")
    page = client.get(reverse("admin:plugins_core_webhookdelivery_change", args=[failed.pk])).content.decode()
    assert "422" in page and "not retried" in page and URL_TOKEN not in page
    assert client.get(reverse("admin:plugins_core_webhookdelivery_changelist")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:plugins_core_webhookdelivery_changelist"),
                               {"action": "redeliver_selected", "_selected_action": [failed.pk]})
    assert response.status_code == 302 and queued == [(failed.pk, WebhookDelivery.objects.get(pk=failed.pk).lease_token)]
