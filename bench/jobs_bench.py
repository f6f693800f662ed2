"""Jobs: slot-to-start latency, sustained per-minute jobs across many installations, run-now.

Standalone: a throwaway database (SQLite under a temp dir unless ``--database-url``) and broker
(filesystem unless ``--broker-url``), ``--installations`` tenants each with the plugin
installed and its one job running every minute; the sandbox service (``manage.py
sandboxd``), two Celery workers as the Procfile runs them (``--pool threads --concurrency
16``) and one beat, as subprocesses (the processes ``make run`` starts). Prints a markdown
section: slot → run start (target p50 ≤ 2 s) beside run-now → start, measured in the same
run with the cluster idle; and where a slot's runs wait (beat sending them, the queue, the
worker filing and claiming them), from beat's log and the runs' timestamps.

    .venv/bin/python bench/jobs_bench.py [--installations 1000] [--minutes 3] [--workers 2] [--concurrency 16]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    boot,
    fmt_ms,
    make_zip,
    pct,
    print_table,
    start_sandboxd,
    stop_process,
    verdict,
)
from _cpu import describe, difference, snapshot  # noqa: E402

TARGET_SLOT_P50_MS = 2000.0

LAUNCHER = "import sys; from config.celery import app; app.start(sys.argv[1:])"
# --profile-beat: beat under cProfile; the stats are written when it stops (SIGTERM ends it
# with SystemExit, which cProfile.run catches before dumping).
PROFILED_LAUNCHER = ("import cProfile, sys; from config.celery import app; "
                     "cProfile.run('app.start(sys.argv[2:])', sys.argv[1])")
PLUGIN = {
    "plugin.json": json.dumps({
        "slug": "minute-job", "name": "Minute job", "version": "1.0.0", "description": "bench", "author": "bench",
        "entry": "main.py", "permissions": [], "jobs": [{"name": "tick", "schedule": "* * * * *"}],
    }).encode(),
    "main.py": b'from src.ext.sdk import job\n\n\n@job("tick", schedule="* * * * *")\ndef tick(ctx):\n    return {"ok": True}\n',
}


def log(message: str) -> None:
    print(f"[jobs_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def setup(count: int) -> list[int]:
    from django.contrib.auth import get_user_model

    from plugins_core import services
    from plugins_core.jobs import sync_installation_jobs
    from plugins_core.jobs.beat import install_sweeps
    from plugins_core.models import Installation
    from tenants.models import Tenant

    publisher = Tenant.objects.create(slug="publisher", name="Publisher")
    user = get_user_model().objects.create(username="bench")
    version = services.upload_package(publisher, user, make_zip(PLUGIN), "minute-job.zip").version
    Installation.objects.filter(tenant=publisher).delete()
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
    Tenant.objects.bulk_create(Tenant(slug=f"t{n:04d}", name=f"T{n}", timezone=zones[n % 4]) for n in range(count))
    tenants = list(Tenant.objects.filter(slug__regex=r"^t\d{4}$"))
    Installation.objects.bulk_create(
        Installation(tenant=t, plugin=version.plugin, version=version, enabled=True) for t in tenants)
    ids = []
    for installation in Installation.objects.select_related("tenant", "plugin", "version").filter(plugin=version.plugin):
        sync_installation_jobs(installation)
        ids.append(installation.pk)
    install_sweeps()
    return ids


def start(kind: str, env: dict[str, str], log_dir: Path, *args: str, loglevel: str = "WARNING",
          profile: Path | None = None) -> subprocess.Popen:
    with open(log_dir / f"{kind}-{len(list(log_dir.iterdir()))}.log", "wb") as out:
        launcher = [LAUNCHER] if profile is None else [PROFILED_LAUNCHER, str(profile)]
        argv = [sys.executable, "-c", *launcher, kind, "--loglevel", loglevel, *args]
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


# One firing a line (Celery's own scheduler), or a batch of them (plugins_core.jobs.beat.Scheduler).
_SENDING = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] Scheduler: Sending "
                      r"(?:due task .* \(plugins_core\.jobs\.tasks\.run_scheduled\)"
                      r"|(\d+) due cron firings \(plugins_core\.jobs\.tasks\.run_scheduled_batch\))")


def beat_sends(log_dir: Path) -> list[dt.datetime]:
    """When beat sent each firing of a job, from its INFO log (local time, as Celery writes it)."""
    zone = dt.datetime.now().astimezone().tzinfo
    moments = []
    for path in log_dir.glob("beat-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            found = _SENDING.match(line)
            if found:
                moment = dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=zone)
                moments += [moment] * int(found.group(2) or 1)
    return moments


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--installations", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16, help="threads per worker (the Procfile's 16)")
    parser.add_argument("--run-now", type=int, default=30)
    parser.add_argument("--database-url")
    parser.add_argument("--broker-url")
    parser.add_argument("--scheduler", help="beat's scheduler class (default: settings.CELERY_BEAT_SCHEDULER)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs) afterwards")
    parser.add_argument("--profile-beat", action="store_true",
                        help="run beat under cProfile and print where its time went (stderr)")
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="plugyard-jobs-bench-"))
    try:
        run(options, tmp)
    finally:
        if not options.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run(options: argparse.Namespace, tmp: Path) -> None:
    extra = {"CELERY_BROKER_URL": options.broker_url} if options.broker_url else {}
    env = boot(tmp, database_url=options.database_url, extra_env=extra)
    logs = tmp / "logs"
    logs.mkdir()
    # First: the upload's check and every run call plugin code through it.
    sandboxd = start_sandboxd(env, logs / "sandboxd.log")
    processes = [sandboxd]
    try:
        measure(options, env, tmp, logs, processes)
    finally:
        for process in reversed(processes):
            stop_process(process, timeout=20)


def measure(options: argparse.Namespace, env: dict[str, str], tmp: Path, logs: Path,
            processes: list[subprocess.Popen]) -> None:
    from django.conf import settings
    from django.utils import timezone

    from plugins_core.jobs import runs
    from plugins_core.jobs.models import JobRun
    from plugins_core.models import TERMINAL_STATUSES, Installation

    started = time.monotonic()
    ids = setup(options.installations)
    log(f"{len(ids)} installations with a per-minute job set up in {time.monotonic() - started:.0f}s")

    workers = [start("worker", env, logs, "--pool", "threads", "--concurrency", str(options.concurrency),
                     "-n", f"w{n}@%h", "--without-gossip", "--without-mingle") for n in range(options.workers)]
    processes += workers
    time.sleep(8)  # workers up before the first slot
    # INFO: its "Sending due task" lines say when each firing left beat.
    beat = start("beat", env, logs, "--scheduler", options.scheduler or settings.CELERY_BEAT_SCHEDULER,
                 "--max-interval", "1", "--schedule", str(tmp / "beat-schedule"), loglevel="INFO",
                 profile=tmp / "beat.pstats" if options.profile_beat else None)
    processes.append(beat)
    now = timezone.now()
    first_slot = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=2 if now.second > 45 else 1)
    window_end = first_slot + dt.timedelta(minutes=options.minutes)
    log(f"measuring slots {first_slot:%H:%M} to {window_end:%H:%M} (exclusive)")

    def cpu() -> dict[str, float]:
        return snapshot({"Celery workers": [w.pid for w in workers], "beat": [beat.pid]}, sandboxd=processes[0].pid,
                        servers=(options.database_url or "").startswith("postgres"))

    # CPU over the first slot's burst: from just before the slot until its runs have all finished.
    time.sleep(max(0.0, (first_slot - timezone.now()).total_seconds() - 1))
    cpu_before, cpu_started = cpu(), time.monotonic()
    first_runs = JobRun.objects.filter(trigger="schedule", slot=first_slot)
    while time.monotonic() < cpu_started + 58 and not (
            first_runs.count() >= len(ids)
            and not first_runs.exclude(invocation__status__in=[str(t) for t in TERMINAL_STATUSES]).exists()):
        time.sleep(0.25)
    cpu_spent = difference(cpu_before, cpu())
    cpu_seconds = time.monotonic() - cpu_started
    burst_runs = first_runs.count()
    time.sleep(max(0.0, (window_end - timezone.now()).total_seconds() + 60))  # + a minute to drain
    stop_process(beat, timeout=20)
    deadline = time.monotonic() + 120
    while JobRun.objects.filter(invocation__status__in=["pending", "running"]).exists() and time.monotonic() < deadline:
        time.sleep(1)

    window = JobRun.objects.filter(trigger="schedule", slot__gte=first_slot, slot__lt=window_end).select_related("invocation")
    rows = list(window)
    latencies = [(r.started_at - r.slot).total_seconds() * 1000 for r in rows if r.started_at]
    filed = [(r.queued_at - r.slot).total_seconds() * 1000 for r in rows]
    claim = [(r.started_at - r.queued_at).total_seconds() * 1000 for r in rows if r.started_at]
    ran = [(r.invocation.finished_at - r.queued_at).total_seconds() * 1000 for r in rows if r.invocation.finished_at]
    # When the plugin's call itself began, as the sandbox timed it: the same for any code path
    # to it, whatever the path stamps as started_at.
    began = [((r.invocation.finished_at - r.slot).total_seconds() - (r.invocation.duration_ms or 0) / 1000) * 1000
             for r in rows if r.invocation.finished_at]
    per_slot_start: dict = {}
    per_slot_began: dict = {}
    for r in rows:
        if r.started_at and r.invocation.finished_at:
            per_slot_start.setdefault(r.slot, []).append((r.started_at - r.slot).total_seconds() * 1000)
            per_slot_began.setdefault(r.slot, []).append(
                ((r.invocation.finished_at - r.slot).total_seconds() - (r.invocation.duration_ms or 0) / 1000) * 1000)
    rates = []  # each slot's runs from the first filed to the last finished: the cluster's drain rate
    for slot in {r.slot for r in rows}:
        mine = [r for r in rows if r.slot == slot and r.invocation.finished_at]
        if len(mine) > 1:
            span = max(r.invocation.finished_at for r in mine) - min(r.queued_at for r in mine)
            rates.append(len(mine) / max(span.total_seconds(), 1e-3))
    sends = [(moment - moment.replace(second=0, microsecond=0)).total_seconds() * 1000
             for moment in beat_sends(logs) if first_slot <= moment < window_end]
    finished_ok = sum(1 for r in rows if r.invocation.status == "ok")
    due = len(ids) * options.minutes
    per_minute = {}
    for r in rows:
        per_minute[r.slot] = per_minute.get(r.slot, 0) + (r.invocation.status == "ok")
    log(f"per minute ok: {[per_minute[k] for k in sorted(per_minute)]}")

    # run-now, with beat stopped and the queue drained: the same path with an idle cluster
    now_latencies = []
    for pk in ids[: options.run_now]:
        installation = Installation.objects.select_related("tenant", "plugin", "version").get(pk=pk)
        run = runs.queue_run_now(installation, "tick")
        limit = time.monotonic() + 60
        while time.monotonic() < limit:
            run.refresh_from_db()
            if run.started_at:
                now_latencies.append((run.started_at - run.queued_at).total_seconds() * 1000)
                break
            time.sleep(0.02)
    for worker in workers:
        stop_process(worker, timeout=20)

    engine = "PostgreSQL" if (options.database_url or "").startswith("postgres") else "SQLite"
    broker = "Redis" if (options.broker_url or "").startswith("redis") else "filesystem"
    warm = settings.PLUGYARD_SANDBOX.get("max_warm_workers")
    print("## Jobs\n")
    print(f"{len(ids)} installations, each with one job every minute (`* * * * *`, tenants in 4 time zones), "
          f"{options.workers} Celery workers × `--pool threads --concurrency {options.concurrency}`, one beat "
          f"(`{options.scheduler or settings.CELERY_BEAT_SCHEDULER}`), the sandbox service, {engine} + {broker} broker, on {os.cpu_count()} CPUs. "
          f"Every run goes through the machine's sandbox service, which keeps {warm} installations' workers "
          f"warm{' (so each run here forks a fresh worker from the plugin zygote)' if warm and len(ids) > warm else ''}. "
          f"Measured over {options.minutes} full minutes of slots; run-now after beat stopped and the queue drained.\n")
    p50 = pct(latencies, 0.5) if latencies else float("nan")
    now_p50 = pct(now_latencies, 0.5) if now_latencies else float("nan")
    print_table([
        (f"{len(ids)} per-minute jobs on {options.workers} workers: slot → run start, p50",
         f"{fmt_ms(p50)} (run-now → start p50 in this run: {fmt_ms(now_p50)})" if latencies else "n/a",
         f"≤ {TARGET_SLOT_P50_MS / 1000:g} s — {verdict(p50 <= TARGET_SLOT_P50_MS)}"),
        ("slot → run start, p99", fmt_ms(pct(latencies, 0.99)) if latencies else "n/a", "—"),
        ("slot → the plugin's call began (`finished_at` − its duration), p50 / p99",
         f"{fmt_ms(pct(began, 0.5))} / {fmt_ms(pct(began, 0.99))}" if began else "n/a", "—"),
        ("per slot, in order: slot → run start p50 / slot → call began p50",
         "; ".join(f"{fmt_ms(pct(per_slot_start[k], 0.5))} / {fmt_ms(pct(per_slot_began[k], 0.5))}"
                   for k in sorted(per_slot_start)) or "n/a",
         "a slot starts the sandbox workers not kept warm"),
        ("where it waits, p50 / p99: slot → beat sent the firing (beat's log)",
         f"{fmt_ms(pct(sends, 0.5))} / {fmt_ms(pct(sends, 0.99))}" if sends else "n/a (no beat log lines)",
         f"{len(sends)} firings sent"),
        ("… slot → worker filed the run (`queued_at`: queue wait included)",
         f"{fmt_ms(pct(filed, 0.5))} / {fmt_ms(pct(filed, 0.99))}" if filed else "n/a", "—"),
        ("… filed → started (job lock, claim)", f"{fmt_ms(pct(claim, 0.5))} / {fmt_ms(pct(claim, 0.99))}" if claim else "n/a",
         "—"),
        ("a run on its worker, filed → finished, p50 / p99", f"{fmt_ms(pct(ran, 0.5))} / {fmt_ms(pct(ran, 0.99))}"
         if ran else "n/a", "—"),
        ("a slot's runs drained, first filed → last finished (median over slots)",
         f"{statistics.median(rates):.0f} runs/s" if rates else "n/a", "—"),
        ("runs per minute achieved (ok) vs due", f"{finished_ok / options.minutes:.1f} / {len(ids)} "
         f"({finished_ok} of {due} runs ok, {100 * finished_ok / due:.2f} %)" if due else "n/a", "all due runs"),
        ("runs filed for the window (any status)", f"{len(rows)} of {due}", "—"),
        (f"host CPU per run over the first slot's burst ({burst_runs} runs filed in {cpu_seconds:.1f} s), ms",
         *describe(cpu_spent, cpu_seconds, per=max(1, burst_runs))),
        ("run-now → start, p50", fmt_ms(now_p50) if now_latencies else "n/a", "—"),
        ("run-now → start, max", fmt_ms(max(now_latencies)) if now_latencies else "n/a", "—"),
    ])
    if options.profile_beat and (tmp / "beat.pstats").exists():
        import io
        import pstats

        out = io.StringIO()
        pstats.Stats(str(tmp / "beat.pstats"), stream=out).sort_stats("cumulative").print_stats(45)
        log(f"beat's profile (its whole life, by cumulative time):\n{out.getvalue()}")
    print("\nSlots not run before the next one was due expire (the beat message's expiry is the job's "
          "period), so a saturated cluster drops late runs instead of piling them up; those are the "
          "gap between achieved and due.")


if __name__ == "__main__":
    main()
