"""`GET /metrics`: the runtime's figures (metrics.py) in Prometheus's text exposition format.

Off unless ``PLUGYARD_METRICS_TOKEN`` is set (404); then it answers a request carrying
``Authorization: Bearer <token>``, or a signed-in staff user, and 401 anything else. The
figures are read at each scrape by a collector in a registry of its own: the process's
default registry (and whatever libraries put there) is not exposed. docs/operators.md,
"Metrics", lists every metric.
"""
from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from plugins_core import metrics
from plugins_core.models import Invocation, InvocationStatus
from plugins_core.webhooks.models import DeliveryStatus

__all__ = ["RuntimeCollector", "metrics_view", "registry"]

_KINDS = [kind for kind, _label in Invocation.KIND_CHOICES]


class RuntimeCollector:
    """Turns one :class:`metrics.Current` per scrape into gauge families."""

    def __init__(self, figures: Callable[[], metrics.Current] = metrics.current) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        now = self._figures()
        yield _gauge("plugyard_event_lag_seconds",
                     "Age of the oldest event whose dispatch has not run yet; 0 when none waits.", now.event_lag_s)
        yield _gauge("plugyard_events_undispatched", "Events stored and not yet dispatched.", now.events_undispatched)

        yield _gauge("plugyard_broker_up", "1 when the broker answered for queue depths, else 0.", int(now.broker_up))
        depth = GaugeMetricFamily("plugyard_queue_depth", "Messages waiting in each Celery queue "
                                  "(absent when the broker did not answer).", labels=["queue"])
        for queue, value in now.queue_depths.items():
            if value is not None:
                depth.add_metric([queue], value)
        yield depth

        invocations = GaugeMetricFamily("plugyard_invocations_last_hour",
                                        "Invocations created in the last hour, by kind and current status.",
                                        labels=["kind", "status"])
        for kind in sorted({*_KINDS, *(k for k, _s in now.invocations)}):
            for status in InvocationStatus.values:
                invocations.add_metric([kind, status], now.invocations.get((kind, status), 0))
        yield invocations
        yield _gauge("plugyard_invocations_pending",
                     "Invocations pending or running, among those created in the last day.", now.invocations_pending)

        box = now.sandbox
        yield _gauge("plugyard_sandbox_up", "1 when the machine's sandbox service answered, else 0.", int(box.up))
        if box.up:
            yield _gauge("plugyard_sandbox_zygotes", "Warm zygotes (one per plugin version) in the sandbox service.",
                         box.zygotes)
            yield _gauge("plugyard_sandbox_workers", "Warm workers (one per installation) in the sandbox service.",
                         box.workers)
            memory = GaugeMetricFamily("plugyard_sandbox_memory_bytes", "Resident memory (VmRSS, shared pages "
                                       "counted in each process) of the sandbox's jails.", labels=["kind"])
            memory.add_metric(["zygote"], box.zygote_memory_bytes)
            memory.add_metric(["worker"], box.worker_memory_bytes)
            yield memory

        deliveries = GaugeMetricFamily("plugyard_webhook_deliveries_last_hour",
                                       "Webhook deliveries created in the last hour, by current status.",
                                       labels=["status"])
        for status in DeliveryStatus.values:
            deliveries.add_metric([status], now.webhook_deliveries.get(status, 0))
        yield deliveries

        yield _gauge("plugyard_job_slot_runs_last_hour", "Cron runs queued in the last hour that have started.",
                     now.job_slot_runs)
        lag = GaugeMetricFamily("plugyard_job_slot_lag_seconds", "Seconds from a cron slot to its run's start, "
                                "over the last hour's started runs: median (0.5) and max (1).", labels=["quantile"])
        for quantile, value in (("0.5", now.job_slot_lag_p50_s), ("1", now.job_slot_lag_max_s)):
            if value is not None:
                lag.add_metric([quantile], value)
        yield lag


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def registry(figures: Callable[[], metrics.Current] = metrics.current) -> CollectorRegistry:
    """A registry holding only the runtime collector (built per scrape: no state at import)."""
    own = CollectorRegistry(auto_describe=False)
    own.register(RuntimeCollector(figures))
    return own


def _allowed(request: HttpRequest, token: str) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = getattr(settings, "PLUGYARD_METRICS_TOKEN", None)
    if not token:
        raise Http404("metrics are off: set PLUGYARD_METRICS_TOKEN")
    if not _allowed(request, token):
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
