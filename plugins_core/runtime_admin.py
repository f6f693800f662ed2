"""The staff page "Runtime" (/admin/plugyard/runtime/): metrics.py's figures drawn to be looked at.

Now (event lag, queue depths, pending calls, the sandbox), then the last hour minute by
minute — a process that stopped shows as a run of empty minutes — then each plugin's calls,
error rate and p50/p95 duration with sparklines. config/urls.py mounts it behind
``admin.site.admin_view``: staff only, everyone else goes to the admin's login.
"""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from plugins_core import metrics
from plugins_core.charts import bar_chart
from plugins_core.webhooks.models import DeliveryStatus

__all__ = ["runtime_view"]


def runtime_view(request: HttpRequest) -> TemplateResponse:
    now = timezone.now()
    current = metrics.current(now)
    minutes = metrics.minutes(now)
    labels = minutes.labels
    webhooks = minutes.webhooks
    charts = [
        {"title": "Invocations finished per minute", "legend": ["ok", "error"],
         "chart": bar_chart({"ok": minutes.invocations_ok, "error": minutes.invocations_error}, labels)},
        {"title": "Events dispatched per minute", "legend": ["dispatched"],
         "chart": bar_chart({"dispatched": minutes.events_dispatched}, labels)},
        {"title": "Webhook deliveries per minute, by outcome", "legend": ["succeeded", "failed", "waiting"],
         "chart": bar_chart({"succeeded": webhooks["succeeded"], "failed": webhooks["failed"],
                             "waiting": [p + r for p, r in zip(webhooks["pending"], webhooks["retrying"], strict=True)]},
                            labels)},
        {"title": "Cron slot lag per minute (slowest run's start after its slot)", "legend": ["lag"],
         "chart": bar_chart({"lag": minutes.job_slot_lag_max_s}, labels, unit=" s")},
    ]
    plugins = [
        {"row": row,
         "calls_chart": bar_chart({"calls": [c - e for c, e in zip(row.calls_per_minute, row.errors_per_minute, strict=True)],
                                   "error": row.errors_per_minute}, labels, width=180, height=24),
         "p95_chart": bar_chart({"p95": row.p95_ms_per_minute}, labels, width=180, height=24, unit=" ms")}
        for row in metrics.plugins(now)
    ]
    invocations_total = sum(current.invocations.values())
    context = {
        **admin.site.each_context(request),
        "title": "Runtime",
        "now": current,
        "since": minutes.start,
        "invocations_total": invocations_total,
        "invocations_errors": sum(n for (_kind, status), n in current.invocations.items()
                                  if status in metrics.ERROR_STATUSES),
        "webhooks_total": sum(current.webhook_deliveries.values()),
        "webhook_outcomes": [(status, current.webhook_deliveries[status]) for status in DeliveryStatus.values
                             if current.webhook_deliveries.get(status)],
        "memory_mb": round(current.sandbox.memory_bytes / (1 << 20), 1),
        "charts": charts,
        "plugins": plugins,
    }
    return TemplateResponse(request, "admin/plugyard/runtime.html", context)
