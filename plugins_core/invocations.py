"""Invocation records: the one place a call of plugin code is created, claimed, finished and capped.

Every path to plugin code (hooks, filters, test-event, routes, jobs, transforms, lifecycle)
records its call here, through ``runner.invoke``:

- **pending rows** are created in bulk before anything runs (the durable "must run" list);
- a **claim** takes the right to run a row, exactly once to completion, with a **lease**
  that a dead worker's claim runs out of; a row whose every attempt died unfinished is
  given up after ``PLUGYARD_INVOCATION_MAX_ATTEMPTS`` and says so, instead of running forever;
- **finish** stores the outcome with the stored result and logs capped
  (``PLUGYARD_INVOCATION_MAX_RESULT_BYTES`` / ``_MAX_LOG_BYTES``, truncated with a marker)
  and the sandbox's **report**: its tripwires and every ctx call with its duration;
- **release** hands back a claim whose call never ran (tenant over budget, no sandbox
  service), its attempt not spent.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from plugins_core import activity_log, usage
from plugins_core.models import TERMINAL_STATUSES, Invocation, InvocationStatus

__all__ = [
    "TERMINAL", "Claim", "claim_one", "claim_rows", "create_pending", "finish", "max_attempts", "release",
    "save_all",
]

TERMINAL = TERMINAL_STATUSES
_SAVED_FIELDS = ["status", "result", "error", "duration_ms", "peak_memory_kb", "logs", "report", "finished_at",
                 "lease_until", "attempts"]
_LOG_LINES_KEPT = 200


@dataclass
class Claim:
    invocation: Invocation
    run: bool  # False: finished already, given up, or another worker holds a live lease
    retry_after: float = 0.0  # > 0: try again then (a live lease elsewhere, or nothing ran)


def lease(seconds: float | None = None) -> dt.timedelta:
    """How long a claim holds a row: a hook's lease, or ``seconds`` (a job's is its deadline's)."""
    return dt.timedelta(seconds=settings.PLUGYARD_HOOK_LEASE_S if seconds is None else seconds)


def max_attempts() -> int:
    return int(settings.PLUGYARD_INVOCATION_MAX_ATTEMPTS)


def create_pending(rows: Iterable[Invocation]) -> None:
    """Store rows that must run; rows that exist already (a redelivered dispatch) are left be."""
    Invocation.objects.bulk_create(list(rows), ignore_conflicts=True)


def _decide(invocation: Invocation, now: dt.datetime, lease_s: float | None = None) -> Claim:
    """Whether ``invocation`` (locked by the caller) is ours to run now; updates it in memory."""
    if invocation.status in TERMINAL:
        return Claim(invocation, False)
    if invocation.status == InvocationStatus.RUNNING and invocation.lease_until and invocation.lease_until > now:
        return Claim(invocation, False, (invocation.lease_until - now).total_seconds())
    if invocation.attempts >= max_attempts():
        _give_up(invocation, now)
        return Claim(invocation, False)
    invocation.status = InvocationStatus.RUNNING
    invocation.attempts += 1
    invocation.lease_until = now + lease(lease_s)
    return Claim(invocation, True)


def _give_up(invocation: Invocation, now: dt.datetime) -> None:
    invocation.status = InvocationStatus.CRASH
    invocation.error = (f"gave up after {invocation.attempts} attempt(s): the handler never finished "
                        f"(its worker or the sandbox died each time). {invocation.error or ''}").strip()[:2000]
    invocation.lease_until = None
    invocation.finished_at = now
    activity_log.invocation(invocation)


def claim_rows(rows, *, lease_s: float | None = None) -> list[Claim]:
    """Claim every row of the queryset ``rows`` that may run, in one transaction.

    Rows another worker is claiming this instant are skipped (it has them; PostgreSQL's
    SKIP LOCKED — SQLite's immediate transactions serialise claims instead).
    """
    now = timezone.now()
    with transaction.atomic():
        claims = [_decide(invocation, now, lease_s) for invocation in
                  rows.select_for_update(skip_locked=True, of=("self",)).order_by("id")]
        changed = [c.invocation for c in claims if c.run or c.invocation.status == InvocationStatus.CRASH]
        _write(changed, ["status", "attempts", "lease_until", "error", "finished_at"])
    return claims


