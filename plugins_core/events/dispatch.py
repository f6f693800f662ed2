"""Dispatching events to plugin handlers: who subscribes, in what order, and the two send modes.

* Action events (``run_event_hooks``): each subscribed installation's handlers run in
  priority order (higher first), each invocation claimed in the database so that a
  redelivered task never runs a handler to completion twice.
* Filters (``apply_filters``): run synchronously as a chain; a failing or slow filter is
  skipped and recorded, and the value passes on unchanged.

Tenancy is here, not at call sites: only the event's tenant's enabled installations are
ever considered.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from plugins_core import runner
from plugins_core.events.models import Event, Subscription
from plugins_core.models import Installation, Invocation, InvocationStatus

__all__ = [
    "Claim", "apply_filters", "claim", "record_pending", "run_event_hooks", "stalled_invocations",
    "subscribed_installations",
]

log = logging.getLogger(__name__)

TERMINAL = {
    InvocationStatus.OK, InvocationStatus.ERROR, InvocationStatus.TIMEOUT, InvocationStatus.MEMORY,
    InvocationStatus.CRASH, InvocationStatus.DENIED, InvocationStatus.SKIPPED,
}


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.PLUGYARD_HOOK_LEASE_S)


def _subscriptions(tenant, event_type: str, kind: str) -> list[tuple[Installation, list[Subscription]]]:
    installations = list(
        Installation.objects.for_tenant(tenant)
        .filter(enabled=True, version__subscriptions__event=event_type, version__subscriptions__kind=kind)
        .select_related("tenant", "plugin", "version")
        .distinct()
    )
    by_version: dict[int, list[Subscription]] = {}
    for subscription in Subscription.objects.filter(
        version_id__in=[i.version_id for i in installations], event=event_type, kind=kind
    ).order_by("-priority", "id"):
        by_version.setdefault(subscription.version_id, []).append(subscription)
    pairs = [(i, by_version.get(i.version_id, [])) for i in installations]
    # Highest priority first across plugins; ties broken by slug so the order is stable.
    pairs.sort(key=lambda pair: (-max((s.priority for s in pair[1]), default=0), pair[0].plugin.slug))
    return pairs


def subscribed_installations(tenant, event_type: str) -> list[Installation]:
    return [installation for installation, _ in _subscriptions(tenant, event_type, "action")]


def record_pending(event: Event) -> list[Installation]:
    """A pending Invocation row per subscribed handler; returns the installations to run."""
    pairs = _subscriptions(event.tenant, event.type, "action")
    Invocation.objects.bulk_create(
        [
            Invocation(tenant_id=event.tenant_id, installation=installation, event=event, kind="hook",
                       name=subscription.handler, status=InvocationStatus.PENDING)
            for installation, subscriptions in pairs
            for subscription in subscriptions
        ],
        ignore_conflicts=True,  # a redelivered dispatch finds its rows there already
    )
    return [installation for installation, _ in pairs]


def stalled_invocations(limit: int = 1000) -> list[tuple[int, int]]:
    """(event, installation) pairs whose hooks were lost on their way or died mid-run."""
    now = timezone.now()
    stalled = Invocation.objects.filter(event__isnull=False, installation__enabled=True).filter(
        Q(status=InvocationStatus.PENDING, created_at__lt=now - dt.timedelta(seconds=settings.PLUGYARD_HOOK_PENDING_GRACE_S))
        | Q(status=InvocationStatus.RUNNING, lease_until__lt=now)
    )
    return list(stalled.values_list("event_id", "installation_id").distinct()[:limit])


@dataclass
class Claim:
    invocation: Invocation
    run: bool  # False: finished already, or another worker holds a live lease
    retry_after: float = 0.0


def claim(event: Event, installation: Installation, handler: str) -> Claim:
    """Take the right to run one handler for one event, exactly once to completion."""
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                invocation, created = Invocation.objects.select_for_update().get_or_create(
                    event=event, installation=installation, name=handler,
                    defaults={"tenant_id": installation.tenant_id, "kind": "hook", "status": InvocationStatus.RUNNING,
                              "attempts": 1, "lease_until": now + _lease()},
                )
                if created:
                    return Claim(invocation, True)
                if invocation.status in TERMINAL:
                    return Claim(invocation, False)
                if invocation.status == InvocationStatus.RUNNING and invocation.lease_until and invocation.lease_until > now:
                    return Claim(invocation, False, (invocation.lease_until - now).total_seconds())
                invocation.status = InvocationStatus.RUNNING
                invocation.attempts += 1
                invocation.lease_until = now + _lease()
                invocation.save(update_fields=["status", "attempts", "lease_until"])
                return Claim(invocation, True)
        except IntegrityError:  # another worker created the row between our get and create
            continue
    raise RuntimeError("could not claim invocation")


def run_event_hooks(event: Event, installation: Installation) -> list[Claim]:
    """Run every handler ``installation`` has for ``event``, in priority order."""
    claims = []
    subscriptions = Subscription.objects.filter(
        version_id=installation.version_id, event=event.type, kind="action"
    ).order_by("-priority", "id")
    for subscription in subscriptions:
        current = claim(event, installation, subscription.handler)
        claims.append(current)
        if not current.run:
            continue
        runner.invoke(
            installation, kind="hook", name=event.type, handler=subscription.handler,
            payload=event.payload, event=event, record=current.invocation,
        )
    return claims


def apply_filters(tenant, name: str, value: Any) -> Any:
    """Run the filter chain ``name`` over ``value`` synchronously; failures pass the value on."""
    for installation, subscriptions in _subscriptions(tenant, name, "filter"):
        for subscription in subscriptions:
            record = runner.invoke(installation, kind="filter", name=name, handler=subscription.handler, payload=value)
            if record.status == InvocationStatus.OK:
                value = record.result
            else:
                log.info("filter %s of %s skipped: %s", subscription.handler, installation, record.status)
    return value
