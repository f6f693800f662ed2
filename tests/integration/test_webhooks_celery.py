"""The guide's webhook through a real Celery worker and beat: an event raised in the product is
delivered, a 500 is retried by the beat sweep, and the receiver verifies the signature."""
from __future__ import annotations

import pytest
from plugyard_sdk.signing import verify

from plugins_core.events.emit import emit
from plugins_core.jobs.beat import install_sweeps
from plugins_core.webhooks.models import WebhookDelivery
from tests.integration.harness import wait_for
from tests.webhooks.conftest import SIGNING_KEY, guide_files, install_guide, receiver  # noqa: F401 - fixtures used below

pytestmark = pytest.mark.integration


def test_an_event_is_delivered_and_retried_by_worker_and_beat(
        owner, install_guide, receiver, start_worker, start_beat):  # noqa: F811
    # Only build.completed: the tenant's earlier events (its users) are dispatched by the sweep too.
    webhook = guide_files()["webhooks/notifications.yaml"].replace(b', "auth.user.created"', b"")
    install_guide(owner, guide_files({"webhooks/notifications.yaml": webhook}))
    receiver.replies.append(500)
    start_worker(DJANGO_SETTINGS_MODULE="tests.integration.webhook_settings",
                 PLUGYARD_TEST_WEBHOOK_RECEIVER=f"127.0.0.1:{receiver.recorder.port}", PLUGYARD_WEBHOOK_BACKOFF_BASE="0")
    start_beat()
    install_sweeps({"plugyard: send due webhook deliveries": 1})  # beat picks the change up within a second

    event = emit(owner.tenant, "build.completed", {"build_id": 5, "status": "success"})

    def succeeded():
        return WebhookDelivery.objects.filter(event=event, status="succeeded").first()

    delivery = wait_for(succeeded, 60, message="the webhook to be delivered after one retry")
    assert list(delivery.attempt_log.values_list("number", "status_code")) == [(1, 500), (2, 200)]
    first, second = receiver.requests
    assert verify(SIGNING_KEY, second["headers"], second["body"]) == f"msg_{delivery.pk}"
    assert first["body"] == second["body"]
