"""The sweeps beat runs besides the plugins' own schedules, as beat rows.

``CELERY_BEAT_SCHEDULE`` in settings lists them (DatabaseScheduler copies it into the
database at start); :func:`install_sweeps` writes them directly, for tests and benchmarks
that start beat against a database it has not seen.
"""
from __future__ import annotations

__all__ = ["install_sweeps"]



def install_sweeps(every: dict[str, float] | None = None) -> None:
    """Create or update the sweep rows; ``every`` overrides intervals by entry name."""
    from django.conf import settings
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        seconds = int((every or {}).get(name, entry["schedule"]))
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": entry["task"], "interval": interval, "crontab": None, "enabled": True},
        )
