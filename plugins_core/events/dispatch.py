"""The one dispatcher: which handlers an event reaches, in what order, and how they are sent.

Tenancy is here, not at call sites: only the event's tenant's enabled installations are
ever considered (``handlers``). The order is one, documented, for every mode: higher
priority first, then the plugin's slug, then the handler's name. A call of plugin code
runs exactly one handler (the jail is told which), so every handler has its own record.

Three send modes (``SendMode``):

* ``ALL`` — action events (``send_all``): every handler, each with a durable row that is
  created and claimed in bulk, exactly once to completion. Different installations run at
  the same time through the sandbox service (whose budgets keep one tenant from crowding
  others); one installation's handlers one after another, in order.
* ``CHAINED`` — filters (``send_chained``): each handler receives the value the previous
  one returned; a failing or slow handler is recorded and the value passes on unchanged.
* ``ROBUST`` — trying handlers out (``send_robust``, test-event): every handler (or every
  handler of one installation) runs now, in order, and each outcome is returned with the
  events it raised; those are captured by the bridge, so nothing is stored as an event and
  no other plugin is reached.
"""
from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from plugins_core import invocations, runner
from plugins_core.events.models import Event, Subscription
from plugins_core.invocations import Claim
from plugins_core.models import Installation, Invocation, InvocationStatus

__all__ = [
    "Claim", "Handler", "SendMode", "Trial", "handlers", "record_pending", "run_event_hooks", "send_all", "send_chained",
    "send_robust", "stalled_invocations", "subscribed_installations",
]

log = logging.getLogger(__name__)


class SendMode(enum.Enum):
    ALL = "all"
    CHAINED = "chained"
    ROBUST = "robust"


@dataclass(frozen=True)
class Handler:
    installation: Installation
    subscription: Subscription

    @property
    def name(self) -> str:
        return self.subscription.handler

    def order(self) -> tuple[int, str, str]:
        """The one order: higher priority first, then the plugin's slug, then the handler."""
        return (-self.subscription.priority, self.installation.plugin.slug, self.subscription.handler)


@dataclass(frozen=True)
class Trial:
    """One handler's run by ``send_robust``: its recorded invocation and the events it raised,
    each ``{"event_type", "payload", "source"}`` (none of them stored or dispatched)."""

    record: Invocation
    emitted: list[dict[str, Any]]


_KIND = {SendMode.ALL: "action", SendMode.ROBUST: "action", SendMode.CHAINED: "filter"}


def handlers(tenant, name: str, mode: SendMode = SendMode.ALL) -> list[Handler]:
    """Every handler ``tenant``'s enabled installations have for ``name``, in the one order."""
    kind = _KIND[mode]
    installations = {
        installation.version_id: installation
        for installation in Installation.objects.for_tenant(tenant)
        .filter(enabled=True, version__subscriptions__event=name, version__subscriptions__kind=kind)
        .select_related("tenant", "plugin", "version").distinct()
    }
    found = [Handler(installations[s.version_id], s)
             for s in Subscription.objects.filter(version_id__in=list(installations), event=name, kind=kind)]
    return sorted(found, key=Handler.order)


def subscribed_installations(tenant, event_type: str) -> list[Installation]:
    """The installations an event reaches, each once, in the order of their first handler."""
    seen: dict[int, Installation] = {}
    for handler in handlers(tenant, event_type):
        seen.setdefault(handler.installation.pk, handler.installation)
    return list(seen.values())


# ---- ALL: action events, durable and exactly once

def _pending_rows(event: Event, chosen: list[Handler]) -> list[Invocation]:
    return [Invocation(tenant_id=event.tenant_id, installation=h.installation, event=event, kind="hook",
                       name=h.name, status=InvocationStatus.PENDING) for h in chosen]


def record_pending(event: Event) -> list[Handler]:
    """A pending Invocation row per handler the event reaches (the durable list of what must
    run); returns those handlers, for ``send_all``."""
    chosen = handlers(event.tenant, event.type)
    invocations.create_pending(_pending_rows(event, chosen))
    return chosen


