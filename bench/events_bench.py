"""Event fan-out benchmark: prints a markdown section. Standalone: `.venv/bin/python bench/events_bench.py`.

One tenant has 100 distinct plugins installed and enabled, each with one handler of
``auth.user.created`` that returns at once (uploaded through ``services.upload_package``).
Each leg starts the machine's sandbox service first (``manage.py sandboxd``, on the socket
under the leg's temp dir), then real Celery workers as the Procfile runs them
(``celery -A config worker --pool threads --concurrency 16``, same environment). One
``dispatch_event`` task runs all 100 installations' hooks concurrently through the service.
Measured, per back end, in one run:

* context: a warm call of one installation's hook straight through the service
  (``SandboxClient.invoke``, no Celery, no database), p50 — the floor under the fan-out;
* fan-out latency: from ``emit()`` to all 100 ``Invocation`` rows recorded (finished), for
  the first event (every installation's sandbox worker starts) and then warm events one at
  a time, p50 / p99 (target p50 ≤ 150 ms);
* sustained rate: a burst of events emitted back to back, until every invocation finished,
  in invocations/s (target ≥ 1,000/s), with the CPU each kind of process spent per
  invocation meanwhile (read from /proc);
* PostgreSQL + Redis only: the same burst with two worker processes, against one (target
  ≥ 1.6×);
* dispatch cost against the number of tenants: ``subscribed_installations(tenant, …)`` plus
  ``emit()`` for one tenant with 10 tenants in the database, then 10,000 (each with an
  installation), in the same run, workers stopped (the emitted fan-outs stay queued).

Legs (``--backend all``, the default, runs each as a subprocess): SQLite + kombu's filesystem
broker with one worker, as configured; and, when PostgreSQL and Redis answer on 127.0.0.1, a
throwaway PostgreSQL database (``plugyard_bench_<pid>``, dropped afterwards) + Redis db 14.
``--window`` and ``--polling-interval`` (a settings overlay) are for looking into the
filesystem broker's polling by hand.
"""
from __future__ import annotations

import argparse
import os
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
    start_sandboxd,
    stop_process,
    verdict,
)
from _cpu import MACHINE, describe, difference, snapshot

EVENT = "auth.user.created"
TARGET_TENANT_RATIO = 1.5
TARGET_FANOUT_P50_MS = 150.0
TARGET_RATE = 1000.0  # invocations/s
TARGET_SCALING = 1.6
POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
CONCURRENCY = 16  # the Procfile's worker: --pool threads --concurrency 16


def payload(n: int) -> dict:
    return {"user": {"id": n, "email": f"user{n}@bench.test", "username": f"user{n}"}}


