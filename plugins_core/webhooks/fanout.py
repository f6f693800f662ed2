"""Creating deliveries when an event is dispatched: one per matching webhook file, once.

Tenancy is here: only the event's tenant's enabled installations granted ``emit_webhook``
are considered. Each new row is created already leased to the task queued for it, so the
sweep leaves it alone unless that message is lost (then the lease runs out).
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from plugins_core.events.models import Event
from plugins_core.models import Installation
from plugins_core.webhooks import delivery
from plugins_core.webhooks.models import WebhookDelivery
from plugins_core.webhooks.specs import EMIT_WEBHOOK, listens_to, webhooks_of

__all__ = ["create_deliveries", "deliver_event"]

log = logging.getLogger(__name__)


def create_deliveries(event: Event) -> list[tuple[int, str]]:
    """A delivery row per webhook listening to ``event``; returns (id, lease token) of new rows.

    Idempotent: a redelivered dispatch finds its rows there already and returns none of them.
    """
    now = timezone.now()
    cap = int(settings.PLUGYARD_WEBHOOKS["max_attempts_cap"])
    rows = []
    installations = (
        Installation.objects.for_tenant(event.tenant).filter(enabled=True)
        .exclude(version__webhooks=[])  # most plugins have no webhook files: skip them in the query
        .select_related("version")
    )
    for installation in installations:
        if EMIT_WEBHOOK not in (installation.granted_permissions or []):
            continue
        for spec in webhooks_of(installation.version):
            if listens_to(spec, event.type):
                rows.append(WebhookDelivery(
                    tenant_id=event.tenant_id, installation=installation, webhook=spec.name, event=event,
                    max_attempts=min(spec.retry.max_attempts, cap), next_attempt_at=now,
                    lease_token=delivery.new_token(), lease_until=now + delivery.lease(),
                ))
    if not rows:
        return []
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    created = WebhookDelivery.objects.filter(event=event, lease_token__in=[row.lease_token for row in rows])
    return list(created.values_list("pk", "lease_token"))


def deliver_event(event: Event) -> int:
    """Create ``event``'s deliveries and queue a first attempt of each; returns how many."""
    claims = create_deliveries(event)
    for delivery_id, token in claims:
        delivery.queue(delivery_id, token)
    return len(claims)
