"""The runtime's figures, computed in one place: for `/metrics` (prometheus.py) and the staff
page (runtime_admin.py), so a scrape and a person see the same numbers.

"The last hour" is the current minute and the 59 before it (:func:`window_start`), so a
per-minute chart's bars add up to the hour's totals. Every query over a big table is bounded
by an indexed timestamp and grouped in the database; only durations (for percentiles) and
cron runs' slot lags are fetched as values, capped at :data:`MAX_VALUE_ROWS` newest rows.
Nothing here raises because a service is down: the broker's depths and the sandbox's figures
are then absent (``None``, ``up=False``).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from celery import current_app
from django.conf import settings
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone
from kombu import Connection
from kombu.exceptions import ChannelError

from plugins_core.models import (
    TERMINAL_STATUSES,
    Event,
    Invocation,
    InvocationStatus,
    JobRun,
    WebhookDelivery,
)
from plugins_core.sandbox import SandboxUnavailable
from plugins_core.sandboxes import get_sandbox
from plugins_core.webhooks.models import DeliveryStatus

__all__ = [
    "ERROR_STATUSES", "MAX_VALUE_ROWS", "MINUTES", "OK_STATUSES", "Current", "Minutes", "PluginRow",
    "SandboxFigures", "current", "minutes", "percentile", "plugins", "queue_depths", "sandbox", "window_start",
]

log = logging.getLogger(__name__)

MINUTES = 60
#: Cap on the rows fetched as values (durations, slot lags): the newest ones win.
MAX_VALUE_ROWS = 20_000
#: An invocation counted as finished in the window was created at most this long before it
#: (``finished_at`` has no index; ``created_at`` bounds the scan).
FINISH_LOOKBACK = dt.timedelta(hours=1)
#: Pending and running invocations are counted among those created this recently.
PENDING_LOOKBACK = dt.timedelta(days=1)
BROKER_TIMEOUT_S = 2.0
SANDBOX_TIMEOUT_S = 2.0

#: A finished call that did what was asked; every other final status is an error.
OK_STATUSES = frozenset({InvocationStatus.OK, InvocationStatus.SKIPPED})
ERROR_STATUSES = frozenset(TERMINAL_STATUSES - OK_STATUSES)
_WAITING = (InvocationStatus.PENDING, InvocationStatus.RUNNING)


@dataclass(frozen=True)
class SandboxFigures:
    """The machine's sandbox service as it reports itself; ``up=False`` and zeros when it is down."""

    up: bool
    zygotes: int = 0
    workers: int = 0
    zygote_memory_bytes: int = 0  # the zygotes' jails and the spare jail, VmRSS (see sandbox/memory.py)
    worker_memory_bytes: int = 0

    @property
    def memory_bytes(self) -> int:
        return self.zygote_memory_bytes + self.worker_memory_bytes


@dataclass(frozen=True)
class Current:
    """The gauges: how things stand now, and the last hour's counts."""

    at: dt.datetime
    since: dt.datetime
    event_lag_s: float  # age of the oldest event not yet dispatched; 0 when none waits
    events_undispatched: int
    queue_depths: dict[str, int | None]  # None: the broker did not answer
    invocations: dict[tuple[str, str], int]  # (kind, status) -> created in the window
    invocations_pending: int
    webhook_deliveries: dict[str, int]  # status -> created in the window
    job_slot_runs: int  # cron runs of the window that have started
    job_slot_lag_p50_s: float | None
    job_slot_lag_max_s: float | None
    sandbox: SandboxFigures

    @property
    def broker_up(self) -> bool:
        return any(depth is not None for depth in self.queue_depths.values())


@dataclass(frozen=True)
class Minutes:
    """Per-minute series over the window, oldest first; index i is the minute ``start + i``."""

    start: dt.datetime
    invocations_ok: list[int]  # finished that minute
    invocations_error: list[int]
    events_dispatched: list[int]
    webhooks: dict[str, list[int]]  # deliveries created that minute, by their status now
    job_slot_lag_max_s: list[float | None]  # by the cron slot's minute; None: no run started

    @property
    def labels(self) -> list[str]:
        return [(self.start + dt.timedelta(minutes=i)).strftime("%H:%M") for i in range(MINUTES)]


