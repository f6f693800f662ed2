"""Delivering webhooks-as-code: the SBH guide's file sent unchanged to a real local receiver,
retries, failures that are not retried, leases, and secrets kept out of every row and log."""
from __future__ import annotations

import json
import logging

import pytest
from django.forms.models import model_to_dict
from plugyard_sdk.signing import verify

from plugins_core.events.tasks import dispatch_event
from plugins_core.models import Invocation
from plugins_core.webhooks import delivery as delivery_module
from plugins_core.webhooks.models import WebhookAttempt, WebhookDelivery
from plugins_core.webhooks.tasks import deliver_webhook, send_due_webhooks
from tests.webhooks.conftest import BUILD, SIGNING_KEY, URL_TOKEN, guide_files

pytestmark = pytest.mark.django_db

def sweep(queued) -> int:
    send_due_webhooks()
    return len(queued)


def test_the_guides_webhook_is_delivered_on_build_completed(owner, install_guide, receiver, dispatch, work):
    installation = install_guide(owner)
    event = dispatch(owner.tenant)
    assert work() == 1

    [request] = receiver.requests
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["x-source"] == "SBH" and headers["x-tenant"] == "acme"
    assert headers["content-type"] == "application/json"
    assert json.loads(request["body"]) == {"event_type": "build.completed", "build_id": 42, "status": "success",
                                           "project": "api", "timestamp": "2025-01-02T03:04:05Z"}
    delivery = WebhookDelivery.objects.get(event=event)
    assert verify(SIGNING_KEY, request["headers"], request["body"]) == f"msg_{delivery.pk}"
    assert (delivery.status, delivery.attempts, delivery.webhook) == ("succeeded", 1, "notifications")
    assert delivery.target == f"http://127.0.0.1:{receiver.recorder.port}"
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code == 200 and attempt.error == "" and '"status": 200' in attempt.response_excerpt
    transform = Invocation.objects.get(installation=installation, kind="transform")
    assert (transform.name, transform.event_id, transform.status) == (
        "transforms/build_completed.py#transform", event.pk, "ok")


