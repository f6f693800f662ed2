"""Event fan-out benchmark: prints a markdown section. Standalone: `.venv/bin/python bench/events_bench.py`.

One tenant has 100 distinct plugins installed and enabled, each with one handler of
``auth.user.created`` that returns at once (uploaded through ``services.upload_package``).
Real Celery workers (``celery -A config worker --concurrency 2 -P prefork``, same
environment) run the fan-out. Measured, per back end:

* fan-out latency: from ``emit()`` to all 100 ``Invocation`` rows recorded (finished), for
  the first event (cold: every worker child starts sandboxes) and warm events one at a time;
* sustained rate: a burst of events emitted back to back, until every invocation finished;
* dispatch cost against the number of tenants: ``subscribed_installations(tenant, …)`` plus
  ``emit()`` for one tenant with 10 tenants in the database, then 10,000 (each with an
  installation), in the same run, workers stopped (the emitted fan-outs stay queued).

Legs (``--backend all``, the default, runs each as a subprocess): SQLite + kombu's filesystem
broker with one worker, as configured; and, when PostgreSQL and Redis answer on 127.0.0.1, a
throwaway PostgreSQL database (``plugyard_bench_<pid>``, dropped afterwards) + Redis db 14
with two workers. ``--window`` and ``--polling-interval`` (a settings overlay) are for
looking into the filesystem broker's polling by hand.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    ROOT,
    boot,
    fmt_ms,
    make_tenant,
    make_zip,
    minimal_plugin,
    pct,
    print_table,
    verdict,
)

EVENT = "auth.user.created"
TARGET_TENANT_RATIO = 1.5
POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"


def payload(n: int) -> dict:
    return {"user": {"id": n, "email": f"user{n}@bench.test", "username": f"user{n}"}}


def start_workers(env: dict[str, str], count: int, tmp: Path) -> list[subprocess.Popen]:
    workers = []
    for n in range(count):
        log = open(tmp / f"celery-{n}.log", "w")
        workers.append(subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "worker", "--concurrency", "2", "-P", "prefork",
             "--loglevel", "WARNING", "-n", f"bench{n}@%h", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        ))
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def wait_finished(event_ids: list[int], expected: int, timeout: float) -> tuple[float, int, int]:
    """Poll until ``expected`` invocations of these events are finished; (monotonic end, ok, total)."""
    from plugins_core.events.dispatch import TERMINAL
    from plugins_core.models import Invocation

    deadline = time.monotonic() + timeout
    terminal = [str(s) for s in TERMINAL]
    while True:
        rows = Invocation.objects.filter(event_id__in=event_ids, status__in=terminal)
        done = rows.count()
        now = time.monotonic()
        if done >= expected or now > deadline:
            return now, rows.filter(status="ok").count(), done
        time.sleep(0.005)


def run_backend(args: argparse.Namespace) -> None:
    postgres = args.backend == "postgres"
    database = f"plugyard_bench_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix=f"plugyard-bench-events-{args.backend}-") as tmp_name:
        tmp = Path(tmp_name)
        extra = {}
        if args.polling_interval is not None:
            (tmp / "bench_settings.py").write_text(
                "from config.settings import *  # noqa: F401,F403\n"
                "CELERY_BROKER_TRANSPORT_OPTIONS = {**globals().get('CELERY_BROKER_TRANSPORT_OPTIONS', {}), "
                f"'polling_interval': {args.polling_interval!r}}}\n")
            extra["DJANGO_SETTINGS_MODULE"] = "bench_settings"
        if postgres:
            import psycopg
            import redis

            redis.Redis.from_url(REDIS_URL).flushdb()
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{database}"')
            extra = {"CELERY_BROKER_URL": REDIS_URL}
        try:
            env = boot(tmp, database_url=f"postgres://postgres@127.0.0.1:5432/{database}" if postgres else None,
                       extra_env=extra)
            measure(args, env, tmp, workers_count=2 if postgres else 1)
        finally:
            from django.db import connections

            connections.close_all()
            if postgres:
                with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                redis.Redis.from_url(REDIS_URL).flushdb()


def discard_queued_events() -> int:
    """Drop the fan-outs queued during set-up, so the first timed event is not queued behind them.

    Creating the tenant and its owner emits ``organization.created`` and ``auth.user.created``;
    with no worker running yet their dispatch waits in the broker, and would fan out to all
    the plugins installed since.
    """
    from django.utils import timezone

    from config.celery import app
    from plugins_core.events.models import Event

    app.control.purge()
    return Event.objects.filter(dispatched_at__isnull=True).update(dispatched_at=timezone.now())


def measure(args: argparse.Namespace, env: dict[str, str], tmp: Path, workers_count: int) -> None:
    from django.db import connections

    from plugins_core import services
    from plugins_core.events.dispatch import subscribed_installations
    from plugins_core.events.emit import emit

    tenant, membership, _ = make_tenant("bench-events")
    started = time.perf_counter()
    for n in range(args.plugins):
        result = services.upload_package(tenant, membership.user, make_zip(minimal_plugin(f"bench-sub-{n:03d}")), "p.zip")
        services.enable(result.installation)
    setup_s = time.perf_counter() - started
    assert len(subscribed_installations(tenant, EVENT)) == args.plugins
    discarded = discard_queued_events()
    connections.close_all()

    workers = start_workers(env, workers_count, tmp)
    rows: list[tuple[str, str, str]] = []
    try:
        # First event: every worker child starts zygotes and warm workers for the plugins it gets.
        t0 = time.monotonic()
        first = emit(tenant, EVENT, payload(0))
        end, ok, done = wait_finished([first.pk], args.plugins, timeout=args.window or 300)
        if done < args.plugins:
            rows.append((f"fan-out to {args.plugins} installations, first event (cold sandboxes)",
                         f"{done} of {args.plugins} finished after {end - t0:.0f} s ({done / (end - t0):.1f} invocations/s)",
                         f"{ok} ok; stopped waiting"))
        else:
            rows.append((f"fan-out to {args.plugins} installations, first event (cold sandboxes)",
                         fmt_ms((end - t0) * 1000), f"{ok}/{args.plugins} ok"))
        if not args.window:
            for n in range(args.warmup):  # let every child meet every installation
                event = emit(tenant, EVENT, payload(1 + n))
                wait_finished([event.pk], args.plugins, timeout=120)
            single, single_ok = [], 0
            for n in range(args.single):
                t0 = time.monotonic()
                event = emit(tenant, EVENT, payload(100 + n))
                end, ok, done = wait_finished([event.pk], args.plugins, timeout=120)
                single.append((end - t0) * 1000)
                single_ok += ok
            rows.append((f"fan-out to {args.plugins} installations, warm (p50 / max of {args.single})",
                         f"{fmt_ms(pct(single, 0.5))} / {fmt_ms(max(single))}",
                         f"{single_ok}/{args.plugins * args.single} ok"))
            t0 = time.monotonic()
            burst = [emit(tenant, EVENT, payload(1000 + n)).pk for n in range(args.burst)]
            end, burst_ok, burst_done = wait_finished(burst, args.plugins * args.burst, timeout=300)
            burst_s = end - t0
            invocations = args.plugins * args.burst
            rows.append((f"sustained: {args.burst} events × {args.plugins} installations, emitted back to back",
                         f"{args.burst / burst_s:.2f} events/s ({invocations / burst_s:.0f} invocations/s; {burst_s:.1f} s)",
                         f"{burst_ok}/{invocations} ok{'' if burst_done >= invocations else f', only {burst_done} finished'}"))
    finally:
        stop_workers(workers)
        if not args.window and any(r[2].endswith("stopped waiting") for r in rows):
            for log in sorted(tmp.glob("celery-*.log")):
                print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)

    if args.sandbox_cache:
        rows += sandbox_cache_rows(args, tenant)
    if args.dispatch_cost:
        rows += dispatch_cost_rows(args, tenant)
    from django.conf import settings

    broker = "SQLite + filesystem broker" if args.backend == "sqlite" else "PostgreSQL + Redis"
    if args.backend == "sqlite":
        polling = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}).get("polling_interval", 1.0)
        how = "settings overlay" if args.polling_interval is not None else "as configured"
        broker += f" (polling interval {polling:g} s, {how})"
    print(f"### {broker}; {workers_count} worker{'s' if workers_count > 1 else ''} × `--concurrency 2 -P prefork`\n")
    note = (f"Set-up: {args.plugins} plugins uploaded and enabled in {setup_s:.1f} s; {discarded} events "
            "queued during set-up (creating the tenant emits them) discarded before the workers started.")
    if args.window:
        note += f" Only the first event is timed here, for at most {args.window} s."
    else:
        note += (f" Warm figures follow {args.warmup} warm-up events.")
    print(note + "\n")
    print_table(rows, ("measure", "result", "check"))
    if args.sandbox_cache:
        print("\nWhy: `Supervisor._drop_zygote` closes a plugin version's warm workers with its zygote, and "
              "zygotes are an LRU of `max_zygotes` per process (`PLUGYARD_SANDBOX_MAX_ZYGOTES`). A process that cycles through more plugin "
              "versions than that (here every pool child meets all of them) evicts each zygote before it is "
              "needed again, so nearly every invocation starts a jail and a zygote (~95 ms) — the sandbox's "
              "`max_workers` does not help. (A cProfile of that pass, run separately while writing this "
              "benchmark, put ~87 % of its time in `ZygoteProcess.start`.)")
    print()


def sandbox_cache_rows(args: argparse.Namespace, tenant) -> list[tuple[str, str, str]]:
    """Why warm fan-out is slow: one process cycling through the installations, per sandbox cache size.

    Runs ``dispatch.run_event_hooks`` (what each Celery task does) in this process for every
    installation, twice, and times the second pass: once with the default sandbox policy and
    once with room for a zygote per plugin version.
    """
    from plugins_core.events import dispatch
    from plugins_core.events.emit import emit
    from plugins_core.models import Installation
    from plugins_core.sandbox import SandboxPolicy, Supervisor
    from plugins_core.sandbox import supervisor as supervisor_module

    installations = list(Installation.objects.for_tenant(tenant).select_related("tenant", "plugin", "version"))
    default = SandboxPolicy.from_django_settings()
    roomy = default.with_overrides(max_zygotes=len(installations) + 8, max_workers=len(installations) + 8)
    results = {}
    for name, policy in (("default", default), ("roomy", roomy)):
        previous = supervisor_module._global
        supervisor_module._global = Supervisor(policy)
        try:
            for _ in range(2):
                event = emit(tenant, EVENT, payload(5000))
                started = time.perf_counter()
                for installation in installations:
                    dispatch.run_event_hooks(event, installation)
                results[name] = (time.perf_counter() - started) * 1000 / len(installations)
        finally:
            supervisor_module._global.close()
            supervisor_module._global = previous
    return [
        (f"one process cycling through the {len(installations)} installations, second pass, per invocation: "
         f"default sandbox policy ({default.max_zygotes} zygotes, {default.max_workers} warm workers)",
         fmt_ms(results["default"]), "why warm fan-out is slow: see below the table"),
        (f"the same with room for every plugin version ({roomy.max_zygotes} zygotes, {roomy.max_workers} workers)",
         fmt_ms(results["roomy"]), "—"),
    ]


def dispatch_cost_rows(args: argparse.Namespace, tenant) -> list[tuple[str, str, str]]:
    """subscribed_installations + emit for one tenant, with few and then many tenants in the database."""
    from django.db import connection

    from plugins_core.events.dispatch import subscribed_installations
    from plugins_core.events.emit import emit
    from plugins_core.models import Installation
    from tenants.models import Tenant

    version = Installation.objects.for_tenant(tenant).select_related("version").first().version

    def add_tenants(upto: int) -> None:
        have = Tenant.objects.count()
        new = Tenant.objects.bulk_create(
            [Tenant(slug=f"bench-t-{n:05d}", name=f"Bench {n}") for n in range(have, upto)], batch_size=1000)
        Installation.objects.bulk_create(
            [Installation(tenant=t, plugin=version.plugin, version=version, enabled=True) for t in new],
            batch_size=1000)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    def cost(measured) -> list[float]:
        times = []
        for n in range(args.dispatch_reps + 5):
            t0 = time.perf_counter()
            found = subscribed_installations(measured, EVENT)
            emit(measured, EVENT, payload(n))
            if n >= 5:
                times.append((time.perf_counter() - t0) * 1000)
            assert len(found) == 1
        return times

    add_tenants(args.tenants_small)
    measured = Tenant.objects.exclude(pk=tenant.pk).order_by("pk").first()
    small_count = Tenant.objects.count()
    small = cost(measured)
    started = time.perf_counter()
    add_tenants(args.tenants_large)
    bulk_s = time.perf_counter() - started
    large_count, installations = Tenant.objects.count(), Installation.objects.count()
    large = cost(measured)
    ratio = statistics.median(large) / statistics.median(small)
    how = (f"median of {args.dispatch_reps} calls for a tenant with one installation; workers stopped, so "
           f"the fan-outs stay queued; tenants bulk-created with an enabled installation each "
           f"({large_count - small_count} in {bulk_s:.1f} s), then `ANALYZE`")
    return [
        (f"dispatch + emit, {small_count} tenants (p50 / p99)", f"{fmt_ms(pct(small, 0.5))} / {fmt_ms(pct(small, 0.99))}", how),
        (f"dispatch + emit, {large_count} tenants, {installations} installations (p50 / p99)",
         f"{fmt_ms(pct(large, 0.5))} / {fmt_ms(pct(large, 0.99))}", "—"),
        (f"dispatch cost ratio, {large_count} / {small_count} tenants (p50)", f"{ratio:.2f}",
         f"≤ {TARGET_TENANT_RATIO} — {verdict(ratio <= TARGET_TENANT_RATIO)}"),
    ]


def reachable(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["all", "sqlite", "postgres"], default="all")
    parser.add_argument("--plugins", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--single", type=int, default=3)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--window", type=int, default=0,
                        help="time only the first event, for at most this many seconds (0: the full set)")
    parser.add_argument("--sandbox-cache", action="store_true",
                        help="also time run_event_hooks in process with the default and a roomy sandbox cache")
    parser.add_argument("--no-dispatch-cost", dest="dispatch_cost", action="store_false")
    parser.add_argument("--dispatch-reps", type=int, default=200)
    parser.add_argument("--tenants-small", type=int, default=10)
    parser.add_argument("--tenants-large", type=int, default=10_000)
    parser.add_argument("--polling-interval", type=float, default=None,
                        help="override kombu's broker polling interval (filesystem broker) through a settings overlay")
    args = parser.parse_args()
    if args.backend != "all":
        run_backend(args)
        return

    print("## Events: fan-out through Celery, and dispatch cost against the number of tenants\n")
    print(f"One tenant, {args.plugins} distinct plugins installed and enabled, each a one-line "
          "`auth.user.created` hook (`return {\"seen\": …}`) uploaded through `services.upload_package`. "
          "An invocation counts as recorded when its `Invocation` row is finished; times are wall-clock from "
          "the `emit()` call in the benchmark process, which polls the database every 5 ms. Real Celery "
          "worker subprocesses with the same environment. Two legs, each on its own throwaway database: "
          "SQLite + the filesystem broker as configured, one worker; PostgreSQL (`plugyard_bench_<pid>`, "
          "created and dropped) + Redis db 14, two workers.\n")
    forwarded = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in
                 ("plugins", "warmup", "single", "burst", "dispatch_reps", "tenants_small", "tenants_large")]
    legs = [["--backend", "sqlite", "--sandbox-cache"]]
    postgres = reachable("127.0.0.1", 5432) and reachable("127.0.0.1", 6379)
    if postgres:
        legs.append(["--backend", "postgres"])
    for leg in legs:
        child = subprocess.run([sys.executable, __file__, *forwarded, *leg],
                               capture_output=True, text=True, timeout=900)
        if child.returncode:
            print(f"### {' '.join(leg)}: failed (exit {child.returncode})\n\n```\n{child.stderr[-3000:]}\n```\n")
        else:
            print(child.stdout)
    if not postgres:
        print("PostgreSQL + Redis: skipped — nothing answers on 127.0.0.1:5432 and :6379.\n")


if __name__ == "__main__":
    main()
