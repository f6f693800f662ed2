"""Celery tasks for events: fan-out, per-installation hooks, and the outbox sweep."""
from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from plugins_core.events import dispatch
from plugins_core.events.models import Event
from plugins_core.models import Installation
from plugins_core.retention import prune
from plugins_core.webhooks.fanout import deliver_event as deliver_webhooks

__all__ = [
    "dispatch_event", "dispatch_pending_events", "prune_invocation_logs", "recover_stalled_invocations",
    "run_event_hooks",
]


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def dispatch_event(event_id: int) -> int:
    """Record a pending invocation per subscribed handler, then run them all.

    The pending rows are the durable record of what must run: if this task dies (a worker
    killed holding it, a broker that drops it), ``recover_stalled_invocations`` finds the
    rows still pending, or their leases run out, and runs them again.
    """
    event = Event.objects.select_related("tenant").filter(pk=event_id).first()
    if event is None:
        return 0
    chosen = dispatch.record_pending(event)
    deliver_webhooks(event)
    Event.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    _retry_later(event, dispatch.send_all(event, chosen))
    return len({handler.installation.pk for handler in chosen})


def _retry_later(event: Event, claims: list[dispatch.Claim]) -> None:
    """Queue the installations whose handlers must be tried again, when they may be."""
    waits: dict[int, float] = {}
    for claim in claims:
        if claim.retry_after > 0:
            installation_id = claim.invocation.installation_id
            waits[installation_id] = max(waits.get(installation_id, 0.0), claim.retry_after)
    for installation_id, wait in waits.items():
        run_event_hooks.apply_async((event.pk, installation_id), countdown=wait + 1)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_event_hooks(event_id: int, installation_id: int) -> None:
    """Run one installation's handlers for an event again (a retry, or the stalled sweep)."""
    event = Event.objects.select_related("tenant").filter(pk=event_id).first()
    installation = (
        Installation.objects.select_related("tenant", "plugin", "version").filter(pk=installation_id, enabled=True).first()
    )
    if event is None or installation is None:
        return
    _retry_later(event, dispatch.run_event_hooks(event, installation))


@shared_task(ignore_result=True)
def dispatch_pending_events(older_than_seconds: int = 10) -> int:
    """Send events whose dispatch never got queued (the broker was down at commit)."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    pending = list(
        Event.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff).values_list("pk", flat=True)[:1000]
    )
    for event_id in pending:
        transaction.on_commit(lambda event_id=event_id: dispatch_event.delay(event_id))
    return len(pending)


@shared_task(ignore_result=True)
def recover_stalled_invocations() -> int:
    """Queue again the hooks whose message was lost: pending too long, or a lease run out."""
    pairs = dispatch.stalled_invocations()
    for event_id, installation_id in pairs:
        run_event_hooks.delay(event_id, installation_id)
    return len(pairs)


@shared_task(ignore_result=True)
def prune_invocation_logs() -> int:
    """Daily: drop logs past PLUGYARD_INVOCATION_RETENTION_DAYS (manage.py prune_invocations)."""
    invocations, _events = prune(settings.PLUGYARD_INVOCATION_RETENTION_DAYS)
    return invocations