def test_a_redelivered_dispatch_creates_no_second_delivery(
        owner, install_guide, dispatch, queued, django_capture_on_commit_callbacks):
    install_guide(owner)
    event = dispatch(owner.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_event(event.pk)
    assert WebhookDelivery.objects.filter(event=event).count() == 1 and len(queued) == 1


def test_only_listed_events_and_granted_installations_get_deliveries(owner, install_guide, dispatch):
    installation = install_guide(owner)
    dispatch(owner.tenant, "device.deleted", {"device_id": 1})
    assert not WebhookDelivery.objects.exists()
    installation.granted_permissions = []
    installation.save()
    dispatch(owner.tenant)
    assert not WebhookDelivery.objects.exists()


def test_another_tenants_events_never_reach_the_webhook(owner, other_owner, install_guide, dispatch):
    install_guide(owner)
    dispatch(other_owner.tenant)
    assert not WebhookDelivery.objects.exists()


def test_5xx_and_429_are_retried_until_success_with_one_message_id(owner, install_guide, receiver, dispatch, work, queued):
    install_guide(owner)
    receiver.replies.extend([500, 429])
    event = dispatch(owner.tenant)
    work()
    delivery = WebhookDelivery.objects.get(event=event)
    assert (delivery.status, delivery.attempts) == ("retrying", 1) and "500" in delivery.error
    assert sweep(queued) == 1
    work()
    assert sweep(queued) == 1
    work()
    assert sweep(queued) == 0

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == ("succeeded", 3, "")
    assert list(delivery.attempt_log.values_list("number", "status_code")) == [(1, 500), (2, 429), (3, 200)]
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    bodies = {r["body"] for r in receiver.requests}
    assert ids == {f"msg_{delivery.pk}"} and len(bodies) == 1


def test_a_4xx_fails_at_once(owner, install_guide, receiver, dispatch, work, queued):
    install_guide(owner)
    receiver.replies.append(404)
    event = dispatch(owner.tenant)
    work()
    assert sweep(queued) == 0
    delivery = WebhookDelivery.objects.get(event=event)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "404" in delivery.error and "not retried" in delivery.error and delivery.finished_at


def test_attempts_stop_at_max_attempts_with_fixed_backoff(owner, install_guide, receiver, dispatch, work, queued):
    webhook = guide_files()["webhooks/notifications.yaml"].replace(b"max_attempts: 6", b"max_attempts: 2")
    install_guide(owner, guide_files({"webhooks/notifications.yaml": webhook.replace(b"exponential", b"fixed")}))
    receiver.replies.extend([503, 503, 503])
    event = dispatch(owner.tenant)
    work()
    sweep(queued)
    work()
    assert sweep(queued) == 0
    delivery = WebhookDelivery.objects.get(event=event)
    assert (delivery.status, delivery.attempts, delivery.max_attempts) == ("failed", 2, 2)
    assert len(receiver.requests) == 2


def test_backoff_doubles_from_the_base_up_to_the_cap(settings):
    settings.PLUGYARD_WEBHOOKS = {**settings.PLUGYARD_WEBHOOKS, "backoff_base_s": 10, "backoff_cap_s": 60}
    assert [delivery_module.backoff("exponential", n) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]
    assert [delivery_module.backoff("fixed", n) for n in (1, 5)] == [10, 10]


def test_a_retry_waits_for_its_backoff(owner, install_guide, receiver, dispatch, work, queued, settings):
    settings.PLUGYARD_WEBHOOKS = {**settings.PLUGYARD_WEBHOOKS, "backoff_base_s": 600}
    install_guide(owner)
    receiver.replies.append(502)
    event = dispatch(owner.tenant)
    work()
    assert sweep(queued) == 0  # not due for ten minutes
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == "retrying" and (delivery.next_attempt_at - delivery.attempt_log.get().started_at).seconds >= 599


def test_a_network_error_is_retried(owner, install_guide, receiver, dispatch, work, settings):
    from tests.integration.harness import free_port

    closed = free_port()
    settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "ports": [80, 443, closed],
                              "UNSAFE_private_addresses_for_tests": [f"127.0.0.1:{closed}"]}
    install_guide(owner, url=f"http://127.0.0.1:{closed}/hooks/{URL_TOKEN}")
    event = dispatch(owner.tenant)
    work()
    delivery = WebhookDelivery.objects.get(event=event)
    attempt = delivery.attempt_log.get()
    assert delivery.status == "retrying" and attempt.status_code is None and "failed" in attempt.error
    # the client's message names the URL's path; the path holds the secret, so it is redacted
    assert "with url: [redacted]" in attempt.error and URL_TOKEN not in attempt.error


def test_a_private_address_is_refused_and_not_retried(owner, install_guide, receiver, dispatch, work, queued, settings):
    settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "UNSAFE_private_addresses_for_tests": []}
    install_guide(owner, url=f"http://127.0.0.1:{receiver.recorder.port}/hooks/{URL_TOKEN}")
    settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "UNSAFE_private_addresses_for_tests": []}
    event = dispatch(owner.tenant)
    work()
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == "failed" and "loopback" in delivery.error
    assert receiver.requests == [] and sweep(queued) == 0


def test_the_platform_deny_list_applies_to_webhook_urls(owner, install_guide, receiver, dispatch, work, settings):
    install_guide(owner)
    settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "deny": ["127.0.0.1"]}
    event = dispatch(owner.tenant)
    work()
    assert "deny list" in WebhookDelivery.objects.get(event=event).error and receiver.requests == []


def test_a_missing_secret_fails_naming_it_and_sends_nothing(owner, install_guide, receiver, dispatch, work, queued):
    install_guide(owner, signing_key=None)
    event = dispatch(owner.tenant)
    work()
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == "failed" and "WEBHOOK_SIGNING_KEY" in delivery.error
    assert receiver.requests == [] and sweep(queued) == 0


