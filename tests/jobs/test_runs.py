"""Runs: one per slot, executed once, never overlapping; failures recorded, workers unharmed."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from plugins_core.jobs import locks, runs, scheduler
from plugins_core.jobs.models import JobRun, RunKind, ScheduledTask, ScheduleKind, Trigger
from plugins_core.models import Invocation, InvocationStatus
from tests.jobs.support import install

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(owner, lab_zip):
    return install(owner, lab_zip)


def schedule_of(installation, name: str) -> ScheduledTask:
    return ScheduledTask.objects.get(installation=installation, kind=ScheduleKind.JOB, name=name)


def test_a_slot_fires_once_however_often_beat_sends_it(lab):
    tick = schedule_of(lab, "tick")
    minute = timezone.now().replace(second=0, microsecond=0)
    first = runs.fire_scheduled(tick.pk, minute + dt.timedelta(seconds=1))
    assert first is not None and first.slot == minute and first.trigger == Trigger.SCHEDULE
    runs.execute(first.pk)
    # beat restarted before saving last_run_at: it sends the same slot again, later
    assert runs.fire_scheduled(tick.pk, minute + dt.timedelta(seconds=35)) is None
    assert runs.fire_scheduled(tick.pk, minute - dt.timedelta(milliseconds=200)) is None
    # the next minute is a new slot
    assert runs.fire_scheduled(tick.pk, minute + dt.timedelta(seconds=61)).slot == minute + dt.timedelta(minutes=1)
    assert JobRun.objects.filter(installation=lab, name="tick", slot=minute).count() == 1


def test_a_redelivered_unfinished_slot_carries_on_with_its_run(lab):
    tick = schedule_of(lab, "tick")
    sent = timezone.now()
    first = runs.fire_scheduled(tick.pk, sent)
    again = runs.fire_scheduled(tick.pk, sent)
    assert again.pk == first.pk
    assert runs.execute(again.pk).ran and not runs.execute(first.pk).ran
    assert Invocation.objects.get(pk=first.invocation_id).attempts == 1


def test_run_now_runs_the_job_and_records_it(lab, owner):
    run = runs.queue_run_now(lab, "tick", user=owner.membership.user)
    assert run.invocation.status == InvocationStatus.PENDING
    assert runs.execute(run.pk).ran
    invocation = Invocation.objects.get(pk=run.invocation_id)
    assert invocation.status == InvocationStatus.OK, invocation.error
    assert invocation.kind == "job" and invocation.name == "tick"
    assert invocation.result == {"ticked": True}
    assert any("tick for" in line for line in invocation.logs)
    assert invocation.duration_ms > 0
    assert not runs.execute(run.pk).ran  # a redelivered message does nothing


@pytest.mark.parametrize(("job", "status", "says"), [
    ("boom", InvocationStatus.ERROR, "the job blew up on purpose"),
    ("hang", InvocationStatus.TIMEOUT, ""),
    ("hog", InvocationStatus.MEMORY, ""),
])
def test_failing_jobs_are_recorded_with_the_reason_and_the_next_run_works(lab, settings, job, status, says):
    settings.PLUGYARD_SANDBOX = {**settings.PLUGYARD_SANDBOX, "job_timeout_s": 2}
    run = runs.queue_run_now(lab, job)
    runs.execute(run.pk)
    invocation = Invocation.objects.get(pk=run.invocation_id)
    assert invocation.status == status
    assert says in invocation.error and invocation.error
    after = runs.queue_run_now(lab, "tick")
    runs.execute(after.pk)
    assert Invocation.objects.get(pk=after.invocation_id).status == InvocationStatus.OK


def test_runs_of_one_job_never_overlap(lab):
    assert locks.acquire(lab.pk, RunKind.JOB, "slow", "run:elsewhere", 60)
    scheduled = runs.fire_scheduled(schedule_of(lab, "slow").pk, timezone.now())
    assert not runs.execute(scheduled.pk).ran
    skipped = Invocation.objects.get(pk=scheduled.invocation_id)
    assert skipped.status == InvocationStatus.SKIPPED and "still running" in skipped.error

    waiting = runs.queue_run_now(lab, "slow")
    outcome = runs.execute(waiting.pk)
    assert not outcome.ran and 1 <= outcome.retry_after <= 60
    assert Invocation.objects.get(pk=waiting.invocation_id).status == InvocationStatus.PENDING

    locks.release(lab.pk, RunKind.JOB, "slow", "run:elsewhere")
    assert runs.execute(waiting.pk).ran
    # another job of the same installation was never blocked
    other = runs.queue_run_now(lab, "tick")
    assert runs.execute(other.pk).ran


def test_an_expired_lease_frees_the_lock(lab):
    assert locks.acquire(lab.pk, RunKind.JOB, "tick", "run:dead", 0.001)
    time.sleep(0.01)
    assert locks.acquire(lab.pk, RunKind.JOB, "tick", "run:alive", 60)
    assert not locks.acquire(lab.pk, RunKind.JOB, "tick", "run:third", 60)


def test_due_one_shots_fire_once_with_their_kwargs(lab):
    task_id = scheduler.run_in(lab, delay_seconds=0, handler="remember", kwargs={"device": "d-1"})
    later = scheduler.run_in(lab, delay_seconds=3600, handler="remember")
    [run_id] = runs.fire_due_once()
    assert runs.fire_due_once() == []
    runs.execute(run_id)
    run = JobRun.objects.select_related("invocation", "scheduled_task").get(pk=run_id)
    assert run.trigger == Trigger.SCHEDULER and run.kind == RunKind.TASK and run.scheduled_task.task_id == task_id
    assert run.invocation.kind == "task" and run.invocation.name == "remember"
    assert run.invocation.status == InvocationStatus.OK, run.invocation.error
    assert run.invocation.result == {"got": {"device": "d-1"}}
    assert [t["id"] for t in scheduler.get_tasks(lab)] == [later]


def test_cron_scheduler_tasks_fire_per_slot(lab):
    task_id = scheduler.schedule(lab, cron="* * * * *", task_name="every-minute", handler="remember", kwargs={"x": 2})
    task = ScheduledTask.objects.get(task_id=task_id)
    run = runs.fire_scheduled(task.pk, timezone.now())
    runs.execute(run.pk)
    run.refresh_from_db()
    assert (run.kind, run.name, run.trigger) == (RunKind.TASK, "every-minute", Trigger.SCHEDULER)
    assert run.invocation.result == {"got": {"x": 2}}


def test_a_disabled_installation_does_not_fire_and_a_queued_run_is_denied(lab):
    queued = runs.queue_run_now(lab, "tick")
    lab.enabled = False
    lab.save()
    assert runs.fire_scheduled(schedule_of(lab, "tick").pk, timezone.now()) is None
    runs.execute(queued.pk)
    assert Invocation.objects.get(pk=queued.invocation_id).status == InvocationStatus.DENIED


def test_recovery_resends_lost_runs_and_gives_up_after_three_deaths(lab, monkeypatch, settings):
    settings.PLUGYARD_INVOCATION_MAX_ATTEMPTS = 3
    sent = []
    monkeypatch.setattr(runs, "send", sent.append)
    lost = runs.queue_run_now(lab, "tick")
    JobRun.objects.filter(pk=lost.pk).update(sent_at=timezone.now() - dt.timedelta(minutes=5))
    dead = runs.queue_run_now(lab, "slow")
    Invocation.objects.filter(pk=dead.invocation_id).update(
        status=InvocationStatus.RUNNING, attempts=1, lease_until=timezone.now() - dt.timedelta(seconds=1))
    hopeless = runs.queue_run_now(lab, "boom")
    Invocation.objects.filter(pk=hopeless.invocation_id).update(
        status=InvocationStatus.RUNNING, attempts=3, lease_until=timezone.now() - dt.timedelta(seconds=1))

    assert runs.recover() == 3
    assert sorted(sent) == sorted([lost.pk, dead.pk, hopeless.pk])
    runs.execute(hopeless.pk)  # its claim gives it up: it died three times
    given_up = Invocation.objects.get(pk=hopeless.invocation_id)
    assert given_up.status == InvocationStatus.CRASH and "gave up after 3 attempt(s)" in given_up.error
    # a resent run is not resent again at once
    sent.clear()
    assert runs.recover() == 1 and sent == [dead.pk]
    runs.execute(dead.pk)  # a dead worker's run runs again, to completion once
    assert Invocation.objects.get(pk=dead.invocation_id).status == InvocationStatus.OK
    assert Invocation.objects.get(pk=dead.invocation_id).attempts == 2
