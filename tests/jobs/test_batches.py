"""Cron firings in batches: beat sends the schedules due together in one message, a worker
files their runs in bulk and runs them at once — with the same once-per-slot, never-overlap
rules as one firing at a time (``test_runs.py``)."""
from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from django.db import IntegrityError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app
from plugins_core.jobs import beat, locks, runs, scheduler, tasks
from plugins_core.jobs.models import JobLock, JobRun, RunKind, ScheduledTask, ScheduleKind
from plugins_core.jobs.sync import RUN_TASK
from plugins_core.models import Invocation, InvocationStatus
from tests.jobs.support import install

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(owner, lab_zip):
    return install(owner, lab_zip)


def job(installation, name: str) -> ScheduledTask:
    return ScheduledTask.objects.get(installation=installation, kind=ScheduleKind.JOB, name=name)


def cron_task(installation) -> ScheduledTask:
    task_id = scheduler.schedule(installation, cron="* * * * *", task_name="every-minute", handler="remember",
                                 kwargs={"x": 2})
    return ScheduledTask.objects.get(task_id=task_id)


def test_a_batch_files_each_due_schedule_once_and_runs_them_all(lab):
    tick, every_minute = job(lab, "tick"), cron_task(lab)
    minute = timezone.now().replace(second=0, microsecond=0)
    filed = runs.fire_scheduled_many([tick.pk, every_minute.pk], minute + dt.timedelta(seconds=2))
    assert {(r.name, r.kind, r.slot) for r in filed} == {("tick", RunKind.JOB, minute),
                                                         ("every-minute", RunKind.TASK, minute)}
    runs.execute_many([r.pk for r in filed])
    done = {r.name: r for r in JobRun.objects.select_related("invocation").filter(pk__in=[r.pk for r in filed])}
    assert {name: r.invocation.status for name, r in done.items()} == {"tick": "ok", "every-minute": "ok"}
    assert done["every-minute"].invocation.result == {"got": {"x": 2}}
    assert all(r.started_at and r.invocation.attempts == 1 for r in done.values())
    assert not JobLock.objects.exclude(holder="").exists(), "every run frees its job's lock"
    # beat sends the same slot again (a restart before it saved last_run_at): nothing new
    assert runs.fire_scheduled_many([tick.pk, every_minute.pk], minute + dt.timedelta(seconds=40)) == []
    assert JobRun.objects.filter(installation=lab, slot=minute).count() == 2


def test_a_redelivered_batch_carries_on_with_its_unfinished_runs(lab):
    tick = job(lab, "tick")
    sent = timezone.now()
    first = runs.fire_scheduled_many([tick.pk], sent)
    again = runs.fire_scheduled_many([tick.pk], sent)
    assert [r.pk for r in again] == [r.pk for r in first]
    runs.execute_many([r.pk for r in again])
    runs.execute_many([r.pk for r in first])  # the first delivery, late: finds it done
    assert Invocation.objects.get(pk=first[0].invocation_id).attempts == 1


def test_a_batch_skips_a_job_still_running_and_runs_the_others(lab):
    assert locks.acquire(lab.pk, RunKind.JOB, "slow", "run:elsewhere", 60)
    filed = runs.fire_scheduled_many([job(lab, "slow").pk, job(lab, "tick").pk], timezone.now())
    runs.execute_many([r.pk for r in filed])
    outcome = {r.name: r.invocation for r in JobRun.objects.select_related("invocation").filter(pk__in=[r.pk for r in filed])}
    assert outcome["slow"].status == InvocationStatus.SKIPPED and "'slow' was still running" in outcome["slow"].error
    assert outcome["tick"].status == InvocationStatus.OK
    assert JobLock.objects.get(installation=lab, name="slow").holder == "run:elsewhere"


def test_a_batch_leaves_out_schedules_that_are_off_or_gone(lab):
    tick, slow = job(lab, "tick"), job(lab, "slow")
    ScheduledTask.objects.filter(pk=slow.pk).update(paused=True)
    gone = 987654  # a schedule deleted after beat loaded its row
    orphan = PeriodicTask.objects.create(name="left behind", task=RUN_TASK, kwargs=json.dumps({"schedule_id": gone}),
                                         crontab=PeriodicTask.objects.get(pk=tick.periodic_task_id).crontab)
    filed = runs.fire_scheduled_many([tick.pk, slow.pk, gone], timezone.now())
    assert [r.name for r in filed] == ["tick"]
    assert not PeriodicTask.objects.filter(pk=orphan.pk).exists(), "beat's row of a gone schedule is dropped"


