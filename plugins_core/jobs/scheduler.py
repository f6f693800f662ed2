"""The Ops-Center scheduler (``plugin.scheduler.*``), persisted per installation.

The host bridge forwards ``scheduler.<name>`` calls here as ``<name>(installation, **args)``
with the SDK's argument names. Tasks are :class:`ScheduledTask` rows, so they survive
restarts: cron tasks fire from beat (a PeriodicTask each), one-shots from the
``run_due_scheduled_tasks`` sweep. Each firing is a :class:`JobRun` whose invocation calls
the plugin function ``handler`` with ``kwargs`` (kind ``task``).

Times: cron fields are in the tenant's time zone; a ``run_at`` without an offset is UTC,
which is the sandbox's clock (``datetime.now()`` in plugin code).

Every refusal is a :class:`~plugins_core.host.errors.HostCallError` whose message names the
argument (``cron: …``) and is shown to the plugin.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from plugins_core.host.errors import BadArguments, QuotaExceeded
from plugins_core.jobs.models import ScheduledTask, ScheduleKind, ScheduleStatus
from plugins_core.jobs.schedules import CronError, next_run, parse_cron, tenant_zone
from plugins_core.jobs.sync import apply_to_beat, drop_from_beat

__all__ = ["cancel", "cancel_all", "get_tasks", "run_at", "run_in", "schedule"]

MAX_ACTIVE_TASKS = 100
MAX_KWARGS_BYTES = 64 * 1024
MAX_AHEAD = dt.timedelta(days=366)
MAX_NAME = 200


def _check_handler(installation, handler: Any) -> str:
    """A handler is the name of one of the plugin's module-level functions."""
    if not isinstance(handler, str) or not handler.isidentifier() or handler.startswith("__") or len(handler) > MAX_NAME:
        raise BadArguments(f"handler: {handler!r} is not a function name; pass the plugin function itself")
    known = (installation.version.load_report or {}).get("functions")
    if isinstance(known, list) and handler not in known:
        raise BadArguments(f"handler: the plugin has no module-level function {handler!r}")
    return handler


def _check_kwargs(kwargs: Any) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) and key.isidentifier() for key in kwargs):
        raise BadArguments("kwargs: keyword arguments must be an object with identifier keys")
    try:
        size = len(json.dumps(kwargs))
    except (TypeError, ValueError):
        raise BadArguments("kwargs: keyword arguments must be JSON values") from None
    if size > MAX_KWARGS_BYTES:
        raise BadArguments(f"kwargs: at most {MAX_KWARGS_BYTES} bytes of keyword arguments")
    return kwargs


def _active(installation):
    return ScheduledTask.objects.for_tenant(installation.tenant).filter(
        installation=installation, kind__in=[ScheduleKind.CRON, ScheduleKind.ONCE], status=ScheduleStatus.ACTIVE
    )


def _check_quota(installation, replacing: bool = False) -> None:
    if not replacing and _active(installation).count() >= MAX_ACTIVE_TASKS:
        raise QuotaExceeded(f"at most {MAX_ACTIVE_TASKS} scheduled tasks per installation; cancel some first")


def _once(installation, when: dt.datetime, handler: Any, kwargs: Any) -> str:
    handler = _check_handler(installation, handler)
    kwargs = _check_kwargs(kwargs)
    now = timezone.now()
    if when - now > MAX_AHEAD:
        raise BadArguments("when: at most 366 days ahead")
    with transaction.atomic():
        _check_quota(installation)
        task = ScheduledTask.objects.create(
            tenant_id=installation.tenant_id, installation=installation, kind=ScheduleKind.ONCE,
            name=handler, handler=handler, kwargs=kwargs, run_at=max(when, now),
        )
    return task.task_id


def run_at(installation, when: Any, handler: Any, kwargs: Any = None) -> str:
    """Run ``handler(**kwargs)`` once at ``when`` (ISO 8601); returns the task id."""
    moment = parse_datetime(when) if isinstance(when, str) else when if isinstance(when, dt.datetime) else None
    if moment is None:
        raise BadArguments(f"when: {when!r} is not an ISO 8601 date-time")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return _once(installation, moment, handler, kwargs)


