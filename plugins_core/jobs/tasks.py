"""Celery tasks for jobs: beat's firings, run execution, the one-shot sweep and recovery.

Beat sends the cron schedules due together as ``run_scheduled_batch`` messages of up to
``PLUGYARD_JOBS_PER_MESSAGE`` schedules (``plugins_core.jobs.beat``); ``run_scheduled`` is
one schedule's firing (a beat that is not ours sends those). Beat stamps each with the time
it sent it (a message header, set in the beat process by :func:`_stamp_sent_at`); the
worker files the runs under the cron slot of that time, however long the message waited.
"""
from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from celery.signals import before_task_publish
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from plugins_core.jobs import runs

__all__ = ["execute_run", "recover_job_runs", "run_due_scheduled_tasks", "run_scheduled", "run_scheduled_batch"]

log = logging.getLogger(__name__)

SENT_AT_HEADER = "plugyard_sent_at"
RUN_SCHEDULED = "plugins_core.jobs.tasks.run_scheduled"
RUN_SCHEDULED_BATCH = "plugins_core.jobs.tasks.run_scheduled_batch"


@before_task_publish.connect(dispatch_uid="plugyard_stamp_sent_at")
def _stamp_sent_at(sender=None, headers=None, **kwargs) -> None:
    if sender in (RUN_SCHEDULED, RUN_SCHEDULED_BATCH) and headers is not None and SENT_AT_HEADER not in headers:
        headers[SENT_AT_HEADER] = dt.datetime.now(dt.UTC).isoformat()


def _sent_at(request) -> dt.datetime:
    raw = getattr(request, SENT_AT_HEADER, None) or (getattr(request, "headers", None) or {}).get(SENT_AT_HEADER)
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    return moment or timezone.now()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_scheduled(self, schedule_id: int) -> None:
    """Beat's firing of a job or scheduler cron task: file it under its slot, run it here."""
    run = runs.fire_scheduled(schedule_id, _sent_at(self.request))
    if run is not None:
        runs.execute(run.pk)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_scheduled_batch(self, schedule_ids: list[int]) -> None:
    """Beat's firing of the cron schedules due together: their runs filed in bulk, run at once."""
    filed = runs.fire_scheduled_many([int(pk) for pk in schedule_ids], _sent_at(self.request))
    runs.execute_many([run.pk for run in filed])


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None)
def execute_run(self, run_id: int) -> None:
    """Execute a queued run (run-now, one-shot, or one sent again by recovery)."""
    outcome = runs.execute(run_id)
    if outcome.retry_after > 0:
        raise self.retry(countdown=outcome.retry_after)


@shared_task(ignore_result=True)
def run_due_scheduled_tasks() -> int:
    """Fire the scheduler's due one-shots (beat, every 10 s)."""
    return len(runs.fire_due_once())


@shared_task(ignore_result=True)
def recover_job_runs() -> int:
    """Send again runs a dead worker or a down broker left behind (beat, every 30 s)."""
    return runs.recover()