def test_a_batch_racing_another_worker_for_a_slot_files_each_schedule_alone(lab, monkeypatch):
    tick, every_minute = job(lab, "tick"), cron_task(lab)
    sent = timezone.now()
    bulk = runs._create_many

    def raced(due):
        runs.fire_scheduled(tick.pk, sent)  # the other worker files tick's slot first
        return bulk(due)

    monkeypatch.setattr(runs, "_create_many", raced)
    filed = runs.fire_scheduled_many([tick.pk, every_minute.pk], sent)
    assert sorted(r.name for r in filed) == ["every-minute", "tick"]
    assert JobRun.objects.filter(installation=lab).count() == 2  # one run per slot, whoever filed it


def test_the_batch_task_files_under_the_slot_beat_sent_it_in(lab):
    tick = job(lab, "tick")
    minute = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=3)
    headers = {}
    tasks._stamp_sent_at(sender=tasks.RUN_SCHEDULED_BATCH, headers=headers)
    headers[tasks.SENT_AT_HEADER] = (minute + dt.timedelta(seconds=1)).isoformat()
    tasks.run_scheduled_batch.apply(kwargs={"schedule_ids": [tick.pk]}, headers=headers)
    run = JobRun.objects.select_related("invocation").get(installation=lab, name="tick")
    assert run.slot == minute and run.invocation.status == InvocationStatus.OK


class _Beat(beat.Scheduler):
    producer = None  # no broker connection: app.send_task is replaced below

    def __init__(self):  # only what apply_entry needs; no database schedule
        self.app = app
        self._firings = None


def _entry(schedule_id: int, expires: int = 60):
    return SimpleNamespace(task=RUN_TASK, kwargs={"schedule_id": schedule_id}, options={"expires": expires},
                           name=f"plugyard:{schedule_id}")


def test_beat_sends_the_firings_of_a_tick_in_messages_of_the_configured_size(monkeypatch, settings):
    settings.PLUGYARD_JOBS_PER_MESSAGE = 25
    sent, alone = [], []
    monkeypatch.setattr(app, "send_task", lambda name, **kw: sent.append((name, kw)))
    monkeypatch.setattr(beat.DatabaseScheduler, "apply_entry", lambda self, entry, producer=None: alone.append(entry))
    scheduler_ = _Beat()
    scheduler_.apply_entry(_entry(0))  # outside a tick: sent on its own, as Celery does
    scheduler_._firings = []
    for n in range(1, 61):
        scheduler_.apply_entry(_entry(n, expires=90 if n != 7 else 60))
    sweep = SimpleNamespace(task="plugins_core.events.tasks.dispatch_pending_events", kwargs={}, options={})
    scheduler_.apply_entry(sweep)
    scheduler_._send_firings()
    assert [e.kwargs.get("schedule_id") for e in alone] == [0, None]
    assert [(name, len(kw["kwargs"]["schedule_ids"])) for name, kw in sent] == [(beat.RUN_BATCH_TASK, 25)] * 2 + [
        (beat.RUN_BATCH_TASK, 10)]
    assert [kw["kwargs"]["schedule_ids"][0] for _, kw in sent] == [1, 26, 51]
    assert [kw["expires"] for _, kw in sent] == [60, 90, 90]  # the soonest expiry of its firings


def test_a_lost_batch_is_never_half_filed(lab, monkeypatch):
    """The runs of a batch and their invocations are one transaction: all or none."""
    tick, every_minute = job(lab, "tick"), cron_task(lab)

    def broken(*args, **kwargs):
        raise IntegrityError("the database went away mid-batch")

    monkeypatch.setattr(JobRun.objects, "bulk_create", broken)
    monkeypatch.setattr(runs, "fire_scheduled", lambda *a, **k: None)
    assert runs.fire_scheduled_many([tick.pk, every_minute.pk], timezone.now()) == []
    assert not Invocation.objects.filter(installation=lab, kind__in=["job", "task"]).exists()
