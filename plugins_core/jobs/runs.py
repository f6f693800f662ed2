"""Runs: creating them (beat slot, run-now, one-shot), executing them once, recovering lost ones.

A run is a :class:`JobRun` plus its :class:`Invocation` (status ``pending`` until a worker
claims it). Executing one:

1. take the job's lock (no two runs of one job overlap; a cron slot that finds the
   previous run still going is *skipped*, a run-now or one-shot waits for it);
2. claim the invocation (``pending`` → ``running`` with a lease), so a redelivered message
   never runs it again while it runs, nor after it finished;
3. ``runner.invoke`` under the job deadline; the runner records the outcome.

A worker killed mid-run leaves a ``running`` invocation whose lease runs out, or a
``pending`` one nobody has; :func:`recover` sends both again (a beat task).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from plugins_core import invocations, queue, runner
from plugins_core.jobs import locks
from plugins_core.jobs.errors import PluginDisabled, UnknownJob
from plugins_core.jobs.models import (
    JobRun,
    RunKind,
    ScheduledTask,
    ScheduleKind,
    ScheduleStatus,
    Trigger,
)
from plugins_core.jobs.schedules import declared_jobs, slot_at, tenant_zone
from plugins_core.jobs.sync import RUN_TASK
from plugins_core.models import TERMINAL_STATUSES, Installation, Invocation, InvocationStatus

__all__ = [
    "Outcome", "execute", "execute_many", "fire_due_once", "fire_scheduled", "fire_scheduled_many", "queue_run_now",
    "recover",
]

log = logging.getLogger(__name__)

TERMINAL = TERMINAL_STATUSES
_RELATED = ("invocation", "installation__tenant", "installation__plugin", "installation__version", "scheduled_task")


RECORD_EVERY_S = 0.1  # how often execute_many writes the outcomes of the runs that finished


def job_timeout() -> float:
    return float(settings.PLUGYARD_SANDBOX["job_timeout_s"])


def lease_seconds() -> float:
    """How long a run may hold its lock and claim: the deadline plus room to start a sandbox."""
    return job_timeout() + 30.0


@dataclass(frozen=True)
class Outcome:
    ran: bool
    retry_after: float = 0.0  # > 0: try again then (a run-now waiting for the previous run)


def _create(installation: Installation, *, kind: str, name: str, call_name: str, trigger: str,
            slot: dt.datetime | None = None, scheduled_task: ScheduledTask | None = None, user=None) -> JobRun:
    """A run and its pending invocation; IntegrityError if the slot has a run already."""
    with transaction.atomic():
        invocation = Invocation.objects.create(
            tenant_id=installation.tenant_id, installation=installation, kind=kind, name=call_name,
            status=InvocationStatus.PENDING,
        )
        return JobRun.objects.create(
            tenant_id=installation.tenant_id, installation=installation, scheduled_task=scheduled_task, kind=kind,
            name=name, trigger=trigger, slot=slot, invocation=invocation,
            requested_by=user if getattr(user, "pk", None) else None, sent_at=timezone.now(),
        )


def send(run_id: int) -> None:
    """Queue a run's execution; if the broker is down, :func:`recover` sends it later."""
    queue.now("plugins_core.jobs.tasks.execute_run", run_id)


def queue_run_now(installation: Installation, job_name: str, user=None) -> JobRun:
    """Queue a run of one of the installation's jobs now (the API's run-now)."""
    jobs = {spec.name: spec for spec in declared_jobs(installation.version)}
    if job_name not in jobs:
        raise UnknownJob(job_name, sorted(jobs))
    if not installation.enabled:
        raise PluginDisabled(installation.plugin.slug)
    schedule = (
        ScheduledTask.objects.for_tenant(installation.tenant)
        .filter(installation=installation, kind=ScheduleKind.JOB, name=job_name).first()
    )
    run = _create(installation, kind=RunKind.JOB, name=job_name, call_name=job_name, trigger=Trigger.RUN_NOW,
                  scheduled_task=schedule, user=user)
    transaction.on_commit(lambda: send(run.pk))
    return run


