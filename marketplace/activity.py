"""The installed plugin's activity: its invocations, job runs or webhook deliveries, newest first.

Each list is one installation's rows, read through the tenant's scope like every other
row on these pages, filtered by status and cut into pages; each row carries the error a
failure recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from plugins_core.models import Installation, Invocation, InvocationStatus, JobRun, WebhookDelivery
from plugins_core.webhooks.models import DeliveryStatus

__all__ = ["ACTIVITY_PAGE_SIZE", "FAILURES", "ActivityRow", "activity_page"]

ACTIVITY_PAGE_SIZE = 20
#: Statuses shown as failures: the call did not do its work, or the delivery did not arrive.
FAILURES = frozenset({
    InvocationStatus.ERROR, InvocationStatus.TIMEOUT, InvocationStatus.MEMORY, InvocationStatus.CRASH,
    InvocationStatus.DENIED, InvocationStatus.BUSY, InvocationStatus.UNAVAILABLE,
    DeliveryStatus.FAILED, DeliveryStatus.RETRYING,
})


@dataclass(frozen=True)
class ActivityRow:
    """One line of the activity table, whichever kind of record it is."""

    at: datetime
    what: str
    detail: str
    status: str
    error: str
    duration_ms: float | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILURES


def _invocations(installation: Installation, status: str) -> QuerySet[Any]:
    rows = (
        Invocation.objects.for_tenant(installation.tenant)
        .filter(installation=installation)
        .select_related("event")
        .defer("logs", "result", "report")
        .order_by("-created_at", "-id")
    )
    return rows.filter(status=status) if status else rows


def _job_runs(installation: Installation, status: str) -> QuerySet[Any]:
    rows = (
        JobRun.objects.for_tenant(installation.tenant)
        .filter(installation=installation)
        .select_related("invocation")
        .order_by("-queued_at", "-id")
    )
    return rows.filter(invocation__status=status) if status else rows


def _deliveries(installation: Installation, status: str) -> QuerySet[Any]:
    rows = (
        WebhookDelivery.objects.for_tenant(installation.tenant)
        .filter(installation=installation)
        .select_related("event")
        .defer("body")
        .order_by("-created_at", "-id")
    )
    return rows.filter(status=status) if status else rows


def _row(kind: str, item: Any) -> ActivityRow:
    if kind == "jobs":
        call = item.invocation
        detail = f"{item.get_trigger_display()}" + (f", slot {item.slot:%Y-%m-%d %H:%M}" if item.slot else "")
        return ActivityRow(item.queued_at, item.name, detail, call.status, call.error, call.duration_ms)
    if kind == "webhooks":
        attempts = f"{item.attempts} of {item.max_attempts} attempt(s)" + (f", redelivered {item.cycle}×" if item.cycle else "")
        what = f"webhooks/{item.webhook}.yaml"
        detail = f"{item.event.type} · {attempts}" + (f" · {item.target}" if item.target else "")
        return ActivityRow(item.created_at, what, detail, item.status, item.error)
    detail = item.kind + (f" · {item.event.type}" if item.event_id else "")
    return ActivityRow(item.created_at, item.name, detail, item.status, item.error, item.duration_ms)


_QUERIES = {"invocations": _invocations, "jobs": _job_runs, "webhooks": _deliveries}


def activity_page(installation: Installation, kind: str, status: str, page_number: Any) -> tuple[Page, list[ActivityRow]]:
    """One page of ``kind`` (invocations, jobs, webhooks) records, and its rows to show."""
    page = Paginator(_QUERIES[kind](installation, status), ACTIVITY_PAGE_SIZE).get_page(page_number)
    return page, [_row(kind, item) for item in page]
