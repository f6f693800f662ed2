"""Beat: the scheduler it runs, and the sweeps it runs besides the plugins' own schedules.

``CELERY_BEAT_SCHEDULE`` in settings lists the sweeps (DatabaseScheduler copies it into the
database at start); :func:`install_sweeps` writes them directly, for tests and benchmarks
that start beat against a database it has not seen.
"""
from __future__ import annotations

import heapq
import logging
import os
import socket
import time

from celery.beat import event_t
from django.conf import settings
from django.db import DatabaseError
from django_celery_beat.schedulers import DatabaseScheduler

from plugins_core.jobs.sync import RUN_TASK
from plugins_core.models import Heartbeat

__all__ = ["Scheduler", "install_sweeps"]

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 5.0
RUN_BATCH_TASK = "plugins_core.jobs.tasks.run_scheduled_batch"


class Scheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, sending every due entry in one tick.

    Celery's ``tick`` sends one entry and returns 0, and each tick first asks the database
    whether the schedule changed and compares the whole schedule with the last one. With n
    entries due in the same second a slot costs n² comparisons, and its last firing leaves
    seconds late (1,000 per-minute jobs: the median firing left 4 s after its slot). Here
    the first tick of a burst does that check and sends one entry, as Celery's does; the
    entries due behind it are then sent in heap order, with no check in between.

    The plugins' cron schedules due in one tick travel together: one ``run_scheduled_batch``
    message per ``PLUGYARD_JOBS_PER_MESSAGE`` of them, which a worker files in bulk and runs
    at once (1,000 messages of one run each kept two workers at 40 runs/s). Each entry is
    still reserved on its own, so its ``last_run_at`` and run count stay as Celery keeps them.
    """

    _heartbeat_at = float("-inf")
    _firings: list | None = None  # the cron firings of this tick, while it runs

    def tick(self, event_t=event_t, min=min, heappop=heapq.heappop, heappush=heapq.heappush):
        self._heartbeat()
        self._firings = []
        try:
            return self._tick(event_t, min, heappop, heappush)
        finally:
            self._send_firings()
            self._firings = None

    def _tick(self, event_t, min, heappop, heappush):
        delay = super().tick(event_t, min, heappop, heappush)
        heap = self._heap
        if delay != 0 or not heap:
            return delay
        for _ in range(len(heap)):  # each entry at most once per burst
            event = heap[0]
            entry = event[2]
            if event[0] > self._when(entry, 0):
                break
            try:
                is_due, next_time_to_run = self.is_due(entry)
            except Exception:  # as Celery's tick: a broken entry is retried later, not fatal
                is_due, next_time_to_run = self._is_due_failed(entry)
            if not is_due:
                break  # Celery's tick re-heaps it at its retry time
            heappop(heap)
            next_entry = self.reserve(entry)
            self.apply_entry(entry, producer=self.producer)
            heappush(heap, event_t(self._when(next_entry, next_time_to_run), event[1], next_entry))
        return 0  # Celery's tick works out the wait until the next due entry

    def apply_entry(self, entry, producer=None):
        if self._firings is None or entry.task != RUN_TASK or "schedule_id" not in entry.kwargs:
            return super().apply_entry(entry, producer=producer)
        self._firings.append(entry)
        if len(self._firings) >= settings.PLUGYARD_JOBS_PER_MESSAGE:
            self._send_firings()

    def _send_firings(self) -> None:
        firings, self._firings = self._firings or [], []
        if not firings:
            return
        expires = [e for entry in firings if isinstance(e := entry.options.get("expires"), int | float) and e > 0]
        log.info("Scheduler: Sending %d due cron firings (%s)", len(firings), RUN_BATCH_TASK)
        try:
            self.app.send_task(RUN_BATCH_TASK, kwargs={"schedule_ids": [entry.kwargs["schedule_id"] for entry in firings]},
                               producer=self.producer, expires=min(expires) if expires else None)
        except Exception:  # as Celery's apply_entry: a broker error is logged, beat goes on
            log.exception("Scheduler: cannot send %d cron firings", len(firings))

    def _heartbeat(self) -> None:
        """Say beat is alive (``/readyz`` checks it); a database hiccup is beat's to survive."""
        if time.monotonic() - self._heartbeat_at < HEARTBEAT_EVERY_S:
            return
        self._heartbeat_at = time.monotonic()
        try:
            Heartbeat.touch("beat", f"{socket.gethostname()} pid {os.getpid()}")
        except DatabaseError:
            log.warning("beat: cannot write its heartbeat", exc_info=True)


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
