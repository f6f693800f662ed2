"""Tenant budgets on what plugins can multiply: files in storage, and invocation-log bytes a day.

Over budget is a clear error to the plugin (files: ``QuotaExceeded`` from ``ctx.files``) or
a marker in the stored log the tenant reads (``[plugyard: … over its daily budget …]``);
nothing is lost silently. Limits come from ``PLUGYARD_TENANT_BUDGETS``.
"""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from plugins_core.models import TenantUsage

__all__ = ["FilesOverBudget", "charge_files", "charge_log"]


class FilesOverBudget(Exception):
    """The tenant's plugin files would pass their budget; the message is safe to show the plugin."""


def _limit(name: str) -> int:
    return int(settings.PLUGYARD_TENANT_BUDGETS[name])


def charge_files(tenant_id: int, delta_bytes: int, delta_count: int) -> None:
    """Count a change of the tenant's files against its budget, or raise FilesOverBudget."""
    with transaction.atomic():
        usage, _ = TenantUsage.objects.select_for_update().get_or_create(tenant_id=tenant_id)
        new_bytes, new_count = usage.file_bytes + delta_bytes, usage.file_count + delta_count
        if delta_bytes > 0 and new_bytes > _limit("file_bytes"):
            raise FilesOverBudget(f"the tenant's plugin files would use {new_bytes} bytes; "
                                  f"its budget is {_limit('file_bytes')} bytes")
        if delta_count > 0 and new_count > _limit("file_count"):
            raise FilesOverBudget(f"the tenant's plugins may keep at most {_limit('file_count')} files")
        usage.file_bytes, usage.file_count = max(0, new_bytes), max(0, new_count)
        usage.save(update_fields=["file_bytes", "file_count"])


def charge_log(tenant_id: int, nbytes: int) -> bool:
    """Count ``nbytes`` of stored invocation log against today's budget; False when over it."""
    today = timezone.localdate()
    limit = _limit("log_bytes_per_day")
    if TenantUsage.objects.filter(tenant_id=tenant_id, log_day=today,
                                  log_bytes__lte=limit - nbytes).update(log_bytes=F("log_bytes") + nbytes):
        return True
    with transaction.atomic():  # a new day, no row yet, or over budget
        usage, _ = TenantUsage.objects.select_for_update().get_or_create(tenant_id=tenant_id)
        if usage.log_day != today:
            usage.log_day, usage.log_bytes = today, 0
        allowed = usage.log_bytes + nbytes <= limit
        if allowed:
            usage.log_bytes += nbytes
        usage.save(update_fields=["log_day", "log_bytes"])
        return allowed