def _firing(task: ScheduledTask, sent_at: dt.datetime) -> dt.datetime | None:
    """The slot a firing of ``task`` sent at ``sent_at`` is for, or None if it is off."""
    if task.status != ScheduleStatus.ACTIVE or task.paused or not task.installation.enabled or not task.cron:
        log.info("%s is off; firing ignored", task)
        return None
    return slot_at(task.cron, tenant_zone(task.installation.tenant), sent_at)


def _call_of(task: ScheduledTask) -> dict:
    return {"kind": task.run_kind, "name": task.name, "scheduled_task": task,
            "call_name": task.name if task.kind == ScheduleKind.JOB else task.handler,
            "trigger": Trigger.SCHEDULE if task.kind == ScheduleKind.JOB else Trigger.SCHEDULER}


def fire_scheduled(schedule_id: int, sent_at: dt.datetime) -> JobRun | None:
    """Beat's firing of a cron schedule: the run for its slot, or None (off, gone, or done).

    The slot comes from when beat sent the message, so a message beat sends again for the
    same slot (a restart before it saved ``last_run_at``) finds that slot's run and stops.
    """
    task = ScheduledTask.objects.select_related("installation__tenant", "installation__plugin").filter(pk=schedule_id).first()
    if task is None:
        _drop_orphan(schedule_id)
        return None
    slot = _firing(task, sent_at)
    if slot is None:
        return None
    installation = task.installation
    try:
        return _create(installation, slot=slot, **_call_of(task))
    except IntegrityError:
        existing = JobRun.objects.select_related("invocation").filter(
            installation=installation, kind=task.run_kind, name=task.name, slot=slot).first()
        return _carry_on(existing, task, slot)


def _carry_on(existing: JobRun | None, task: ScheduledTask, slot: dt.datetime) -> JobRun | None:
    """A firing for a slot that has its run: that run if it never finished, else nothing."""
    log.info("skipping duplicate firing of %s for slot %s", task, slot.isoformat())
    # A redelivered message of a run that never finished carries on with that run.
    if existing is not None and existing.invocation.status not in TERMINAL:
        return existing
    return None


def fire_scheduled_many(schedule_ids: list[int], sent_at: dt.datetime) -> list[JobRun]:
    """:func:`fire_scheduled` for one beat message's worth of schedules, filed in bulk.

    The slots' runs and their invocations are created in one transaction. If another worker
    files one of the same slots meanwhile (a redelivered message), the unique slot refuses
    the batch and each schedule is filed alone, as :func:`fire_scheduled` does.
    """
    tasks = {task.pk: task for task in ScheduledTask.objects.select_related(
        "installation__tenant", "installation__plugin").filter(pk__in=schedule_ids)}
    for gone in set(schedule_ids) - set(tasks):
        _drop_orphan(gone)
    due = [(task, slot) for task in tasks.values() if (slot := _firing(task, sent_at)) is not None]
    if not due:
        return []
    existing = {(run.installation_id, run.kind, run.name, run.slot): run for run in JobRun.objects.select_related(
        "invocation").filter(installation_id__in={t.installation_id for t, _ in due}, slot__in={s for _, s in due})}
    carried, new = [], []
    for task, slot in due:
        key = (task.installation_id, task.run_kind, task.name, slot)
        if key in existing:
            if (run := _carry_on(existing[key], task, slot)) is not None:
                carried.append(run)
        else:
            new.append((task, slot))
    try:
        return carried + _create_many(new)
    except IntegrityError:
        return carried + [run for task, slot in new if (run := fire_scheduled(task.pk, sent_at)) is not None]


