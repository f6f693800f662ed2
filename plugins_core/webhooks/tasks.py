"""Celery tasks for webhooks: one attempt per message (queue "events"), and the sweep for due retries."""
from __future__ import annotations

from celery import shared_task

from plugins_core.webhooks import delivery

__all__ = ["deliver_webhook", "send_due_webhooks"]


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhook(delivery_id: int, token: str) -> str:
    """Make one attempt; a stale ``token`` (someone else took the lease) makes it a no-op."""
    return delivery.deliver(delivery_id, token).status


@shared_task(ignore_result=True)
def send_due_webhooks() -> int:
    """Beat: lease the deliveries due for an attempt (retries, lost messages) and queue each."""
    claimed = delivery.claim_due()
    for delivery_id, token in claimed:
        deliver_webhook.delay(delivery_id, token)
    return len(claimed)
