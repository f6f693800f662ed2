"""Where a scheduled job run's host time goes: an investigation tool, not part of `make bench`.

    .venv/bin/python bench/profile_jobs.py [--installations 300] [--threads 16] [--database-url URL]

Sets up what jobs_bench.py does (a throwaway database, the sandbox service, ``--installations``
tenants with the per-minute job) and then, in this process with no Celery and no broker,
runs the ``run_scheduled_batch`` task's body for every beat message's worth of schedules
(``PLUGYARD_JOBS_PER_MESSAGE``) from ``--threads`` threads, as one threads-pool worker does
when a slot's firings arrive together. Prints the
runs' throughput, this process's CPU per run, and the wall time of each stage (the
functions it calls, wrapped with timers; summed over threads, so they overlap). Run it
twice with ``--warm`` to see the same with every installation's sandbox worker already
started (the service keeps ``max_warm_workers`` of them).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import boot, start_sandboxd, stop_process  # noqa: E402

POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def timers() -> dict[str, float]:
    from django.db.backends.utils import CursorWrapper

    from plugins_core import runner
    from plugins_core.jobs import locks, runs
    from plugins_core.sandbox import client

    totals: dict[str, float] = {}
    lock = threading.Lock()

    def wrap(owner, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        def timed(*a, **k):
            started = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                with lock:
                    totals[label] = totals.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, attribute, timed)
        totals[label] = 0.0

    wrap(runs, "fire_scheduled_many", "fire_scheduled_many (schedule lookup + bulk JobRun/Invocation insert)")
    wrap(runs, "execute_many", "execute_many (whole)")
    wrap(locks, "acquire_many", "  locks.acquire_many")
    wrap(runs, "_call", "  _call (one run, on a call thread)")
    wrap(runs, "_record", "  _record (finished runs written, locks freed)")
    wrap(runner, "invoke", "  runner.invoke (call + record save)")
    wrap(client.SandboxClient, "invoke", "    SandboxClient.invoke")
    wrap(CursorWrapper, "execute", "every SQL statement (execute), summed")
    return totals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--installations", type=int, default=300)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--warm", action="store_true", help="a first pass to start every sandbox worker")
    parser.add_argument("--database-url")
    parser.add_argument("--profile", action="store_true",
                        help="instead: the firings one after another in this thread, under cProfile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plugyard-profile-jobs-") as tmp_name:
        tmp = Path(tmp_name)
        env = boot(tmp, database_url=args.database_url)
        sandboxd = start_sandboxd(env, tmp / "sandboxd.log")
        try:
            run(args)
        finally:
            stop_process(sandboxd)


def run(args: argparse.Namespace) -> None:
    import datetime as dt

    from django.conf import settings
    from django.db import close_old_connections, connection
    from django.utils import timezone
    from jobs_bench import setup

    from plugins_core.jobs import runs
    from plugins_core.jobs.models import JobRun, ScheduledTask

    ids = setup(args.installations)
    schedules = list(ScheduledTask.objects.filter(installation_id__in=ids, kind="job").values_list("pk", flat=True))

    per_message = settings.PLUGYARD_JOBS_PER_MESSAGE
    messages = [schedules[n:n + per_message] for n in range(0, len(schedules), per_message)]

    def fire(schedule_ids: list[int], sent_at) -> None:
        """The body of the run_scheduled_batch task, for one beat message's schedules."""
        try:
            runs.execute_many([run.pk for run in runs.fire_scheduled_many(schedule_ids, sent_at)])
        finally:
            close_old_connections()  # what Celery's Django fix-up does after each task

    def one_pass(sent_at, profile=None) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
            for message in messages:
                fire(message, sent_at)
            profile.disable()
        else:
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(lambda message: fire(message, sent_at), messages))
        return time.perf_counter() - wall, time.process_time() - cpu

    base = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    if args.warm:
        one_pass(base - dt.timedelta(minutes=5))
    if args.profile:
        import cProfile
        import io
        import pstats

        profile = cProfile.Profile()
        wall, cpu = one_pass(base + dt.timedelta(seconds=1), profile)
        print(f"{len(schedules)} firings one after another, profiled: {wall * 1000 / len(schedules):.2f} ms per run")
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(key).print_stats(40)
            print(f"--- by {key}\n" + out.getvalue().split("\n\n", 2)[-1])
        return
    totals = timers()
    wall, cpu = one_pass(base + dt.timedelta(seconds=1))
    started = JobRun.objects.filter(trigger="schedule", slot=base, started_at__isnull=False).count()
    print(f"{len(schedules)} firings from {args.threads} threads ({'warm' if args.warm else 'cold'} sandbox workers, "
          f"{connection.vendor}): {len(schedules) / wall:.0f} runs/s, {wall:.2f} s; this process's CPU "
          f"{cpu * 1000 / len(schedules):.2f} ms per run ({cpu / wall * 100:.0f} % of one CPU); {started} started")
    print("stage, wall summed over threads, per run:")
    for label, seconds in totals.items():
        print(f"  {label:<62} {seconds * 1000 / len(schedules):8.2f} ms")
    print(f"(os.cpu_count() = {os.cpu_count()})")


if __name__ == "__main__":
    main()
