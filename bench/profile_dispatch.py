"""Where a fan-out's host time goes: an investigation tool, not part of `make bench`.

    .venv/bin/python bench/profile_dispatch.py [--plugins 100] [--events 20] [--backend sqlite|postgres]

Sets up what events_bench.py does (a throwaway database, the sandbox service, one tenant
with ``--plugins`` one-line hooks), then calls the ``dispatch_event`` task's function in
this process, no Celery and no broker, for ``--events`` warm events one after another.
Prints the wall time and this process's CPU time per event and per invocation, then a
cProfile of the whole pass with *every* thread profiled (the task's and the dispatch
pool's: cProfile alone sees only the thread that enabled it), sorted by own time and by
cumulative time; or, with ``--stages``, no profiler but the wall time of each stage of a
dispatch (the functions of dispatch.py it calls, wrapped with a timer). ``--concurrent N`` runs N events at once from N threads instead, as a
threads-pool worker does with a burst.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import boot, make_tenant, make_zip, minimal_plugin, start_sandboxd, stop_process  # noqa: E402

POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


class ThreadProfiles:
    """A cProfile.Profile per thread that runs while installed; merged into one Stats."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def here(self) -> None:
        if getattr(self._local, "profile", None) is None:
            profile = cProfile.Profile()
            self._local.profile = profile
            with self._lock:
                self._all.append(profile)
            profile.enable()

    def stop_here(self) -> None:
        profile = getattr(self._local, "profile", None)
        if profile is not None:
            profile.disable()

    def stats(self) -> pstats.Stats:
        out = io.StringIO()
        stats = pstats.Stats(self._all[0], stream=out)
        for profile in self._all[1:]:
            stats.add(profile)
        return stats


def timed_stages() -> dict:
    """Wrap the stages of a dispatch with wall-clock timers; returns the running totals."""
    from plugins_core import invocations, runner
    from plugins_core.events import dispatch, tasks
    from plugins_core.sandbox import client

    totals: dict = {"dispatch_event (whole task)": 0.0}
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
        totals.setdefault(label, 0.0)

    wrap(dispatch, "record_pending", "  record_pending (handlers + create_pending)")
    wrap(tasks, "deliver_webhooks", "  deliver_webhooks")
    wrap(dispatch, "send_all", "  send_all")
    wrap(dispatch, "handlers", "    handlers (the subscription queries)")
    wrap(invocations, "create_pending", "    invocations.create_pending (bulk insert)")
    wrap(invocations, "claim_rows", "    invocations.claim_rows (select_for_update + batched UPDATE)")
    wrap(invocations, "save_all", "    invocations.save_all (outcomes: log budget + batched UPDATE)")
    wrap(dispatch, "_run_group", "    _run_group, summed over threads")
    wrap(runner, "sandbox_call", "      runner.sandbox_call, summed")
    wrap(client.SandboxClient, "invoke", "      SandboxClient.invoke, summed")

    def reset() -> None:
        for key in list(totals):
            totals[key] = 0.0
        totals["_reset"] = reset

    reset()
    return totals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--plugins", type=int, default=100)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=1)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--stages", action="store_true",
                        help="no cProfile: time the stages of each dispatch instead (wall, summed over events)")
    args = parser.parse_args()

    database = f"plugyard_profile_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="plugyard-profile-dispatch-") as tmp_name:
        tmp = Path(tmp_name)
        url = None
        if args.backend == "postgres":
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{database}"')
            url = f"postgres://postgres@127.0.0.1:5432/{database}"
        # CELERY_TASK_ALWAYS_EAGER off and no worker: emit() queues to a broker nobody reads.
        env = boot(tmp, database_url=url)
        sandboxd = start_sandboxd(env, tmp / "sandboxd.log")
        try:
            run(args)
        finally:
            stop_process(sandboxd)
            from django.db import connections

            connections.close_all()
            if args.backend == "postgres":
                with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def run(args: argparse.Namespace) -> None:
    from django.db import connection

    from plugins_core import runner, services
    from plugins_core.events import tasks
    from plugins_core.events.emit import emit
    from plugins_core.models import Invocation

    tenant, membership, _ = make_tenant("profile-events")
    for n in range(args.plugins):
        result = services.upload_package(tenant, membership.user, make_zip(minimal_plugin(f"prof-sub-{n:03d}")), "p.zip")
        services.enable(result.installation)

    stages = timed_stages() if args.stages else None
    stages_lock = threading.Lock()

    def one(n: int) -> None:
        event = emit(tenant, "auth.user.created", {"user": {"id": n, "email": f"u{n}@x.test", "username": f"u{n}"}})
        started = time.perf_counter()
        tasks.dispatch_event(event.pk)  # the task's body, here
        if stages is not None:
            with stages_lock:
                stages["dispatch_event (whole task)"] = stages.get("dispatch_event (whole task)", 0.0) + (
                    time.perf_counter() - started)
        if args.concurrent > 1:
            connection.close()

    if stages is not None:
        args.profile = False
    for n in range(3):  # warm: every installation's sandbox worker started, connections open
        one(n)

    if stages is not None:
        stages["_reset"]()
    profiles = ThreadProfiles()
    pool = runner._pool()
    workers = ThreadPoolExecutor(args.concurrent) if args.concurrent > 1 else None

    def on_every_pool_thread(action) -> None:
        barrier = threading.Barrier(pool._max_workers)
        list(pool.map(lambda _: (action(), barrier.wait()), range(pool._max_workers)))
        if workers is not None:
            wbarrier = threading.Barrier(args.concurrent)
            list(workers.map(lambda _: (action(), wbarrier.wait()), range(args.concurrent)))

    if args.profile:
        on_every_pool_thread(profiles.here)
        profiles.here()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if workers is None:
        for n in range(args.events):
            one(100 + n)
    else:
        list(workers.map(one, range(100, 100 + args.events)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if args.profile:
        profiles.stop_here()
        on_every_pool_thread(profiles.stop_here)
    done = Invocation.objects.filter(status="ok", event__payload__user__id__gte=100).count()
    invocations = args.events * args.plugins
    print(f"{args.events} events × {args.plugins} installations, {args.concurrent} at a time, in process "
          f"({args.backend}{', profiled' if args.profile else ''}): {wall * 1000 / args.events:.1f} ms wall per event, "
          f"{invocations / wall:.0f} invocations/s; this process's CPU {cpu * 1000 / invocations:.2f} ms per "
          f"invocation ({cpu / wall * 100:.0f} % of one CPU); {done}/{invocations} ok")
    if stages is not None:
        print("\nstage (wall per event; concurrent stages overlap): ")
        for name, seconds in stages.items():
            if name != "_reset":
                print(f"  {name:<58} {seconds * 1000 / args.events:8.2f} ms")
    if args.profile:
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = profiles.stats()
            stats.stream = out
            stats.sort_stats(key).print_stats(args.top)
            print(f"\n--- by {key}\n" + out.getvalue().split("\n\n", 2)[-1])


if __name__ == "__main__":
    main()
