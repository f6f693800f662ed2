"""The Ops-Center scheduler API: persisted tasks, validated, cancelled with the installation."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from plugins_core import runner, services
from plugins_core.host.bridge import InstallationBridge
from plugins_core.host.errors import BadArguments
from plugins_core.jobs import scheduler, sync_installation_jobs
from plugins_core.jobs.models import ScheduledTask, ScheduleKind, ScheduleStatus
from tests.jobs.support import install

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(owner, lab_zip):
    owner.tenant.timezone = "America/New_York"
    owner.tenant.save()
    return install(owner, lab_zip)


def test_schedule_makes_a_beat_row_in_the_tenants_zone_and_replaces_by_name(lab):
    task_id = scheduler.schedule(lab, cron="*/5 * * * *", task_name="check", handler="remember", kwargs={"n": 1})
    task = ScheduledTask.objects.get(task_id=task_id)
    row = PeriodicTask.objects.get(pk=task.periodic_task_id)
    assert row.enabled and row.crontab.minute == "*/5" and str(row.crontab.timezone) == "America/New_York"

    again = scheduler.schedule(lab, cron="0 * * * *", task_name="check", handler="remember")
    assert again == task_id
    assert PeriodicTask.objects.get(pk=ScheduledTask.objects.get(task_id=task_id).periodic_task_id).crontab.minute == "0"
    assert [t["id"] for t in scheduler.get_tasks(lab)] == [task_id]


@pytest.mark.parametrize("cron", ["*/5 * * *", "61 * * * *", "", "often"])
def test_bad_cron_is_refused_naming_cron(lab, cron):
    with pytest.raises(BadArguments, match=r"^cron: "):
        scheduler.schedule(lab, cron=cron, task_name="x", handler="remember")
    assert not ScheduledTask.objects.filter(kind=ScheduleKind.CRON).exists()


@pytest.mark.parametrize("handler", ["not a name", "", "__import__", None, "os.system"])
def test_handler_must_be_a_function_name(lab, handler):
    with pytest.raises(BadArguments, match=r"^handler: "):
        scheduler.run_in(lab, delay_seconds=5, handler=handler)


def test_handler_is_checked_against_the_plugins_functions_when_known(lab):
    lab.version.load_report = {**lab.version.load_report, "functions": ["remember", "tick"]}
    lab.version.save()
    with pytest.raises(BadArguments, match="no module-level function 'nope'"):
        scheduler.run_in(lab, delay_seconds=5, handler="nope")
    assert scheduler.run_in(lab, delay_seconds=5, handler="remember")


def test_one_shots_are_persisted_listed_and_cancelled(lab):
    soon = scheduler.run_in(lab, delay_seconds=60, handler="remember", kwargs={"a": 1})
    at = scheduler.run_at(lab, when=(timezone.now() + dt.timedelta(hours=1)).isoformat(), handler="remember")
    tasks = scheduler.get_tasks(lab)
    assert [t["id"] for t in tasks][:2] == [soon, at]
    assert tasks[0]["type"] == "once" and tasks[0]["kwargs"] == {"a": 1}

    assert scheduler.cancel(lab, soon) is True
    assert scheduler.cancel(lab, soon) is False
    assert scheduler.cancel_all(lab) == 1
    assert scheduler.get_tasks(lab) == []


def test_limits(lab):
    with pytest.raises(BadArguments, match="delay_seconds"):
        scheduler.run_in(lab, delay_seconds=-1, handler="remember")
    with pytest.raises(BadArguments, match="when"):
        scheduler.run_at(lab, when="tomorrow", handler="remember")
    with pytest.raises(BadArguments, match="when"):
        scheduler.run_at(lab, when="2099-01-01T00:00:00", handler="remember")
    with pytest.raises(BadArguments, match="kwargs"):
        scheduler.run_in(lab, delay_seconds=1, handler="remember", kwargs={"x": object()})


def test_disabling_cancels_scheduler_tasks_but_keeps_jobs(lab):
    cron_id = scheduler.schedule(lab, cron="* * * * *", task_name="c", handler="remember")
    once_id = scheduler.run_in(lab, delay_seconds=30, handler="remember")
    row = ScheduledTask.objects.get(task_id=cron_id).periodic_task_id

    services.disable(lab)
    sync_installation_jobs(lab)

    assert set(ScheduledTask.objects.filter(task_id__in=[cron_id, once_id]).values_list("status", flat=True)) == {
        ScheduleStatus.CANCELLED}
    assert not PeriodicTask.objects.filter(pk=row).exists()
    assert ScheduledTask.objects.filter(installation=lab, kind=ScheduleKind.JOB, status=ScheduleStatus.ACTIVE).count() == 5


def test_plugin_calls_reach_the_scheduler_through_the_bridge(lab):
    bridge = InstallationBridge(lab)
    task_id = bridge.call("scheduler.run_in", {"delay_seconds": 1.5, "handler": "remember", "kwargs": {"k": "v"}})
    assert bridge.call("scheduler.get_tasks", {})[0]["id"] == task_id
    assert bridge.call("scheduler.cancel", {"task_id": task_id}) is True


def test_ops_center_on_enable_schedules_check_devices(make_actor, ops_tar):
    actor = make_actor("ops", "owner")
    installation = install(actor, ops_tar, "my-plugin-1.0.0.tar.gz")
    record = runner.invoke(installation, kind="lifecycle", name="enable")
    assert record.status == "ok", record.error
    [task] = scheduler.get_tasks(installation)
    assert (task["type"], task["task_name"], task["handler"], task["cron"]) == ("cron", "check_devices", "check_devices", "*/5 * * * *")
    assert PeriodicTask.objects.get(pk=ScheduledTask.objects.get(task_id=task["id"]).periodic_task_id).enabled
