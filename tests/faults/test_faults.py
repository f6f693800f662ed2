"""Faults on purpose: a worker killed mid-burst, beat restarted, the broker down for 10 s."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time

import pytest
import requests
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from devices import services as devices
from plugins_core.events.models import Event
from plugins_core.jobs import runs
from plugins_core.jobs.models import JobRun, ScheduledTask, ScheduleKind
from plugins_core.models import Invocation, InvocationStatus
from tests.integration import harness
from tests.integration.harness import wait_for
from tests.jobs.support import install, plugin_zip

pytestmark = [pytest.mark.faults, pytest.mark.integration]

TERMINAL = {InvocationStatus.OK, InvocationStatus.ERROR, InvocationStatus.TIMEOUT, InvocationStatus.MEMORY,
            InvocationStatus.CRASH, InvocationStatus.DENIED, InvocationStatus.SKIPPED}


def _lab_and_ops(make_actor, ops_tar):
    return install(make_actor("ops", "owner"), ops_tar), install(make_actor("lab", "owner"), plugin_zip("jobs-lab"))


def _finished(invocations) -> bool:
    return all(status in TERMINAL for status in invocations)


def test_killing_a_worker_mid_burst_of_jobs_loses_none_and_finishes_none_twice(make_actor, ops_tar, start_worker,
                                                                               start_beat):
    ops, lab = _lab_and_ops(make_actor, ops_tar)
    # a short job deadline keeps the leases (deadline + 30 s) a dead worker leaves behind short
    first = start_worker(concurrency=2, PLUGYARD_SANDBOX_JOB_TIMEOUT="5")
    run_ids = [runs.queue_run_now(lab, job).pk for job in ["slow", "tick", "slow", "tick", "slow", "tick"]]
    for n in range(5):
        devices.create_device(ops.tenant, {"name": f"server-{n}", "type": "server"})
    wait_for(lambda: JobRun.objects.filter(invocation__status=InvocationStatus.RUNNING).exists(), 60, interval=0.02,
             message="a job in flight")
    first.kill()  # kill -9, main process and pool

    second = start_worker(name="second", concurrency=2, PLUGYARD_SANDBOX_JOB_TIMEOUT="5")
    start_beat()  # its recovery sweep sends again what the dead worker held
    job_runs = JobRun.objects.filter(pk__in=run_ids)

    def done() -> bool:
        assert second.running, second.output()[-1500:]  # the embedded broker must not kill it
        return _finished(job_runs.values_list("invocation__status", flat=True))

    wait_for(done, 150, interval=1, message="every job run to finish after the kill")
    finished = [run.invocation for run in job_runs.select_related("invocation")]
    assert [i.status for i in finished] == [InvocationStatus.OK] * 6, [i.error for i in finished]
    assert max(i.attempts for i in finished) == 2  # the killed one ran again, and finished once
    assert all(i.attempts <= 2 for i in finished)


# Short leases and grace so the recovery sweep takes over within seconds, not minutes.
FAST_RECOVERY = {"PLUGYARD_HOOK_LEASE_S": "8", "PLUGYARD_HOOK_PENDING_GRACE_S": "8"}


def test_killing_a_worker_mid_burst_of_events_loses_none_and_finishes_none_twice(make_actor, ops_tar, start_worker,
                                                                                 start_beat):
    ops, _ = _lab_and_ops(make_actor, ops_tar)
    first = start_worker(concurrency=2, **FAST_RECOVERY)
    wait_for(lambda: not Invocation.objects.filter(kind="lifecycle", status__in=["pending", "running"]).exists(), 60)
    for n in range(15):
        devices.create_device(ops.tenant, {"name": f"server-{n}", "type": "server"})
    events = list(Event.objects.filter(tenant=ops.tenant, type="device.created").values_list("pk", flat=True))
    wait_for(lambda: Invocation.objects.filter(kind="hook").exists(), 30, interval=0.02, message="hooks in flight")
    first.kill()
    second = start_worker(name="second", concurrency=2, **FAST_RECOVERY)
    start_beat(**FAST_RECOVERY)
    hooks = Invocation.objects.filter(event_id__in=events, installation=ops, name="on_device_created")

    def done() -> bool:
        assert second.running, second.output()[-1500:]
        return hooks.count() == 15 and _finished(hooks.values_list("status", flat=True))

    wait_for(done, 150, interval=1, message="every hook to finish after the kill")
    # one row per (event, installation, handler) is a constraint; each reached the end once
    assert set(hooks.values_list("status", flat=True)) == {InvocationStatus.OK}


def test_restarting_beat_never_fires_a_slot_twice(owner, start_worker, start_beat):
    lab = install(owner, plugin_zip("jobs-lab"))
    ScheduledTask.objects.filter(installation=lab, kind=ScheduleKind.JOB).exclude(name="tick").update(paused=True)
    for task in ScheduledTask.objects.filter(installation=lab).select_related("installation__tenant", "installation__plugin"):
        from plugins_core.jobs.sync import apply_to_beat

        apply_to_beat(task)
    tick = PeriodicTask.objects.get(pk=ScheduledTask.objects.get(installation=lab, name="tick").periodic_task_id)
    if timezone.now().second > 40:  # keep both firings inside one minute
        time.sleep(61 - timezone.now().second)
    worker = start_worker()

    def beat_that_never_saved():
        # beat keeps last_run_at in memory and writes it back only now and then: a beat
        # killed before that believes the current slot is still due
        PeriodicTask.objects.filter(pk=tick.pk).update(last_run_at=timezone.now() - dt.timedelta(minutes=3))
        return start_beat()

    beat = beat_that_never_saved()
    slot = wait_for(lambda: JobRun.objects.filter(installation=lab, name="tick").values_list("slot", flat=True).first(),
                    30, message="the first firing")
    beat.kill()
    beat_that_never_saved()
    wait_for(lambda: "skipping duplicate firing" in worker.output(), 30, message="beat to send the slot again")
    assert JobRun.objects.filter(installation=lab, name="tick", slot=slot).count() == 1
    run = JobRun.objects.select_related("invocation").get(installation=lab, name="tick", slot=slot)
    wait_for(lambda: Invocation.objects.get(pk=run.invocation_id).status in TERMINAL, 30)
    assert Invocation.objects.get(pk=run.invocation_id).status == InvocationStatus.OK


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
@pytest.mark.skipif(not __import__("os").environ.get("PLUGYARD_TEST_REDIS_URL"), reason="the Redis leg only")
def test_broker_down_for_10s_the_web_answers_and_events_wait_in_the_outbox(make_actor, ops_tar, start_worker, start_beat):
    """Our own redis-server (never the machine's shared one) is the broker of a web, a worker and beat."""
    ops = install(make_actor("ops", "owner"), ops_tar)
    actor = make_actor("ops", "admin")
    port, web_port = harness.free_port(), harness.free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis_argv = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--daemonize", "no"]
    redis = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    web = harness.Process("web", [str(harness.ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--bind",
                                  f"127.0.0.1:{web_port}", "--workers", "1", "--threads", "4", "--timeout", "60"],
                          harness.subprocess_env(broker), "Booting worker")
    try:
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG", 10)
        web.start()
        worker = start_worker(broker_url=broker)
        start_beat(broker_url=broker)
        headers = {"Authorization": f"Bearer {actor.token}", "X-Tenant-Slug": actor.tenant.slug}

        def create(name: str) -> requests.Response:
            return requests.post(f"http://127.0.0.1:{web_port}/api/devices", json={"name": name, "type": "server"},
                                 headers=headers, timeout=30)

        assert create("before-outage").status_code == 201
        redis.terminate()
        redis.wait(10)
        started = time.monotonic()
        answers = [create(f"during-{n}").status_code for n in range(3)]
        assert answers == [201, 201, 201]
        assert requests.get(f"http://127.0.0.1:{web_port}/healthz", timeout=10).status_code == 200
        outage = requests.get(f"http://127.0.0.1:{web_port}/readyz", timeout=20)
        assert outage.status_code == 503
        assert outage.json()["failing"][0].startswith("broker: the broker did not answer")
        waiting = Event.objects.filter(tenant=ops.tenant, type="device.created", dispatched_at__isnull=True)
        assert waiting.count() >= 3  # in the outbox
        time.sleep(max(0.0, 10 - (time.monotonic() - started)))
        redis = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(2)
        if not worker.running:
            # kombu 5.7's Redis transport can die with "Unrecoverable error: AttributeError(... 'hostname')"
            # when the broker drops while it restores unacked messages; a process supervisor
            # (systemd, Kubernetes) restarts it, as we do here. Beat reconnects by itself.
            print("worker died during the outage:", worker.output()[-2000:])
            start_worker(name="restarted", broker_url=broker)

        events = Event.objects.filter(tenant=ops.tenant, type="device.created")
        wait_for(lambda: not events.filter(dispatched_at__isnull=True).exists()
                 and Invocation.objects.filter(event__in=events, status=InvocationStatus.OK).count() == 4,
                 120, interval=1, message="the outbox to drain after the broker came back")
        wait_for(lambda: requests.get(f"http://127.0.0.1:{web_port}/readyz", timeout=20).status_code == 200, 60,
                 interval=1, message="/readyz to be 200 again after the broker came back")
    finally:
        web.stop()
        redis.kill()
        redis.wait(10)
