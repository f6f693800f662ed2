"""Keeping beat's rows in line with installations: one PeriodicTask per cron-kind ScheduledTask.

* enabled installation → each declared job has an enabled PeriodicTask (a paused one stays off);
* disabled → job rows stay, switched off; scheduler tasks (cron and one-shots) are cancelled;
* upgrade → jobs added, removed, rescheduled to what the new version declares;
* uninstall → every row goes (and a ScheduledTask deleted any other way takes its beat row).

PeriodicTask rows are only saved when something changed: every save makes beat reload its
whole schedule, which matters with thousands of installations.
"""
from __future__ import annotations

import json
import logging

from django.db import transaction

from plugins_core.jobs.models import ScheduledTask, ScheduleKind, ScheduleStatus
from plugins_core.jobs.schedules import (
    CronError,
    crontab_row,
    declared_jobs,
    parse_cron,
    period_seconds,
    tenant_zone,
)

__all__ = ["RUN_TASK", "apply_to_beat", "drop_from_beat", "remove_installation_jobs", "sync_installation_jobs"]

log = logging.getLogger(__name__)

RUN_TASK = "plugins_core.jobs.tasks.run_scheduled"


def beat_name(task: ScheduledTask) -> str:
    installation = task.installation
    return f"plugyard:{task.task_id} {installation.plugin.slug}@{installation.tenant.slug} {task.kind} {task.name}"[:200]


def should_fire(task: ScheduledTask) -> bool:
    return bool(task.installation.enabled and task.status == ScheduleStatus.ACTIVE and not task.paused)


def apply_to_beat(task: ScheduledTask) -> None:
    """Create or update the task's PeriodicTask (cron kinds only)."""
    from django_celery_beat.models import PeriodicTask

    if task.kind == ScheduleKind.ONCE:
        return
    zone = tenant_zone(task.installation.tenant)
    # A message not picked up before the next slot is dropped: late runs coalesce, never pile up.
    expire = int(max(60, min(period_seconds(task.cron, zone), 3600)))
    wanted = {
        "name": beat_name(task),
        "task": RUN_TASK,
        "kwargs": json.dumps({"schedule_id": task.pk}),
        "crontab": crontab_row(task.cron, zone),
        "enabled": should_fire(task),
        "expire_seconds": expire,
        "description": f"Plugin {task.kind} {task.name!r} of {task.installation}; edit it under Plugins › Schedules.",
    }
    periodic = task.periodic_task
    if periodic is None:
        periodic = PeriodicTask.objects.create(**wanted)
        ScheduledTask.objects.filter(pk=task.pk).update(periodic_task=periodic)
        task.periodic_task = periodic
        return
    changed = [key for key, value in wanted.items() if getattr(periodic, key) != value]
    if changed:
        for key in changed:
            setattr(periodic, key, wanted[key])
        periodic.save()


def drop_from_beat(task: ScheduledTask) -> None:
    from django_celery_beat.models import PeriodicTask

    if task.periodic_task_id:
        PeriodicTask.objects.filter(pk=task.periodic_task_id).delete()
        task.periodic_task = None


def _tasks(installation):
    return (
        ScheduledTask.objects.for_tenant(installation.tenant)
        .filter(installation=installation)
        .select_related("periodic_task", "installation__tenant", "installation__plugin")
    )


def sync_installation_jobs(installation) -> None:
    """Make the installation's beat rows match its version's jobs and its on/off switch."""
    with transaction.atomic():
        existing = {task.name: task for task in _tasks(installation).filter(kind=ScheduleKind.JOB)}
        for spec in declared_jobs(installation.version):
            try:
                cron = parse_cron(spec.schedule, field=f"jobs.{spec.name}.schedule")
            except CronError as exc:  # upload validation refuses these; never break enable over one
                log.warning("%s: job %s not scheduled: %s", installation, spec.name, exc)
                continue
            task = existing.pop(spec.name, None)
            if task is None:
                task = ScheduledTask.objects.create(
                    tenant_id=installation.tenant_id, installation=installation, kind=ScheduleKind.JOB,
                    name=spec.name, handler=spec.handler or "", cron=cron, declared_cron=cron,
                )
                task.installation = installation
            else:
                task.installation = installation
                updates = {}
                if task.declared_cron != cron:  # the plugin declares a new schedule: it wins over an edit
                    updates.update(cron=cron, declared_cron=cron)
                if task.handler != (spec.handler or ""):
                    updates["handler"] = spec.handler or ""
                if task.status != ScheduleStatus.ACTIVE:
                    updates["status"] = ScheduleStatus.ACTIVE
                if updates:
                    for key, value in updates.items():
                        setattr(task, key, value)
                    task.save(update_fields=[*updates, "updated_at"])
            apply_to_beat(task)
        for gone in existing.values():  # jobs the version no longer has
            gone.delete()  # its PeriodicTask goes with it (models.py, post_delete)

        scheduler_tasks = _tasks(installation).filter(kind__in=[ScheduleKind.CRON, ScheduleKind.ONCE],
                                                      status=ScheduleStatus.ACTIVE)
        if installation.enabled:
            for task in scheduler_tasks.filter(kind=ScheduleKind.CRON):
                task.installation = installation
                apply_to_beat(task)
        else:
            for task in scheduler_tasks:
                drop_from_beat(task)
            scheduler_tasks.update(status=ScheduleStatus.CANCELLED, periodic_task=None)


def remove_installation_jobs(installation) -> None:
    """Delete every schedule of the installation and its beat rows (at uninstall)."""
    with transaction.atomic():
        for task in _tasks(installation):
            task.delete()
