"""Jobs through a real Celery worker and beat, on whichever path this run uses
(SQLite + filesystem broker, or PostgreSQL + Redis)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from plugins_core.jobs import scheduler
from plugins_core.jobs.models import JobRun
from plugins_core.models import Invocation, InvocationStatus
from tests.conftest import make_zip, plugin_files
from tests.integration.harness import wait_for
from tests.jobs.support import install, plugin_zip

pytestmark = pytest.mark.integration

DONE = {InvocationStatus.OK, InvocationStatus.ERROR, InvocationStatus.TIMEOUT, InvocationStatus.MEMORY,
        InvocationStatus.CRASH, InvocationStatus.DENIED, InvocationStatus.SKIPPED}


def finished(run_id: int) -> Invocation | None:
    invocation = JobRun.objects.get(pk=run_id).invocation
    return invocation if invocation.status in DONE else None


def test_run_now_through_a_worker(owner, sbh_zip, start_worker):
    installation = install(owner, sbh_zip)
    start_worker()
    response = owner.client.post(f"/api/plugins/{installation.pk}/jobs/daily_cleanup/run-now")
    assert response.status_code == 202
    invocation = wait_for(lambda: finished(response.json()["run_id"]), 60, message="the run-now run")
    assert invocation.status == InvocationStatus.OK, invocation.error
    assert invocation.result == {"status": "cleanup_completed"}


def test_failing_jobs_do_not_stop_the_worker(owner, start_worker):
    installation = install(owner, plugin_zip("jobs-lab"))
    start_worker(concurrency=1, PLUGYARD_SANDBOX_JOB_TIMEOUT="3")
    ids = {job: owner.client.post(f"/api/plugins/{installation.pk}/jobs/{job}/run-now").json()["run_id"]
           for job in ("boom", "hang", "hog", "tick")}
    outcome = {job: wait_for(lambda r=run_id: finished(r), 60, message=job).status for job, run_id in ids.items()}
    assert outcome == {"boom": "error", "hang": "timeout", "hog": "memory", "tick": "ok"}


def test_guide_jobs_fire_on_schedule_with_real_beat(make_actor, sbh_zip, ops_tar, start_worker, start_beat):
    """SBH's daily_cleanup and Ops-Center's check_devices, moved to every minute, fire from beat."""
    sbh = install(make_actor("sbh", "owner"), make_zip({name: data.replace(b"0 2 * * *", b"* * * * *")
                                                          for name, data in plugin_files("sbh-my-plugin").items()}))
    ops = install(make_actor("ops", "owner"), ops_tar)
    start_worker()
    # enabling ran the plugin's on_enable (a lifecycle task), which scheduled check_devices */5
    [task] = wait_for(lambda: scheduler.get_tasks(ops), 60, message="on_enable to schedule check_devices")
    assert (task["task_name"], task["cron"]) == ("check_devices", "*/5 * * * *")
    wait_for(lambda: not Invocation.objects.filter(kind="lifecycle", status__in=["pending", "running"]).exists(), 30)
    scheduler.schedule(ops, cron="* * * * *", task_name="check_devices", handler="check_devices")  # every minute
    once = scheduler.run_in(ops, delay_seconds=1, handler="check_devices")
    start_beat()

    def fired():
        runs = {(r.installation_id, r.name, r.slot is None): r for r in JobRun.objects.select_related("invocation", "scheduled_task")
                if r.invocation.status in DONE}
        return runs if len(runs) >= 3 else None

    runs = wait_for(fired, 75, interval=1, message="daily_cleanup, check_devices and a one-shot to run")
    cleanup = runs[(sbh.pk, "daily_cleanup", False)]
    assert cleanup.trigger == "schedule" and cleanup.invocation.status == "ok", cleanup.invocation.error
    assert cleanup.slot.second == 0 and timezone.now() - cleanup.slot < dt.timedelta(minutes=2)
    devices = runs[(ops.pk, "check_devices", False)]
    assert devices.trigger == "scheduler" and devices.invocation.kind == "task" and devices.slot.second == 0
    assert devices.invocation.status == "ok", devices.invocation.error
    one_shot = runs[(ops.pk, "check_devices", True)]
    assert one_shot.scheduled_task.task_id == once and one_shot.invocation.status == "ok", one_shot.invocation.error