def run_in(installation, delay_seconds: Any, handler: Any, kwargs: Any = None) -> str:
    """Run ``handler(**kwargs)`` once, ``delay_seconds`` from now; returns the task id."""
    if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int | float) or not math.isfinite(delay_seconds):
        raise BadArguments("delay_seconds: give a number of seconds")
    if delay_seconds < 0:
        raise BadArguments("delay_seconds: must not be negative")
    if delay_seconds > MAX_AHEAD.total_seconds():
        raise BadArguments("delay_seconds: at most 366 days")
    return _once(installation, timezone.now() + dt.timedelta(seconds=delay_seconds), handler, kwargs)


def schedule(installation, cron: Any, task_name: Any, handler: Any, kwargs: Any = None) -> str:
    """Run ``handler(**kwargs)`` on ``cron`` (tenant's time zone) as ``task_name``.

    Scheduling a task_name again replaces it (so ``on_enable`` may run many times).
    """
    try:
        cron = parse_cron(cron, field="cron")
    except CronError as exc:
        raise BadArguments(exc.message) from None
    if not isinstance(task_name, str) or not task_name.strip() or len(task_name) > MAX_NAME:
        raise BadArguments("task_name: give a name of at most 200 characters")
    handler = _check_handler(installation, handler)
    kwargs = _check_kwargs(kwargs)
    with transaction.atomic():
        task = (
            ScheduledTask.objects.for_tenant(installation.tenant)
            .select_for_update(of=("self",))
            .filter(installation=installation, kind=ScheduleKind.CRON, name=task_name)
            .select_related("periodic_task")
            .first()
        )
        _check_quota(installation, replacing=task is not None and task.status == ScheduleStatus.ACTIVE)
        if task is None:
            task = ScheduledTask.objects.create(
                tenant_id=installation.tenant_id, installation=installation, kind=ScheduleKind.CRON,
                name=task_name, handler=handler, kwargs=kwargs, cron=cron, declared_cron=cron,
            )
        else:
            task.handler, task.kwargs, task.cron, task.declared_cron = handler, kwargs, cron, cron
            task.status = ScheduleStatus.ACTIVE
            task.save(update_fields=["handler", "kwargs", "cron", "declared_cron", "status", "updated_at"])
        task.installation = installation
        apply_to_beat(task)
    return task.task_id


def cancel(installation, task_id: Any) -> bool:
    """Cancel one of the installation's tasks; False if it has no active task with that id."""
    if not isinstance(task_id, str):
        raise BadArguments("task_id: give the id schedule/run_at/run_in returned")
    with transaction.atomic():
        task = _active(installation).select_related("periodic_task").filter(task_id=task_id).first()
        if task is None:
            return False
        drop_from_beat(task)
        task.status = ScheduleStatus.CANCELLED
        task.save(update_fields=["status", "periodic_task", "updated_at"])
    return True


def cancel_all(installation) -> int:
    """Cancel every scheduler task of the installation (its manifest jobs stay)."""
    with transaction.atomic():
        tasks = list(_active(installation).select_related("periodic_task"))
        for task in tasks:
            drop_from_beat(task)
        _active(installation).update(status=ScheduleStatus.CANCELLED, periodic_task=None)
    return len(tasks)


def describe(task: ScheduledTask, zone=None) -> dict[str, Any]:
    zone = zone or tenant_zone(task.installation.tenant)
    upcoming = task.run_at if task.kind == ScheduleKind.ONCE else next_run(task.cron, zone) if task.cron else None
    return {
        "id": task.task_id,
        "type": "cron" if task.kind == ScheduleKind.CRON else "once",
        "task_name": task.name if task.kind == ScheduleKind.CRON else None,
        "handler": task.handler,
        "cron": task.cron or None,
        "timezone": zone.key,
        "run_at": task.run_at.isoformat() if task.run_at else None,
        "next_run": upcoming.isoformat() if upcoming and task.status == ScheduleStatus.ACTIVE else None,
        "kwargs": task.kwargs,
        "status": "paused" if task.paused else task.status,
    }


def get_tasks(installation) -> list[dict[str, Any]]:
    """The installation's active scheduler tasks, soonest first."""
    zone = tenant_zone(installation.tenant)
    tasks = [describe(task, zone) for task in _active(installation).select_related("installation__tenant")]
    return sorted(tasks, key=lambda t: t["next_run"] or "9999")