@dataclass(frozen=True)
class PluginRow:
    """One plugin's calls (invocations created in the window, every tenant's)."""

    slug: str
    calls: int
    finished: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    calls_per_minute: list[int] = field(default_factory=list)
    errors_per_minute: list[int] = field(default_factory=list)
    p95_ms_per_minute: list[float | None] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        """Errors among the finished calls; None when none finished."""
        return self.errors / self.finished if self.finished else None


def window_start(now: dt.datetime | None = None) -> dt.datetime:
    """The first minute of the window: the current minute and the 59 before it."""
    now = now or timezone.now()
    return now.replace(second=0, microsecond=0) - dt.timedelta(minutes=MINUTES - 1)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``q`` of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# ---- the gauges
def current(now: dt.datetime | None = None, *, broker: Connection | None = None) -> Current:
    now = now or timezone.now()
    since = window_start(now)
    waiting = Event.objects.filter(dispatched_at__isnull=True).aggregate(n=Count("id"), oldest=Min("created_at"))
    lags = sorted(lag for _slot, lag in _slot_lags(since))
    return Current(
        at=now,
        since=since,
        event_lag_s=max(0.0, (now - waiting["oldest"]).total_seconds()) if waiting["oldest"] else 0.0,
        events_undispatched=waiting["n"],
        queue_depths=queue_depths(broker),
        invocations={
            (row["kind"], row["status"]): row["n"]
            for row in Invocation.objects.filter(created_at__gte=since).order_by()
            .values("kind", "status").annotate(n=Count("id"))
        },
        invocations_pending=Invocation.objects.filter(
            created_at__gte=now - PENDING_LOOKBACK, status__in=_WAITING).count(),
        webhook_deliveries={
            row["status"]: row["n"]
            for row in WebhookDelivery.objects.filter(created_at__gte=since).order_by()
            .values("status").annotate(n=Count("id"))
        },
        job_slot_runs=len(lags),
        job_slot_lag_p50_s=percentile(lags, 0.5),
        job_slot_lag_max_s=lags[-1] if lags else None,
        sandbox=sandbox(),
    )


def queue_names() -> list[str]:
    queues = getattr(settings, "CELERY_TASK_QUEUES", None) or []
    return [q.name for q in queues] or [getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")]


def queue_depths(connection: Connection | None = None) -> dict[str, int | None]:
    """Messages waiting in each Celery queue; every one ``None`` when the broker cannot be asked.

    ``connection`` defaults to the Celery app's broker; it is closed afterwards.
    """
    names = queue_names()
    try:
        conn = connection or current_app.connection_for_read(connect_timeout=BROKER_TIMEOUT_S)
        with conn:
            conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_S)
            channel = conn.channel()
            try:
                return {name: _depth(channel, name) for name in names}
            finally:
                channel.close()
    except Exception as exc:  # any broker trouble is an absent figure, never a failed page or scrape
        log.warning("metrics: the broker did not answer for queue depths: %s: %s", type(exc).__name__, exc)
        return dict.fromkeys(names)


def _depth(channel, name: str) -> int:
    try:
        return int(channel.queue_declare(queue=name, passive=True).message_count)
    except ChannelError:  # Redis keeps no empty list: nothing waiting reads as "no such queue"
        return 0


def sandbox() -> SandboxFigures:
    try:
        stats = get_sandbox().stats(timeout=SANDBOX_TIMEOUT_S)
    except (SandboxUnavailable, OSError):
        return SandboxFigures(up=False)
    return SandboxFigures(
        up=True,
        zygotes=int(stats.get("zygotes") or 0),
        workers=int(stats.get("workers") or 0),
        zygote_memory_bytes=sum((stats.get("zygote_memory_bytes") or {}).values())
        + int(stats.get("spare_memory_bytes") or 0),
        worker_memory_bytes=sum((stats.get("worker_memory_bytes") or {}).values()),
    )


def _slot_lags(since: dt.datetime) -> list[tuple[dt.datetime, float]]:
    """(slot, seconds from the slot to the run's start) of the window's started cron runs."""
    rows = (JobRun.objects.filter(queued_at__gte=since, slot__isnull=False, started_at__isnull=False)
            .order_by("-queued_at").values_list("slot", "started_at")[:MAX_VALUE_ROWS])
    return [(slot, max(0.0, (started - slot).total_seconds())) for slot, started in rows]


