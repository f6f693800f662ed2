"""Jobs become beat rows per installation, switched, updated and removed with it."""
from __future__ import annotations

import json

import pytest
from django_celery_beat.models import PeriodicTask

from plugins_core import services
from plugins_core.jobs import remove_installation_jobs, sync_installation_jobs
from plugins_core.jobs.models import ScheduledTask, ScheduleKind
from plugins_core.jobs.sync import RUN_TASK
from tests.jobs.support import install, plugin_zip

pytestmark = pytest.mark.django_db


def beat_rows(installation) -> dict[str, PeriodicTask]:
    tasks = ScheduledTask.objects.for_tenant(installation.tenant).filter(installation=installation, kind=ScheduleKind.JOB)
    return {t.name: PeriodicTask.objects.get(pk=t.periodic_task_id) for t in tasks}


def test_sbh_guide_job_is_in_manifest_load_report_and_beat(owner, sbh_zip):
    owner.tenant.timezone = "Europe/Berlin"
    owner.tenant.save()
    installation = install(owner, sbh_zip)

    assert [j["name"] for j in installation.version.manifest["jobs"]] == ["daily_cleanup"]
    assert [j["name"] for j in installation.version.load_report.get("jobs", [])] == ["daily_cleanup"]
    row = beat_rows(installation)["daily_cleanup"]
    assert row.enabled and row.task == RUN_TASK
    assert json.loads(row.kwargs) == {"schedule_id": installation.scheduled_tasks.get(name="daily_cleanup").pk}
    cron = row.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == ("0", "2", "*", "*", "*")
    assert str(cron.timezone) == "Europe/Berlin"


def test_disable_switches_off_and_enable_on_again(owner, lab_zip):
    installation = install(owner, lab_zip)
    assert len(beat_rows(installation)) == 5 and all(r.enabled for r in beat_rows(installation).values())

    services.disable(installation)
    sync_installation_jobs(installation)
    assert not any(r.enabled for r in beat_rows(installation).values())

    services.enable(installation)
    sync_installation_jobs(installation)
    assert all(r.enabled for r in beat_rows(installation).values())


def test_sync_twice_changes_nothing(owner, lab_zip):
    installation = install(owner, lab_zip)
    before = {name: (row.pk, row.date_changed) for name, row in beat_rows(installation).items()}
    sync_installation_jobs(installation)
    assert {name: (row.pk, row.date_changed) for name, row in beat_rows(installation).items()} == before


def test_upgrade_reschedules_adds_and_removes(owner, lab_zip):
    installation = install(owner, lab_zip)
    boom_row = beat_rows(installation)["boom"].pk
    upgraded = plugin_zip(
        "jobs-lab",
        **{'"version": "1.0.0"': '"version": "1.1.0"', '"* * * * *"': '"*/2 * * * *"',
           '{"name": "boom", "schedule": "0 3 * * *"},': "", '@job("boom", schedule="0 3 * * *")\n': ""},
    )
    installation = install(owner, upgraded)
    rows = beat_rows(installation)
    assert installation.version.version == "1.1.0"
    assert set(rows) == {"tick", "hang", "hog", "slow"}
    assert rows["tick"].crontab.minute == "*/2"
    assert not PeriodicTask.objects.filter(pk=boom_row).exists()


def test_a_staff_reschedule_survives_sync_until_the_plugin_declares_a_new_schedule(owner, lab_zip):
    installation = install(owner, lab_zip)
    task = installation.scheduled_tasks.get(name="slow")
    task.cron = "30 6 * * *"
    task.save()
    sync_installation_jobs(installation)
    assert beat_rows(installation)["slow"].crontab.minute == "30"


def test_paused_job_stays_off_when_enabled(owner, lab_zip):
    installation = install(owner, lab_zip)
    installation.scheduled_tasks.filter(name="tick").update(paused=True)
    sync_installation_jobs(installation)
    assert not beat_rows(installation)["tick"].enabled
    assert beat_rows(installation)["slow"].enabled


def test_uninstall_deletes_every_beat_row(owner, lab_zip):
    installation = install(owner, lab_zip)
    ids = [row.pk for row in beat_rows(installation).values()]
    remove_installation_jobs(installation)
    services.uninstall(installation)
    assert not PeriodicTask.objects.filter(pk__in=ids).exists()


def test_deleting_an_installation_any_other_way_takes_its_beat_rows(owner, lab_zip):
    installation = install(owner, lab_zip)
    ids = [row.pk for row in beat_rows(installation).values()]
    installation.delete()
    assert not PeriodicTask.objects.filter(pk__in=ids).exists()
