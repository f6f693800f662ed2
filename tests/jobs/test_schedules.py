"""Cron parsing, slots and next runs, in the tenant's time zone."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from plugins_core.jobs.schedules import (
    CronError,
    JobSpec,
    declared_jobs,
    next_run,
    parse_cron,
    slot_at,
)

UTC = dt.UTC


@pytest.mark.parametrize(
    ("given", "expected"),
    [("0 2 * * *", "0 2 * * *"), ("  */5   * * * * ", "*/5 * * * *"), ("@daily", "0 0 * * *"),
     ("@hourly", "0 * * * *"), ("0 9 * * 7", "0 9 * * 0"), ("0 9 * * 5-7", "0 9 * * 5-6,0"), ("0 9 * * mon", "0 9 * * mon")],
)
def test_valid_cron_is_normalised(given, expected):
    assert parse_cron(given) == expected


@pytest.mark.parametrize("bad", ["", "* * * *", "* * * * * *", "61 * * * *", "0 25 * * *", "every day", None, 5])
def test_invalid_cron_names_the_field(bad):
    with pytest.raises(CronError) as caught:
        parse_cron(bad)
    assert caught.value.field == "cron"
    assert caught.value.message.startswith("cron: ")


def test_next_run_is_in_the_tenants_time_zone():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    after = dt.datetime(2024, 7, 1, 12, 0, tzinfo=UTC)  # 14:00 in Berlin (CEST)
    assert next_run("0 2 * * *", berlin, after) == dt.datetime(2024, 7 , 2, 0, 0, tzinfo=UTC)
    assert next_run("0 2 * * *", zoneinfo.ZoneInfo("UTC"), after) == dt.datetime(2024, 7, 2, 2, 0, tzinfo=UTC)


def test_slot_is_the_latest_cron_time_at_or_before_sending():
    utc = zoneinfo.ZoneInfo("UTC")
    minute = dt.datetime(2024, 7, 1, 12, 5, tzinfo=UTC)
    assert slot_at("* * * * *", utc, minute) == minute
    assert slot_at("* * * * *", utc, minute + dt.timedelta(seconds=40)) == minute
    # a message stamped a hair early (clock skew) is still that minute's
    assert slot_at("* * * * *", utc, minute - dt.timedelta(milliseconds=300)) == minute
    assert slot_at("*/5 * * * *", utc, minute + dt.timedelta(minutes=4)) == minute


def test_declared_jobs_prefer_the_load_report_and_keep_manifest_only_ones():
    class Version:
        manifest = {"jobs": [{"name": "a", "schedule": "0 1 * * *"}, {"name": "b", "schedule": "0 2 * * *"}]}
        load_report = {"jobs": [{"name": "a", "schedule": "0 3 * * *", "handler": "a_job"}]}

    assert declared_jobs(Version) == [JobSpec("a", "0 3 * * *", "a_job"), JobSpec("b", "0 2 * * *", None)]
    Version.load_report = {}
    assert [j.schedule for j in declared_jobs(Version)] == ["0 1 * * *", "0 2 * * *"]
