"""Schedules, runs and run locks of plugin jobs and Ops-Center scheduler tasks.

* :class:`ScheduledTask` — one row per thing that fires: a manifest/``@job`` job
  (kind ``job``), a ``plugin.scheduler.schedule(cron=…)`` task (kind ``cron``) or a
  ``run_at``/``run_in`` one-shot (kind ``once``). Cron kinds own one django-celery-beat
  ``PeriodicTask`` each; one-shots are found by the ``run_due_scheduled_tasks`` sweep.
* :class:`JobRun` — one firing (schedule, run-now or scheduler). The outcome (status,
  duration, logs, result, error) lives on its :class:`~plugins_core.models.Invocation`,
  the one source of truth for every call of plugin code; a run only adds *why* and *when*.
  ``(installation, kind, name, slot)`` is unique, so a cron slot fires at most once even
  when beat restarts and sends it again.
* :class:`JobLock` — a lease per ``(installation, kind, name)`` so two runs of the same job
  never overlap, on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver

from tenants.scoping import TenantOwned, TenantQuerySet

__all__ = ["JobLock", "JobRun", "RunKind", "ScheduleKind", "ScheduleStatus", "ScheduledTask", "Trigger"]


def new_task_id() -> str:
    return f"tsk_{secrets.token_hex(10)}"


class ScheduleKind(models.TextChoices):
    JOB = "job", "Job (manifest / @job)"
    CRON = "cron", "Scheduler cron task"
    ONCE = "once", "Scheduler one-shot"


class ScheduleStatus(models.TextChoices):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    DONE = "done"  # a one-shot that has fired


class RunKind(models.TextChoices):
    JOB = "job"  # runs the plugin's job by name
    TASK = "task"  # runs a plugin function by name with kwargs (Ops-Center scheduler)


class Trigger(models.TextChoices):
    SCHEDULE = "schedule"
    RUN_NOW = "run-now"
    SCHEDULER = "scheduler"


class ScheduledTask(TenantOwned):
    """Something of one installation that fires on a cron or at a time."""

    installation = models.ForeignKey("plugins_core.Installation", on_delete=models.CASCADE, related_name="scheduled_tasks")
    task_id = models.CharField(max_length=32, unique=True, default=new_task_id, editable=False)
    kind = models.CharField(max_length=8, choices=ScheduleKind.choices)
    name = models.CharField(max_length=200, help_text="Job name, the scheduler's task_name, or the handler of a one-shot.")
    handler = models.CharField(max_length=200, blank=True, help_text="The plugin function a task calls.")
    kwargs = models.JSONField(default=dict, blank=True)
    cron = models.CharField(max_length=120, blank=True, help_text="In the tenant's time zone. Edit here to reschedule.")
    declared_cron = models.CharField(
        max_length=120, blank=True, editable=False,
        help_text="What the plugin declared; a new declaration (upgrade) replaces an edited cron.",
    )
    run_at = models.DateTimeField(null=True, blank=True, help_text="When a one-shot fires.")
    status = models.CharField(max_length=10, choices=ScheduleStatus.choices, default=ScheduleStatus.ACTIVE)
    paused = models.BooleanField(default=False, help_text="Paused by staff: stays off until unpaused.")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["installation_id", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["installation", "kind", "name"], name="scheduled_task_once_per_name",
                condition=models.Q(kind__in=["job", "cron"]),
            ),
        ]
        indexes = [models.Index(fields=["kind", "status", "run_at"], name="scheduled_task_due")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} of installation {self.installation_id}"

    @property
    def run_kind(self) -> str:
        return RunKind.JOB if self.kind == ScheduleKind.JOB else RunKind.TASK


class JobRun(TenantOwned):
    """One firing of a job or task; its outcome is its invocation's."""

    installation = models.ForeignKey("plugins_core.Installation", on_delete=models.CASCADE, related_name="job_runs")
    scheduled_task = models.ForeignKey(ScheduledTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    kind = models.CharField(max_length=8, choices=RunKind.choices)
    name = models.CharField(max_length=200, help_text="The job name, or the scheduled task's name.")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    slot = models.DateTimeField(null=True, blank=True, help_text="The cron slot this run is for (scheduled runs).")
    invocation = models.OneToOneField("plugins_core.Invocation", on_delete=models.CASCADE, related_name="job_run")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    queued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Last time its execution was queued.")
    started_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            # Beat may send a slot twice (restart before it saved last_run_at): one run wins.
            models.UniqueConstraint(fields=["installation", "kind", "name", "slot"], name="job_run_once_per_slot",
                                    condition=models.Q(slot__isnull=False)),
        ]
        indexes = [models.Index(fields=["installation", "kind", "name", "queued_at"], name="job_run_browse")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.trigger})"

    @property
    def status(self) -> str:
        return self.invocation.status


class JobLock(models.Model):
    """A lease on running one (installation, kind, name); expires if its holder dies."""

    TENANT_PATH = "installation__tenant"

    installation = models.ForeignKey("plugins_core.Installation", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=RunKind.choices)
    name = models.CharField(max_length=200)
    holder = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["installation", "kind", "name"], name="job_lock_once")]

    def __str__(self) -> str:
        return f"lock {self.kind} {self.name} of installation {self.installation_id}"


@receiver(post_delete, sender=ScheduledTask, dispatch_uid="plugyard_scheduled_task_beat_row")
def _drop_beat_row(sender, instance: ScheduledTask, **kwargs) -> None:
    """A schedule deleted any way (uninstall cascade, admin) takes its beat row with it."""
    if instance.periodic_task_id:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()