def claim_one(lookup: dict[str, Any], defaults: dict[str, Any], *, rerun_failed: bool = False) -> Claim:
    """The row ``lookup`` names, created running if new; claimed if it may run.

    ``rerun_failed``: a finished failure runs again (a redelivery after a fix).
    """
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                invocation, created = Invocation.objects.select_for_update().get_or_create(
                    **lookup, defaults={**defaults, "status": InvocationStatus.RUNNING, "attempts": 1,
                                        "lease_until": now + lease()},
                )
                if created:
                    return Claim(invocation, True)
                if rerun_failed and invocation.status in TERMINAL and invocation.status != InvocationStatus.OK:
                    invocation.status, invocation.attempts = InvocationStatus.PENDING, 0
                claim = _decide(invocation, now)
                if claim.run or invocation.status == InvocationStatus.CRASH:
                    invocation.save(update_fields=["status", "attempts", "lease_until", "error", "finished_at"])
                return claim
        except IntegrityError:  # another worker created the row between our get and our create
            continue
    raise RuntimeError(f"could not claim the invocation {lookup}")


def release(record: Invocation, reason: str, *, commit: bool = True) -> Invocation:
    """Hand a claimed row back: pending again, its attempt not spent (nothing ran)."""
    record.status = InvocationStatus.PENDING
    record.error = reason[:500]
    record.lease_until = None
    record.attempts = max(0, record.attempts - 1)
    if commit and record.pk:
        record.save(update_fields=["status", "error", "lease_until", "attempts"])
    return record


def finish(
    record: Invocation, status: str, *, value: Any = None, error: str = "", duration_ms: float | None = None,
    peak_kb: int | None = None, logs: list[str] | None = None, report: dict[str, Any] | None = None,
    commit: bool = True,
) -> Invocation:
    """Record the outcome. The full value stays on ``record.output`` for the caller; the
    stored ``result`` and ``logs`` are capped, and the report says what was cut."""
    record.output = value
    record.status = status
    record.result, result_cut = _cap_result(value)
    record.logs, logs_cut = _cap_logs(list(logs or []))
    record.error = error
    record.duration_ms = duration_ms
    record.peak_memory_kb = peak_kb or None
    record.report = {**(report or {}), "truncated": {"result": result_cut, "logs": logs_cut}}
    record.finished_at = timezone.now()
    record.lease_until = None
    activity_log.invocation(record)
    if commit:
        _charge_logs([record])
        record.save()
    return record


def save_all(records: list[Invocation]) -> None:
    """Write many finished (or released) rows in one statement."""
    _charge_logs(records)
    with transaction.atomic():
        _write(records, _SAVED_FIELDS)


def _write(records: list[Invocation], fields: list[str]) -> None:
    """One prepared UPDATE per row, sent as a batch. Django's bulk_update builds a CASE per
    column in Python, which was most of a 100-installation fan-out's time."""
    if not records:
        return
    meta = Invocation._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    sql = (f"UPDATE {quote(meta.db_table)} SET " + ", ".join(f"{quote(c.column)} = %s" for c in columns)
           + f" WHERE {quote(meta.pk.column)} = %s")
    rows = [[c.get_db_prep_save(getattr(r, c.attname), connection) for c in columns] + [r.pk] for r in records]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _stored_bytes(record: Invocation) -> int:
    return len(json.dumps([record.logs, record.result, record.error], default=str).encode("utf-8"))


def _charge_logs(records: list[Invocation]) -> None:
    """Count what these rows store against their tenants' daily log budgets; a tenant over
    it keeps the outcome, but the logs and the result are replaced by a note saying why."""
    by_tenant: dict[int, list[Invocation]] = {}
    for record in records:
        if record.finished_at is not None:
            by_tenant.setdefault(record.tenant_id, []).append(record)
    for tenant_id, rows in by_tenant.items():
        if usage.charge_log(tenant_id, sum(_stored_bytes(r) for r in rows)):
            continue
        for record in rows:
            record.logs = ["[plugyard: this tenant's invocation log is over its daily budget; logs and "
                           "results are not stored until tomorrow (PLUGYARD_TENANT_LOG_BYTES_PER_DAY)]"]
            record.result = None
            record.report = {**(record.report or {}), "over_log_budget": True}


def _cap_result(value: Any) -> tuple[Any, bool]:
    limit = settings.PLUGYARD_INVOCATION_MAX_RESULT_BYTES
    if value is None:
        return None, False
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text.encode("utf-8")) <= limit:
        return value, False
    return {"truncated": True, "bytes": len(text.encode("utf-8")), "preview": text[:1000]}, True


def _cap_logs(lines: list[str]) -> tuple[list[str], bool]:
    limit = settings.PLUGYARD_INVOCATION_MAX_LOG_BYTES
    kept: list[str] = []
    size = 0
    for line in lines[-_LOG_LINES_KEPT:]:
        size += len(line.encode("utf-8")) + 1
        if size > limit:
            dropped = len(lines) - len(kept)
            return kept + [f"[plugyard: {dropped} more log line(s) not stored: the log limit is {limit} bytes]"], True
        kept.append(line)
    if len(lines) > _LOG_LINES_KEPT:
        return [f"[plugyard: {len(lines) - _LOG_LINES_KEPT} earlier log line(s) not stored]", *kept], True
    return kept, False