def _create_many(due: list[tuple[ScheduledTask, dt.datetime]]) -> list[JobRun]:
    """:func:`_create` for many slots, in one transaction: two INSERTs in all."""
    now = timezone.now()
    calls = [(task, slot, _call_of(task)) for task, slot in due]
    with transaction.atomic():
        records = Invocation.objects.bulk_create([
            Invocation(tenant_id=task.installation.tenant_id, installation=task.installation, kind=call["kind"],
                       name=call["call_name"], status=InvocationStatus.PENDING) for task, _, call in calls])
        return JobRun.objects.bulk_create([
            JobRun(tenant_id=task.installation.tenant_id, installation=task.installation, scheduled_task=task,
                   kind=call["kind"], name=call["name"], trigger=call["trigger"], slot=slot, invocation=record,
                   sent_at=now)
            for (task, slot, call), record in zip(calls, records, strict=True)])


def _drop_orphan(schedule_id: int) -> None:
    PeriodicTask.objects.filter(task=RUN_TASK, kwargs=json.dumps({"schedule_id": schedule_id})).delete()


def fire_due_once(now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Turn due one-shots into runs (each exactly once) and queue them; returns run ids."""
    now = now or timezone.now()
    due = list(
        ScheduledTask.objects.filter(kind=ScheduleKind.ONCE, status=ScheduleStatus.ACTIVE, run_at__lte=now)
        .select_related("installation__tenant").order_by("run_at")[:limit]
    )
    run_ids = []
    for task in due:
        with transaction.atomic():
            # Whoever flips it to done fires it; a concurrent sweep finds nothing to flip.
            if not ScheduledTask.objects.filter(pk=task.pk, status=ScheduleStatus.ACTIVE).update(status=ScheduleStatus.DONE):
                continue
            if not task.installation.enabled:
                ScheduledTask.objects.filter(pk=task.pk).update(status=ScheduleStatus.CANCELLED)
                continue
            run = _create(task.installation, kind=RunKind.TASK, name=task.name, call_name=task.handler,
                          trigger=Trigger.SCHEDULER, scheduled_task=task)
            transaction.on_commit(lambda run_id=run.pk: send(run_id))
        run_ids.append(run.pk)
    return run_ids


def _holder(run: JobRun) -> str:
    return f"run:{run.pk}"


def execute(run_id: int) -> Outcome:
    """Run a queued run to completion, at most once; see the module docstring."""
    run = JobRun.objects.select_related(*_RELATED).filter(pk=run_id).first()
    if run is None or run.invocation.status in TERMINAL:
        return Outcome(False)
    if not locks.acquire(run.installation_id, run.kind, run.name, _holder(run), lease_seconds()):
        if run.slot is None:  # run-now and one-shots wait their turn; a cron slot is skipped
            return Outcome(False, retry_after=max(1.0, locks.remaining(run.installation_id, run.kind, run.name)))
        _skip([run])
        return Outcome(False)
    claims = invocations.claim_rows(Invocation.objects.filter(pk=run.invocation_id), lease_s=lease_seconds())
    claimed = _claimed([run], claims)
    if claimed:
        _run_claimed(claimed[0])
    return Outcome(bool(claimed))


def execute_many(run_ids: list[int]) -> None:
    """Run many cron runs (one beat message's worth) to completion, each at most once.

    As :func:`execute` for each, in bulk on the database: the locks, the claims and the
    start times of the message's runs are a transaction each, and the runs are made at the
    same time through the sandbox service. Their outcomes are written (and their jobs'
    locks freed) as they finish, in one transaction per ``RECORD_EVERY_S``: on SQLite a
    transaction per run was most of a run's cost, each waiting for the write lock.
    ``started_at`` is when the run was claimed and its call queued, the same instant for
    the message's runs; the call itself begins as a call thread is free.
    """
    runs = [run for run in JobRun.objects.select_related(*_RELATED).filter(pk__in=run_ids).order_by("pk")
            if run.invocation.status not in TERMINAL]
    held = locks.acquire_many([(run.installation_id, run.kind, run.name, _holder(run)) for run in runs],
                              lease_seconds())
    _skip([run for run in runs if _holder(run) not in held])
    mine = [run for run in runs if _holder(run) in held]
    if not mine:
        return
    claims = invocations.claim_rows(Invocation.objects.filter(pk__in=[run.invocation_id for run in mine]),
                                    lease_s=lease_seconds())
    claimed = _claimed(mine, claims)
    JobRun.objects.filter(pk__in=[run.pk for run in claimed]).update(started_at=timezone.now())
    for finished in runner.finished_in_groups(_call, claimed, RECORD_EVERY_S):
        _record(finished)


def _skip(runs: list[JobRun]) -> None:
    """Cron slots whose job was still running: recorded as skipped, never run late."""
    for run in runs:
        Invocation.objects.filter(pk=run.invocation_id, status=InvocationStatus.PENDING).update(
            status=InvocationStatus.SKIPPED, finished_at=timezone.now(),
            error=f"skipped: the previous run of {run.name!r} was still running",
        )


def _claimed(runs: list[JobRun], claims: list[invocations.Claim]) -> list[JobRun]:
    """The runs whose invocation this worker claimed, each carrying its claimed row.

    A run not claimed is another worker's (which holds the lock under the same holder), or
    was given up after its attempts: then its lock is freed here.
    """
    by_invocation = {claim.invocation.pk: claim for claim in claims}
    claimed = []
    for run in runs:
        claim = by_invocation.get(run.invocation_id)
        if claim is not None and claim.run:
            run.invocation = claim.invocation
            claimed.append(run)
        elif claim is not None and claim.invocation.status in TERMINAL:
            locks.release(run.installation_id, run.kind, run.name, _holder(run))
    return claimed


def _run_claimed(run: JobRun) -> None:
    """Start one claimed run, call it, record it and free its job's lock."""
    JobRun.objects.filter(pk=run.pk).update(started_at=timezone.now())
    _record([_call(run)])


def _call(run: JobRun) -> JobRun:
    """Call a claimed run's job or task under the job deadline; its record is filled in, not saved."""
    invocation = run.invocation
    if run.kind == RunKind.JOB:
        name, payload = run.name, None
    else:
        name, payload = invocation.name, dict(run.scheduled_task.kwargs) if run.scheduled_task else {}
    try:
        runner.invoke(run.installation, kind=run.kind, name=name, payload=payload, record=invocation,
                      timeout=job_timeout(), commit=False)
    except Exception:  # a host fault, not the plugin's: its lease runs out and recovery runs it again
        log.exception("run %s of %s failed on the host", run.pk, run.installation)
    return run


def _record(runs: list[JobRun]) -> None:
    """Write finished runs' outcomes and free their jobs' locks, in one transaction."""
    with transaction.atomic():
        invocations.save_all([run.invocation for run in runs if run.invocation.finished_at is not None])
        locks.release_many([_holder(run) for run in runs])


def recover(stale_after_s: float = 60.0, limit: int = 500) -> int:
    """Send again runs nobody is running: pending and unsent for a while, or whose lease ran out.

    A run whose workers died PLUGYARD_INVOCATION_MAX_ATTEMPTS times is given up by its next
    claim, recorded as a crash that says so.
    """
    now = timezone.now()
    stale = now - dt.timedelta(seconds=stale_after_s)
    runs = list(
        JobRun.objects.filter(
            Q(invocation__status=InvocationStatus.PENDING, sent_at__lt=stale)
            | Q(invocation__status=InvocationStatus.RUNNING, invocation__lease_until__lt=now)
        ).select_related("invocation").order_by("queued_at")[:limit]
    )
    sent = 0
    for run in runs:
        # A run whose every attempt died is given up by its claim (invocations.claim_rows).
        JobRun.objects.filter(pk=run.pk).update(sent_at=now)
        send(run.pk)
        sent += 1
    return sent