def stalled_invocations(limit: int = 1000) -> list[tuple[int, int]]:
    """(event, installation) pairs whose hooks were lost on their way or died mid-run."""
    now = timezone.now()
    stalled = Invocation.objects.filter(event__isnull=False, kind="hook", installation__enabled=True).filter(
        Q(status=InvocationStatus.PENDING, created_at__lt=now - dt.timedelta(seconds=settings.PLUGYARD_HOOK_PENDING_GRACE_S))
        | Q(status=InvocationStatus.RUNNING, lease_until__lt=now)
    )
    return list(stalled.values_list("event_id", "installation_id").distinct()[:limit])


def send_all(event: Event, chosen: list[Handler] | None = None) -> list[Claim]:
    """Run every handler ``event`` reaches, or those of ``chosen`` (``record_pending``'s).

    Returns every handler's claim: one with ``retry_after`` must be tried again then (a
    lease held elsewhere, or a call that never ran: the tenant over budget, no service).
    """
    if chosen is None:
        chosen = record_pending(event)
    if not chosen:
        return []
    claims = invocations.claim_rows(Invocation.objects.filter(
        event=event, kind="hook", installation_id__in={h.installation.pk for h in chosen}))
    rank = {(h.installation.pk, h.name): n for n, h in enumerate(chosen)}
    by_installation: dict[int, list[Invocation]] = {}
    for claim in sorted(claims, key=lambda c: rank.get((c.invocation.installation_id, c.invocation.name), 0)):
        if claim.run:
            by_installation.setdefault(claim.invocation.installation_id, []).append(claim.invocation)
    installations_by_pk = {h.installation.pk: h.installation for h in chosen}
    groups = [(installations_by_pk[pk], records) for pk, records in by_installation.items()]
    for installation, records in groups:
        for record in records:
            record.installation = installation  # loaded once, with its plugin and version
    runner.each_concurrently(lambda group: _run_group(event, *group), groups)
    invocations.save_all([record for _, records in groups for record in records])
    for claim in claims:
        if claim.run and claim.invocation.status == InvocationStatus.PENDING:
            claim.retry_after = 1.0  # handed back unrun (invocations.release)
    return claims


def _run_group(event: Event, installation: Installation, records: list[Invocation]) -> None:
    for record in records:
        runner.invoke(installation, kind="hook", name=event.type, handler=record.name, payload=event.payload,
                      event=event, record=record, commit=False, queue_s=settings.PLUGYARD_HOOK_QUEUE_S)


# ---- CHAINED: filters

def send_chained(tenant, name: str, value: Any) -> Any:
    """Run the filter chain ``name`` over ``value`` now; a failing filter passes the value on."""
    for handler in handlers(tenant, name, SendMode.CHAINED):
        record = runner.invoke(handler.installation, kind="filter", name=name, handler=handler.name, payload=value)
        if record.status == InvocationStatus.OK:
            value = record.output
        else:
            log.info("filter %s of %s skipped: %s", handler.name, handler.installation, record.status)
    return value


# ---- ROBUST: every handler now, every outcome returned

def send_robust(tenant, name: str, payload: Any, *, user=None, installation: Installation | None = None) -> list[Trial]:
    """Run every handler of ``name`` now (only ``installation``'s, when given), in order.

    Each invocation is recorded; the events a handler raises are captured and returned with
    it, not stored: nothing is stored as an event and nothing is queued.
    """
    trials = []
    for h in handlers(tenant, name, SendMode.ROBUST):
        if installation is not None and h.installation.pk != installation.pk:
            continue
        emitted: list[dict[str, Any]] = []
        record = runner.invoke(h.installation, kind="hook", name=name, handler=h.name, payload=payload, user=user,
                               captured=emitted)
        trials.append(Trial(record, emitted))
    return trials


def run_event_hooks(event: Event, installation: Installation) -> list[Claim]:
    """Run every handler ``installation`` has for ``event``, in order (a retry, the stalled sweep)."""
    chosen = [h for h in handlers(event.tenant, event.type) if h.installation.pk == installation.pk]
    invocations.create_pending(_pending_rows(event, chosen))
    return send_all(event, chosen)