def start_workers(env: dict[str, str], count: int, tmp: Path, tag: str) -> list[subprocess.Popen]:
    workers = []
    for n in range(count):
        with open(tmp / f"celery-{tag}-{n}.log", "w") as log:
            workers.append(subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "worker", "--pool", "threads",
                 "--concurrency", str(CONCURRENCY), "--loglevel", "WARNING", "-n", f"bench-{tag}-{n}@%h",
                 "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))
    return workers


def wait_finished(event_ids: list[int], expected: int, timeout: float, poll_s: float = 0.005) -> tuple[float, int, int]:
    """Poll until ``expected`` invocations of these events are finished; (monotonic end, ok, total)."""
    from plugins_core.models import TERMINAL_STATUSES as TERMINAL
    from plugins_core.models import Invocation

    deadline = time.monotonic() + timeout
    terminal = [str(s) for s in TERMINAL]
    while True:
        rows = Invocation.objects.filter(event_id__in=event_ids, status__in=terminal)
        done = rows.count()
        now = time.monotonic()
        if done >= expected or now > deadline:
            return now, rows.filter(status="ok").count(), done
        time.sleep(poll_s)


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
            extra["CELERY_BROKER_URL"] = REDIS_URL
        sandboxd = None
        try:
            env = boot(tmp, database_url=f"postgres://postgres@127.0.0.1:5432/{database}" if postgres else None,
                       extra_env=extra)
            # Before anything calls plugin code: uploads inspect the package in the service too.
            sandboxd = start_sandboxd(env, tmp / "sandboxd.log")
            measure(args, env, tmp, sandboxd)
        finally:
            if sandboxd is not None:
                stop_process(sandboxd)
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


def service_call_rows(args: argparse.Namespace, tenant) -> tuple[float, list[tuple[str, str, str]]]:
    """One installation's hook straight through the service: the floor under a fan-out."""
    from plugins_core import runner
    from plugins_core.models import Installation
    from plugins_core.sandbox import SandboxClient
    from plugins_core.sandboxes import policy

    installation = (Installation.objects.for_tenant(tenant).select_related("tenant", "plugin", "version")
                    .order_by("pk").first())
    client = SandboxClient(policy())  # a client of its own: its connection, not the process's pool
    times = []
    try:
        for n in range(args.service_calls + 20):
            call = runner.sandbox_call(installation, "hook", EVENT, payload(n), handler="on_user_created")
            started = time.perf_counter()
            result = client.invoke(call, None)
            if n >= 20:
                times.append((time.perf_counter() - started) * 1000)
            if not result.ok:
                raise RuntimeError(f"the service refused a warm call: {result.status} {result.error}")
    finally:
        client.close()
    p50 = pct(times, 0.5)
    return p50, [(f"context: one warm hook call through the sandbox service (`SandboxClient.invoke`, "
                  f"p50 / p99 of {args.service_calls})", f"{fmt_ms(p50)} / {fmt_ms(pct(times, 0.99))}",
                  "no Celery, no database: the floor under each invocation")]


def fanout_stages(event, total_ms: float) -> tuple[float, float, float]:
    """(emit → first pending row, → last finished hook, → seen by the poll), in ms."""
    from django.db.models import Max, Min

    from plugins_core.models import Invocation

    found = Invocation.objects.filter(event=event).aggregate(first=Min("created_at"), last=Max("finished_at"))
    queued = (found["first"] - event.created_at).total_seconds() * 1000
    hooks = (found["last"] - found["first"]).total_seconds() * 1000
    return queued, hooks, total_ms - queued - hooks


def burst(args: argparse.Namespace, tenant, workers: list[subprocess.Popen], sandboxd: subprocess.Popen,
          first_id: int) -> dict:
    from plugins_core.events.emit import emit

    def cpu() -> dict[str, float]:
        # This process's own time (process_time): sandboxd and the workers are its children.
        return {"this benchmark (polling)": time.process_time(),
                **snapshot({"Celery worker": [w.pid for w in workers]}, sandboxd=sandboxd.pid,
                           servers=args.backend == "postgres")}

    before = cpu()
    t0 = time.monotonic()
    ids = [emit(tenant, EVENT, payload(first_id + n)).pk for n in range(args.burst)]
    invocations = args.plugins * args.burst
    end, ok, done = wait_finished(ids, invocations, timeout=600, poll_s=0.02)
    after = cpu()
    seconds = end - t0
    return {"seconds": seconds, "ok": ok, "done": done, "invocations": invocations, "rate": done / seconds,
            "cpu": difference(before, after)}


def burst_row(args: argparse.Namespace, result: dict, label: str) -> tuple[str, str, str]:
    invocations = result["invocations"]
    short = "" if result["done"] >= invocations else f", only {result['done']} finished"
    return (f"sustained, {label}: {args.burst} events × {args.plugins} installations, emitted back to back",
            f"{result['rate']:.0f} invocations/s ({args.burst / result['seconds']:.2f} events/s; "
            f"{result['seconds']:.2f} s; {result['ok']}/{invocations} ok{short})",
            f"≥ {TARGET_RATE:,.0f}/s — {verdict(result['rate'] >= TARGET_RATE)}")


def cpu_row(result: dict, label: str) -> tuple[str, str, str]:
    kinds, machine = describe(result["cpu"], result["seconds"], per=max(1, result["done"]))
    return (f"host CPU per invocation during that burst ({label}), ms", kinds, machine)


def measure(args: argparse.Namespace, env: dict[str, str], tmp: Path, sandboxd: subprocess.Popen) -> None:
    from django.db import connections

    from plugins_core import services
    from plugins_core.events.dispatch import subscribed_installations
    from plugins_core.events.emit import emit

    postgres = args.backend == "postgres"
    tenant, membership, _ = make_tenant("bench-events")
    started = time.perf_counter()
    for n in range(args.plugins):
        result = services.upload_package(tenant, membership.user, make_zip(minimal_plugin(f"bench-sub-{n:03d}")), "p.zip")
        services.enable(result.installation)
    setup_s = time.perf_counter() - started
    assert len(subscribed_installations(tenant, EVENT)) == args.plugins
    discarded = discard_queued_events()
    service_p50, rows = service_call_rows(args, tenant)
    connections.close_all()

    workers = start_workers(env, 1, tmp, "one")
    failed = False
    bursts: dict[int, dict] = {}
    try:
        # First event: the service forks a warm worker for every installation (its zygotes
        # were loaded by the uploads' checks).
        t0 = time.monotonic()
        first = emit(tenant, EVENT, payload(0))
        end, ok, done = wait_finished([first.pk], args.plugins, timeout=args.window or 300)
        if done < args.plugins:
            failed = True
            rows.append((f"fan-out to {args.plugins} installations, first event (cold workers)",
                         f"{done} of {args.plugins} finished after {end - t0:.0f} s ({done / (end - t0):.1f} invocations/s)",
                         f"{ok} ok; stopped waiting"))
        else:
            rows.append((f"fan-out to {args.plugins} installations, first event (cold workers)",
                         fmt_ms((end - t0) * 1000), f"{ok}/{args.plugins} ok"))
        if not args.window and not failed:
            for n in range(args.warmup):
                event = emit(tenant, EVENT, payload(1 + n))
                wait_finished([event.pk], args.plugins, timeout=120)
            single, single_ok, stages = [], 0, []
            for n in range(args.single):
                t0 = time.monotonic()
                event = emit(tenant, EVENT, payload(100 + n))
                end, ok, done = wait_finished([event.pk], args.plugins, timeout=120)
                single.append((end - t0) * 1000)
                single_ok += ok
                stages.append(fanout_stages(event, (end - t0) * 1000))
                time.sleep(0.05)  # one at a time: the worker's previous task has ended
            p50 = pct(single, 0.5)
            rows.append((f"fan-out to {args.plugins} warm installations, emit → all finished "
                         f"(p50 / p99 of {args.single}; {single_ok}/{args.plugins * args.single} ok)",
                         f"{fmt_ms(p50)} / {fmt_ms(pct(single, 0.99))}",
                         f"p50 ≤ {TARGET_FANOUT_P50_MS:g} ms — {verdict(p50 <= TARGET_FANOUT_P50_MS)}"))
            rows.append(("fan-out p50 / one warm service call p50 (the pipeline's overhead)",
                         f"{p50 / service_p50:.0f}× ({p50 / args.plugins:.2f} ms per installation)", "—"))
            rows.append(("where a warm fan-out's time goes, p50 of each stage: emit → the task's pending rows "
                         "(broker, Celery, subscriptions) / → last hook finished (claim, hooks) / → seen "
                         "(outcomes written, 5 ms poll)",
                         " / ".join(fmt_ms(pct([s[k] for s in stages], 0.5)) for k in range(3)),
                         "from the rows' timestamps"))
            bursts[1] = burst(args, tenant, workers, sandboxd, 1000)
            rows.append(burst_row(args, bursts[1], "1 worker"))
            rows.append(cpu_row(bursts[1], "1 worker"))
    finally:
        stop_workers(workers, tmp, args)
    if postgres and not args.window and not failed:
        workers = start_workers(env, 2, tmp, "two")
        try:
            for n in range(max(args.warmup, 2) * 2):  # both processes connected and warm
                event = emit(tenant, EVENT, payload(3000 + n))
                wait_finished([event.pk], args.plugins, timeout=120)
            bursts[2] = burst(args, tenant, workers, sandboxd, 4000)
            rows.append(burst_row(args, bursts[2], "2 workers"))
            rows.append(cpu_row(bursts[2], "2 workers"))
            ratio = bursts[2]["rate"] / bursts[1]["rate"]
            # A second process can only use the CPU the first left idle.
            busy = bursts[1]["cpu"][MACHINE] / (bursts[1]["seconds"] * (os.cpu_count() or 1))
            rows.append(("scaling: sustained rate, 2 worker processes / 1", f"{ratio:.2f}×",
                         f"≥ {TARGET_SCALING}× — {verdict(ratio >= TARGET_SCALING)}; the machine was "
                         f"{busy * 100:.0f} % busy with 1, so at most ~{1 / max(busy, 1e-3):.2f}× here"))
        finally:
            stop_workers(workers, tmp, args)

    if args.dispatch_cost:
        rows += dispatch_cost_rows(args, tenant)
    from django.conf import settings

    broker = "SQLite + filesystem broker" if args.backend == "sqlite" else "PostgreSQL + Redis"
    if args.backend == "sqlite":
        polling = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}).get("polling_interval", 1.0)
        how = "settings overlay" if args.polling_interval is not None else "as configured"
        broker += f" (polling interval {polling:g} s, {how})"
    workers_text = "1 worker" + (", then 2" if postgres else "")
    print(f"### {broker}; sandbox service; {workers_text} × `--pool threads --concurrency {CONCURRENCY}`\n")
    policy = settings.PLUGYARD_SANDBOX
    note = (f"Set-up: {args.plugins} plugins uploaded and enabled in {setup_s:.1f} s; {discarded} events "
            "queued during set-up (creating the tenant emits them) discarded before the workers started. "
            f"Sandbox budget: {policy.get('tenant_concurrency')} calls at once per tenant; "
            f"{settings.PLUGYARD_DISPATCH_THREADS} dispatch threads per worker process.")
    if args.window:
        note += f" Only the first event is timed here, for at most {args.window} s."
    else:
        note += f" Warm figures follow {args.warmup} warm-up events."
    print(note + "\n")
    print_table(rows, ("measure", "result", "check"))
    print()


def stop_workers(workers: list[subprocess.Popen], tmp: Path, args: argparse.Namespace) -> None:
    for worker in workers:
        stop_process(worker, timeout=20)
    if any(w.returncode not in (0, -15) for w in workers):
        for log in sorted(tmp.glob("celery-*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)


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
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--single", type=int, default=30)
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument("--service-calls", type=int, default=500)
    parser.add_argument("--window", type=int, default=0,
                        help="time only the first event, for at most this many seconds (0: the full set)")
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
          "the `emit()` call in the benchmark process, which polls the database (every 5 ms for one event, "
          "20 ms for a burst). Each leg starts the sandbox service (`manage.py sandboxd`) and then real "
          "Celery worker subprocesses as the Procfile runs them, with the same environment; one "
          "`dispatch_event` task runs all of an event's hooks concurrently through the service. Two legs, "
          "each on its own throwaway database: SQLite + the filesystem broker as configured, one worker; "
          "PostgreSQL (`plugyard_bench_<pid>`, created and dropped) + Redis db 14, one worker and then two.\n")
    forwarded = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in
                 ("plugins", "warmup", "single", "burst", "service_calls", "dispatch_reps", "tenants_small",
                  "tenants_large")]
    legs = [["--backend", "sqlite"]]
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
