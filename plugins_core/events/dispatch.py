"""Dispatching events to plugin handlers: who subscribes, in what order, and the two send modes.

* Action events (``run_hooks``): each subscribed installation's handlers run in priority
  order (higher first), each invocation claimed in the database so that a redelivered
  task never runs a handler to completion twice. Different installations run at the same
  time through the sandbox service, whose budgets keep one tenant from crowding others.
* Filters (``apply_filters``): run synchronously as a chain; a failing or slow filter is
  skipped and recorded, and the value passes on unchanged.

Tenancy is here, not at call sites: only the event's tenant's enabled installations are
ever considered.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from plugins_core import runner
from plugins_core.events.models import Event, Subscription
from plugins_core.models import TERMINAL_STATUSES, Installation, Invocation, InvocationStatus

__all__ = [
    "Claim", "apply_filters", "record_pending", "run_event_hooks", "run_hooks", "stalled_invocations",
    "subscribed_installations",
]

log = logging.getLogger(__name__)

TERMINAL = TERMINAL_STATUSES


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


def _create_pending(event: Event, pairs: list[tuple[Installation, list[Subscription]]]) -> None:
    Invocation.objects.bulk_create(
        [
            Invocation(tenant_id=event.tenant_id, installation=installation, event=event, kind="hook",
                       name=subscription.handler, status=InvocationStatus.PENDING)
            for installation, subscriptions in pairs
            for subscription in subscriptions
        ],
        ignore_conflicts=True,  # a redelivered dispatch finds its rows there already
    )


def record_pending(event: Event) -> list[Installation]:
    """A pending Invocation row per subscribed handler; returns the installations to run."""
    pairs = _subscriptions(event.tenant, event.type, "action")
    _create_pending(event, pairs)
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
    retry_after: float = 0.0  # > 0: try again then (a live lease elsewhere, or nothing ran)


def _claim_all(event: Event, installation_ids: list[int]) -> list[Claim]:
    """Take the right to run each of these installations' handlers for ``event`` — in one
    transaction for all of them, exactly once to completion. Rows another worker is
    claiming this instant are skipped (it has them); live leases are left to their holder."""
    now = timezone.now()
    claims: list[Claim] = []
    with transaction.atomic():
        rows = (Invocation.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(event=event, installation_id__in=installation_ids, kind="hook").order_by("id"))
        taken = []
        for invocation in rows:
            if invocation.status in TERMINAL:
                claims.append(Claim(invocation, False))
            elif (invocation.status == InvocationStatus.RUNNING and invocation.lease_until
                  and invocation.lease_until > now):
                claims.append(Claim(invocation, False, (invocation.lease_until - now).total_seconds()))
            else:
                invocation.status = InvocationStatus.RUNNING
                invocation.attempts += 1
                invocation.lease_until = now + _lease()
                taken.append(invocation)
                claims.append(Claim(invocation, True))
        Invocation.objects.bulk_update(taken, ["status", "attempts", "lease_until"])
    return claims


_RECORD_FIELDS = ["status", "result", "error", "duration_ms", "peak_memory_kb", "logs", "finished_at",
                  "lease_until", "attempts"]


def run_hooks(event: Event, installations: list[Installation]) -> list[Claim]:
    """Run every handler these installations have for ``event``; the one path for action hooks.

    Rows are created and claimed in bulk; each installation's handlers run in priority
    order (it has one warm worker), different installations' at the same time through the
    sandbox service; the outcomes are written together. Returns every handler's claim: a
    claim with ``retry_after`` must be tried again then (a lease held elsewhere, or a call
    that never ran because the tenant was over budget or the service was away).
    """
    pairs = [pair for pair in _subscriptions(event.tenant, event.type, "action")
             if pair[0].pk in {i.pk for i in installations}]
    if not pairs:
        return []
    _create_pending(event, pairs)
    claims = _claim_all(event, [installation.pk for installation, _ in pairs])
    order = {(installation.pk, s.handler): n for installation, subs in pairs for n, s in enumerate(subs)}
    by_installation = {installation.pk: installation for installation, _ in pairs}
    groups: dict[int, list[Invocation]] = {}
    for current in claims:
        if current.run:
            groups.setdefault(current.invocation.installation_id, []).append(current.invocation)
    jobs = [(by_installation[pk], sorted(records, key=lambda r: order.get((pk, r.name), 0)))
            for pk, records in groups.items()]
    rank = {installation.pk: n for n, (installation, _) in enumerate(pairs)}
    jobs.sort(key=lambda job: rank[job[0].pk])  # highest priority first, as in _subscriptions
    if len(jobs) > 1 and not connection.in_atomic_block:
        # Threads have connections of their own, which cannot see an open transaction's rows:
        # inside one (a test, a caller's atomic block) the hooks run here, one after another.
        list(_pool().map(lambda job: _run_group(event, *job, own_connection=True), jobs))
    else:
        for installation, records in jobs:
            _run_group(event, installation, records, own_connection=False)
    finished = [record for _, records in jobs for record in records]
    Invocation.objects.bulk_update(finished, _RECORD_FIELDS)
    for current in claims:
        if current.run and current.invocation.status == InvocationStatus.PENDING:
            current.retry_after = 1.0  # handed back unrun (see runner._release)
    return claims


def _run_group(event: Event, installation: Installation, records: list[Invocation], *, own_connection: bool) -> None:
    try:
        for record in records:
            runner.invoke(installation, kind="hook", name=event.type, handler=record.name, payload=event.payload,
                          event=event, record=record, commit=False, queue_s=settings.PLUGYARD_HOOK_QUEUE_S)
    finally:
        if own_connection:
            connection.close()  # this pool thread's own connection; the next task opens a fresh one


def run_event_hooks(event: Event, installation: Installation) -> list[Claim]:
    """Run every handler ``installation`` has for ``event``, in priority order."""
    return run_hooks(event, [installation])


_executor: ThreadPoolExecutor | None = None
_executor_pid = 0
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """This process's dispatch threads (made after any fork, in the process that uses them)."""
    global _executor, _executor_pid
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(settings.PLUGYARD_DISPATCH_THREADS, thread_name_prefix="plugyard-dispatch")
            _executor_pid = os.getpid()
        return _executor


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
