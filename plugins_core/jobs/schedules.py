"""Cron expressions: validation, the beat rows they become, next runs and slots — all in the
tenant's time zone.

Beat (django-celery-beat) fires a crontab with AND semantics when both day-of-month and
day-of-week are restricted; croniter is told the same (``day_or=False``) so that what
``next_run`` shows and the slot a run is filed under agree with when beat fires.
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from celery.schedules import crontab as celery_crontab
from croniter import croniter

__all__ = [
    "CronError",
    "JobSpec",
    "crontab_row",
    "declared_jobs",
    "next_run",
    "parse_cron",
    "period_seconds",
    "slot_at",
    "tenant_zone",
]

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


class CronError(ValueError):
    """A cron expression that does not parse; ``field`` is where it came from (``cron``)."""

    def __init__(self, message: str, field: str = "cron") -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_cron(expression: Any, field: str = "cron") -> str:
    """The expression as five space-separated fields, or CronError saying what is wrong."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronError(f"{field}: give a cron expression such as '0 2 * * *' (minute hour day month weekday)", field)
    text = " ".join(expression.split())
    if len(text) > 120:
        raise CronError(f"{field}: a cron expression is at most 120 characters", field)
    text = MACROS.get(text.lower(), text)
    parts = text.split(" ")
    if len(parts) == 5:
        parts[4] = _sunday_as_zero(parts[4])
        text = " ".join(parts)
    if len(parts) != 5:
        raise CronError(
            f"{field}: {expression!r} has {len(parts)} fields; a cron expression has 5 "
            "(minute hour day-of-month month day-of-week), e.g. '*/5 * * * *'", field)
    if not croniter.is_valid(text):
        raise CronError(f"{field}: {expression!r} is not a valid cron expression", field)
    try:
        celery_crontab(**dict(zip(FIELDS, parts, strict=True)))
    except (ValueError, TypeError) as exc:
        raise CronError(f"{field}: {expression!r} is not a valid cron expression ({exc}; Sunday is 0)", field) from None
    return text


def _sunday_as_zero(day_of_week: str) -> str:
    """Cron allows 7 for Sunday; beat's crontab only 0."""
    items = []
    for item in day_of_week.split(","):
        if item == "7":
            item = "0"
        elif re.fullmatch(r"[0-6]-7", item):
            item = f"{item[0]}-6,0" if item[0] != "0" else "*"
        items.append(item)
    return ",".join(dict.fromkeys(items))


def tenant_zone(tenant) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(getattr(tenant, "timezone", None) or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _iter(cron: str, zone: zoneinfo.ZoneInfo, start: dt.datetime) -> croniter:
    return croniter(cron, start.astimezone(zone), day_or=False)


def next_run(cron: str, zone: zoneinfo.ZoneInfo, after: dt.datetime | None = None) -> dt.datetime:
    """The next time ``cron`` fires after ``after`` (default now), in UTC."""
    after = after or dt.datetime.now(dt.UTC)
    return _iter(cron, zone, after).get_next(dt.datetime).astimezone(dt.UTC)


def slot_at(cron: str, zone: zoneinfo.ZoneInfo, sent_at: dt.datetime) -> dt.datetime:
    """The slot a firing sent at ``sent_at`` is for: the latest cron time at or before it.

    A second of slack files a message stamped a hair before its minute under that minute.
    """
    return _iter(cron, zone, sent_at + dt.timedelta(seconds=1)).get_prev(dt.datetime).astimezone(dt.UTC)


def period_seconds(cron: str, zone: zoneinfo.ZoneInfo) -> float:
    """The gap between the next two firings (for a message's expiry)."""
    it = _iter(cron, zone, dt.datetime.now(dt.UTC))
    first = it.get_next(dt.datetime)
    return (it.get_next(dt.datetime) - first).total_seconds()


def crontab_row(cron: str, zone: zoneinfo.ZoneInfo):
    """The django-celery-beat CrontabSchedule for ``cron`` in ``zone`` (shared between tasks)."""
    from django_celery_beat.models import CrontabSchedule

    values = dict(zip(FIELDS, cron.split(" "), strict=True))
    row = CrontabSchedule.objects.filter(**values, timezone=zone.key).order_by("id").first()
    return row or CrontabSchedule.objects.create(**values, timezone=zone.key)


@dataclass(frozen=True)
class JobSpec:
    name: str
    schedule: str
    handler: str | None = None


def declared_jobs(version) -> list[JobSpec]:
    """A version's jobs: what its code registered (load report), plus manifest-only ones.

    The load report wins for a name both declare; with no load report (not inspected) the
    manifest is all there is.
    """
    found: dict[str, JobSpec] = {}
    sources = [(version.manifest or {}).get("jobs") or [], (version.load_report or {}).get("jobs") or []]
    for source in sources:  # later sources override earlier ones
        for item in source:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and item.get("schedule"):
                found[item["name"]] = JobSpec(item["name"], str(item["schedule"]), item.get("handler"))
    return list(found.values())