def test_a_raising_transform_fails_the_delivery_with_its_error(owner, install_guide, receiver, dispatch, work, queued):
    broken = b"def transform(event_data):\n    raise ValueError('no build id here')\n"
    installation = install_guide(owner, guide_files({"transforms/build_completed.py": broken}))
    event = dispatch(owner.tenant)
    work()
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == "failed" and "ValueError: no build id here" in delivery.error
    assert "transforms/build_completed.py#transform" in delivery.error
    assert receiver.requests == [] and sweep(queued) == 0
    record = Invocation.objects.get(installation=installation, kind="transform")
    assert record.status == "error" and "no build id here" in record.error


def test_without_a_transform_the_event_data_is_sent(owner, install_guide, receiver, dispatch, work):
    webhook = b"api_version: v1\non: [build.completed]\ndelivery:\n  url: ${SECRET:WEBHOOK_URL}\n"
    install_guide(owner, guide_files({"webhooks/notifications.yaml": webhook}))
    dispatch(owner.tenant)
    work()
    [request] = receiver.requests
    assert json.loads(request["body"]) == BUILD
    assert "webhook-signature" not in {name.lower() for name in request["headers"]}


def test_a_stale_token_sends_nothing_and_a_lost_message_is_sent_by_the_sweep(
        owner, install_guide, receiver, dispatch, work, queued):
    install_guide(owner)
    event = dispatch(owner.tenant)
    [(delivery_id, first_token)] = queued
    queued.clear()  # the message is lost
    WebhookDelivery.objects.filter(pk=delivery_id).update(lease_until=event.created_at)  # its lease ran out
    assert sweep(queued) == 1
    assert deliver_webhook(delivery_id, first_token) == ""  # a late copy of the lost message: no-op
    work()
    work()
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(pk=delivery_id).status == "succeeded"


def test_a_worker_that_died_mid_attempt_is_retried_after_its_lease(owner, install_guide, receiver, dispatch, work, queued):
    install_guide(owner)
    event = dispatch(owner.tenant)
    delivery_id, token = queued.pop()
    # The worker counted its attempt and died before finishing it.
    WebhookDelivery.objects.filter(pk=delivery_id).update(attempts=1, lease_until=event.created_at)
    assert sweep(queued) == 1
    work()
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert deliver_webhook(delivery_id, token) == ""  # the dead worker's token is stale


def test_no_secret_is_stored_or_logged(owner, install_guide, receiver, dispatch, work, queued, caplog, settings):
    from tests.integration.harness import free_port

    caplog.set_level(logging.DEBUG)
    install_guide(owner)
    receiver.replies.append(500)
    dispatch(owner.tenant)
    work()
    sweep(queued)
    work()
    closed = free_port()  # and a network error, whose message names the URL
    settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "ports": [80, 443, closed],
                              "UNSAFE_private_addresses_for_tests": [f"127.0.0.1:{closed}"]}
    from plugins_core import secrets

    installation = WebhookDelivery.objects.get().installation
    secrets.set_secret(installation, "WEBHOOK_URL", f"http://127.0.0.1:{closed}/hooks/{URL_TOKEN}")
    dispatch(owner.tenant, payload={**BUILD, "build_id": 43})
    work()

    stored = json.dumps(
        [model_to_dict(row) for model in (WebhookDelivery, WebhookAttempt, Invocation) for row in model.objects.all()],
        default=str,
    )
    assert WebhookAttempt.objects.count() == 3
    for secret in (URL_TOKEN, SIGNING_KEY, SIGNING_KEY.removeprefix("whsec_")):
        assert secret not in stored
        assert secret not in caplog.text


def test_each_attempt_is_one_activity_line_without_the_target_or_secrets(owner, install_guide, receiver, dispatch,
                                                                        work, caplog):
    from config.logformat import JsonFormatter

    install_guide(owner)
    caplog.set_level(logging.INFO, logger="plugyard.activity")
    dispatch(owner.tenant)
    work()
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if r.name == "plugyard.activity" and r.fields["activity"] == "webhook_delivery"]
    [line] = lines
    assert line["status"] == "succeeded" and line["http_status"] == 200 and line["attempt"] == 1
    assert line["tenant_id"] == owner.tenant.pk and line["kind"] == "webhook" and line["name"] == "notifications"
    assert SIGNING_KEY not in caplog.text and URL_TOKEN not in caplog.text