# ---- the per-minute series
def minutes(now: dt.datetime | None = None) -> Minutes:
    start = window_start(now)
    ok, error = [0] * MINUTES, [0] * MINUTES
    finished = (Invocation.objects.filter(created_at__gte=start - FINISH_LOOKBACK, finished_at__gte=start)
                .annotate(minute=TruncMinute("finished_at")).order_by().values("minute")
                .annotate(ok=Count("id", filter=Q(status__in=OK_STATUSES)),
                          error=Count("id", filter=Q(status__in=ERROR_STATUSES))))
    for row in finished:
        if (i := _index(start, row["minute"])) is not None:
            ok[i], error[i] = row["ok"], row["error"]

    dispatched = [0] * MINUTES
    for row in (Event.objects.filter(dispatched_at__gte=start).annotate(minute=TruncMinute("dispatched_at"))
                .order_by().values("minute").annotate(n=Count("id"))):
        if (i := _index(start, row["minute"])) is not None:
            dispatched[i] = row["n"]

    webhooks = {status: [0] * MINUTES for status in DeliveryStatus.values}
    for row in (WebhookDelivery.objects.filter(created_at__gte=start).annotate(minute=TruncMinute("created_at"))
                .order_by().values("minute", "status").annotate(n=Count("id"))):
        if (i := _index(start, row["minute"])) is not None and row["status"] in webhooks:
            webhooks[row["status"]][i] = row["n"]

    lag: list[float | None] = [None] * MINUTES
    for slot, seconds in _slot_lags(start):
        if (i := _index(start, slot)) is not None:
            lag[i] = max(lag[i] or 0.0, seconds)

    return Minutes(start=start, invocations_ok=ok, invocations_error=error, events_dispatched=dispatched,
                   webhooks=webhooks, job_slot_lag_max_s=lag)


def _index(start: dt.datetime, moment: dt.datetime | None) -> int | None:
    if moment is None:
        return None
    i = int((moment - start).total_seconds() // 60)
    return i if 0 <= i < MINUTES else None


# ---- per plugin
def plugins(now: dt.datetime | None = None) -> list[PluginRow]:
    """Every plugin called in the window, most calls first."""
    start = window_start(now)
    recent = Invocation.objects.filter(created_at__gte=start).order_by()
    errors = Count("id", filter=Q(status__in=ERROR_STATUSES))
    totals = recent.values("installation__plugin__slug").annotate(
        calls=Count("id"), finished=Count("id", filter=Q(status__in=TERMINAL_STATUSES)), errors=errors)

    calls_per_minute: dict[str, list[int]] = defaultdict(lambda: [0] * MINUTES)
    errors_per_minute: dict[str, list[int]] = defaultdict(lambda: [0] * MINUTES)
    for row in (recent.annotate(minute=TruncMinute("created_at")).values("installation__plugin__slug", "minute")
                .annotate(calls=Count("id"), errors=errors)):
        if (i := _index(start, row["minute"])) is not None:
            slug = row["installation__plugin__slug"]
            calls_per_minute[slug][i], errors_per_minute[slug][i] = row["calls"], row["errors"]

    durations: dict[str, list[float]] = defaultdict(list)
    durations_per_minute: dict[str, list[list[float]]] = defaultdict(lambda: [[] for _ in range(MINUTES)])
    for slug, created, ms in (recent.filter(duration_ms__isnull=False).order_by("-created_at")
                              .values_list("installation__plugin__slug", "created_at", "duration_ms")[:MAX_VALUE_ROWS]):
        durations[slug].append(ms)
        if (i := _index(start, created)) is not None:
            durations_per_minute[slug][i].append(ms)

    rows = [
        PluginRow(
            slug=(slug := row["installation__plugin__slug"]), calls=row["calls"], finished=row["finished"],
            errors=row["errors"], p50_ms=percentile(durations[slug], 0.5), p95_ms=percentile(durations[slug], 0.95),
            calls_per_minute=calls_per_minute[slug], errors_per_minute=errors_per_minute[slug],
            p95_ms_per_minute=[percentile(values, 0.95) for values in durations_per_minute[slug]],
        )
        for row in totals
    ]
    return sorted(rows, key=lambda r: (-r.calls, r.slug))
