"""The runtime's figures (plugins_core/metrics.py) on a small known dataset: exact counts,
lag and percentiles; the broker's queue depths, and the real sandbox service's figures."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone
from kombu import Connection

from plugins_core import metrics, sandboxes
from plugins_core.models import Event, Invocation, JobRun, WebhookDelivery
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db

ROUTE = '''
from src.ext.sdk import route

@route("/ping", methods=["GET"])
def ping(ctx):
    return {"pong": True}
'''


def _at(model, when: dt.datetime, **fields):
    """A row of ``model`` whose ``created_at``/``queued_at`` is ``when`` (auto_now_add ignores it)."""
    stamp = "queued_at" if model is JobRun else "created_at"
    row = model.objects.create(**fields)
    model.objects.filter(pk=row.pk).update(**{stamp: when})
    return row


@pytest.fixture
def dataset(owner):
    """Two plugins' calls, five events, four webhook deliveries and five job runs, placed on
    known minutes of the window (``minute(i)`` is its i-th minute, 0 the oldest, 59 now)."""
    now = timezone.now()
    start = metrics.window_start(now)

    def minute(i: int, second: int = 0) -> dt.datetime:
        return start + dt.timedelta(minutes=i, seconds=second)

    alpha = install(owner, plugin_zip("alpha", ROUTE, routes=True), enable=False)
    beta = install(owner, plugin_zip("beta", ROUTE, routes=True), enable=False)
    Invocation.objects.all().delete()  # whatever the uploads recorded: the dataset is exact
    Event.objects.all().delete()
    tenant = owner.tenant

    def call(installation, kind, status, created, finished=None, ms=None, name="h"):
        row = _at(Invocation, created, tenant=tenant, installation=installation, kind=kind, name=name,
                  status=status, duration_ms=ms)
        Invocation.objects.filter(pk=row.pk).update(finished_at=finished)
        return row

    for ms in (10, 20, 30, 40):
        call(alpha, "hook", "ok", minute(5), minute(5, 30), ms)
    call(alpha, "hook", "error", minute(5), minute(6, 1), 100)
    call(alpha, "hook", "pending", minute(58))
    call(beta, "route", "ok", minute(59), minute(59), 7)
    call(beta, "route", "timeout", minute(59), minute(59), 5000)
    call(alpha, "hook", "ok", start - dt.timedelta(minutes=30), minute(3), 1)  # made before, finished in, the window
    call(alpha, "hook", "pending", now - dt.timedelta(hours=3))  # still waiting: pending counts it
    call(alpha, "hook", "pending", now - dt.timedelta(days=2))  # older than the pending look-back

    dispatched = [_at(Event, minute(10), tenant=tenant, type="build.completed") for _ in range(2)]
    Event.objects.filter(pk=dispatched[0].pk).update(dispatched_at=minute(10, 5))
    Event.objects.filter(pk=dispatched[1].pk).update(dispatched_at=minute(12))
    _at(Event, now - dt.timedelta(seconds=42), tenant=tenant, type="build.completed")
    for seconds in (10, 5):
        _at(Event, now - dt.timedelta(seconds=seconds), tenant=tenant, type="build.completed")

    for n, (status, i) in enumerate([("succeeded", 20), ("succeeded", 20), ("failed", 21), ("retrying", 21)]):
        _at(WebhookDelivery, minute(i), tenant=tenant, installation=alpha, webhook=f"w{n}", event=dispatched[0],
            status=status)

    def run(name, slot, lag_s, trigger="schedule"):
        invocation = call(beta, "job", "ok", now - dt.timedelta(days=5), name=name)  # outside every window
        started = None if lag_s is None else (slot or minute(45)) + dt.timedelta(seconds=lag_s)
        _at(JobRun, minute(45), tenant=tenant, installation=beta, kind="job", name=name, trigger=trigger,
            slot=slot, invocation=invocation, started_at=started)

    run("a", minute(30), 2)
    run("b", minute(31), 4)
    run("c", minute(31), 10)
    run("d", minute(40), None)  # queued, never started: no lag yet
    run("e", None, 1, trigger="run-now")  # no slot: not a cron run
    return now


def test_the_gauges_count_the_last_hour_exactly(dataset):
    now = metrics.current(dataset)
    assert now.invocations == {("hook", "ok"): 4, ("hook", "error"): 1, ("hook", "pending"): 1,
                               ("route", "ok"): 1, ("route", "timeout"): 1}
    assert now.invocations_pending == 2
    assert now.event_lag_s == pytest.approx(42, abs=0.01)
    assert now.events_undispatched == 3
    assert now.webhook_deliveries == {"succeeded": 2, "failed": 1, "retrying": 1}
    assert (now.job_slot_runs, now.job_slot_lag_p50_s, now.job_slot_lag_max_s) == (3, 4.0, 10.0)


def test_nothing_waiting_is_no_lag(db):
    now = metrics.current()
    assert (now.event_lag_s, now.events_undispatched, now.invocations, now.invocations_pending) == (0.0, 0, {}, 0)
    assert (now.job_slot_runs, now.job_slot_lag_p50_s, now.job_slot_lag_max_s) == (0, None, None)


def test_the_minutes_put_each_thing_in_its_minute_and_leave_the_rest_empty(dataset):
    series = metrics.minutes(dataset)
    assert len(series.labels) == 60 and series.labels[-1] == dataset.strftime("%H:%M")
    assert _nonzero(series.invocations_ok) == {3: 1, 5: 4, 59: 1}
    assert _nonzero(series.invocations_error) == {6: 1, 59: 1}
    assert _nonzero(series.events_dispatched) == {10: 1, 12: 1}
    assert _nonzero(series.webhooks["succeeded"]) == {20: 2}
    assert _nonzero(series.webhooks["failed"]) == {21: 1}
    assert _nonzero(series.webhooks["retrying"]) == {21: 1}
    assert _nonzero(series.webhooks["pending"]) == {}
    assert _nonzero(series.job_slot_lag_max_s) == {30: 2.0, 31: 10.0}


def _nonzero(values):
    return {i: v for i, v in enumerate(values) if v}


def test_each_plugin_has_its_calls_error_rate_and_percentiles(dataset):
    alpha, beta = metrics.plugins(dataset)
    assert (alpha.slug, alpha.calls, alpha.finished, alpha.errors, alpha.error_rate) == ("alpha", 6, 5, 1, 0.2)
    assert (alpha.p50_ms, alpha.p95_ms) == (30, 100)  # nearest rank of 10, 20, 30, 40, 100
    assert _nonzero(alpha.calls_per_minute) == {5: 5, 58: 1}
    assert _nonzero(alpha.errors_per_minute) == {5: 1}
    assert _nonzero(alpha.p95_ms_per_minute) == {5: 100}
    assert (beta.slug, beta.calls, beta.finished, beta.errors, beta.error_rate) == ("beta", 2, 2, 1, 0.5)
    assert (beta.p50_ms, beta.p95_ms) == (7, 5000)


def test_percentile_is_nearest_rank():
    assert metrics.percentile([], 0.5) is None
    assert metrics.percentile([5], 0.95) == 5
    assert metrics.percentile(list(range(1, 101)), 0.95) == 95
    assert metrics.percentile([3, 1, 2, 4], 0.5) == 2
    assert metrics.percentile([10, 20, 30, 40, 100], 0.95) == 100


def test_queue_depths_count_each_queue_of_the_embedded_broker(tmp_path):
    folders = {name: str(tmp_path / name) for name in ("out", "processed", "control", "staging", "claimed")}
    options = {"data_folder_in": folders["out"], "data_folder_out": folders["out"],
               "processed_folder": folders["processed"], "control_folder": folders["control"],
               "staging_folder": folders["staging"], "claimed_folder": folders["claimed"]}

    def broker():
        return Connection("filesystem://", transport="config.broker:Transport", transport_options=options)

    with broker() as conn:
        for name, count in (("jobs", 2), ("events", 1)):
            queue = conn.SimpleQueue(name)
            for n in range(count):
                queue.put({"n": n})
            queue.close()
    assert metrics.queue_depths(broker()) == {"celery": 0, "events": 1, "jobs": 2}


def test_a_broker_that_does_not_answer_is_absent_depths_soon():
    started = time.monotonic()
    assert metrics.queue_depths(Connection("redis://127.0.0.1:1/0")) == {"celery": None, "events": None, "jobs": None}
    assert time.monotonic() - started < 10


def test_the_real_sandbox_service_reports_its_workers_and_their_memory(owner):
    install(owner, plugin_zip("pinger", ROUTE, routes=True))
    assert owner.client.get("/ext/pinger/ping").status_code == 200
    box = metrics.sandbox()
    assert box.up and box.zygotes >= 1 and box.workers >= 1
    assert box.worker_memory_bytes > 1 << 20 and box.zygote_memory_bytes > 1 << 20


@pytest.fixture
def sandbox_down(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("PLUGYARD_SANDBOX_SOCKET", str(tmp_path / "nobody.sock"))  # the environment wins over settings
    settings.PLUGYARD_SANDBOX = {**settings.PLUGYARD_SANDBOX, "socket_path": str(tmp_path / "nobody.sock")}
    sandboxes.reset()
    yield
    sandboxes.reset()


def test_a_sandbox_service_that_is_down_is_up_false(sandbox_down):
    assert metrics.sandbox() == metrics.SandboxFigures(up=False)
