"""Jobs: slot-to-start latency, sustained per-minute jobs across many installations, run-now.

Standalone: a throwaway database (SQLite under a temp dir unless ``--database-url``) and broker
(filesystem unless ``--broker-url``), ``--installations`` tenants each with the plugin
installed and its one job running every minute, two Celery workers and one beat as
subprocesses (the same processes ``make run`` starts). Prints a markdown section.

    .venv/bin/python bench/jobs_bench.py [--installations 1000] [--minutes 3] [--workers 2] [--concurrency 2]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, boot, fmt_ms, make_zip, pct, print_table  # noqa: E402

LAUNCHER = "import sys; from config.celery import app; app.start(sys.argv[1:])"
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


def start(kind: str, env: dict[str, str], log_dir: Path, *args: str) -> subprocess.Popen:
    out = open(log_dir / f"{kind}-{len(list(log_dir.iterdir()))}.log", "wb")
    argv = [sys.executable, "-c", LAUNCHER, kind, "--loglevel", "WARNING", *args]
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--installations", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--run-now", type=int, default=30)
    parser.add_argument("--database-url")
    parser.add_argument("--broker-url")
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="plugyard-jobs-bench-"))
    extra = {"CELERY_BROKER_URL": options.broker_url} if options.broker_url else {}
    env = boot(tmp, database_url=options.database_url, extra_env=extra)
    from django.utils import timezone

    from plugins_core.jobs import runs
    from plugins_core.jobs.models import JobRun
    from plugins_core.models import Installation

    started = time.monotonic()
    ids = setup(options.installations)
    log(f"{len(ids)} installations with a per-minute job set up in {time.monotonic() - started:.0f}s")

    logs = tmp / "logs"
    logs.mkdir()
    workers = [start("worker", env, logs, "--concurrency", str(options.concurrency), "-n", f"w{n}@%h",
                     "--without-gossip", "--without-mingle", "--without-heartbeat") for n in range(options.workers)]
    time.sleep(8)  # workers up before the first slot
    beat = start("beat", env, logs, "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                 "--max-interval", "1", "--schedule", str(tmp / "beat-schedule"))
    now = timezone.now()
    first_slot = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=2 if now.second > 45 else 1)
    window_end = first_slot + dt.timedelta(minutes=options.minutes)
    log(f"measuring slots {first_slot:%H:%M} to {window_end:%H:%M} (exclusive)")
    time.sleep(max(0.0, (window_end - timezone.now()).total_seconds() + 60))  # + a minute to drain
    stop(beat)
    deadline = time.monotonic() + 120
    while JobRun.objects.filter(invocation__status__in=["pending", "running"]).exists() and time.monotonic() < deadline:
        time.sleep(1)

    window = JobRun.objects.filter(trigger="schedule", slot__gte=first_slot, slot__lt=window_end).select_related("invocation")
    rows = list(window)
    latencies = [(r.started_at - r.slot).total_seconds() * 1000 for r in rows if r.started_at]
    finished_ok = sum(1 for r in rows if r.invocation.status == "ok")
    due = len(ids) * options.minutes
    per_minute = {}
    for r in rows:
        per_minute[r.slot] = per_minute.get(r.slot, 0) + (r.invocation.status == "ok")
    log(f"per minute ok: {[per_minute[k] for k in sorted(per_minute)]}")

    # run-now, with beat stopped and the queue drained
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
        stop(worker)

    engine = "PostgreSQL" if (options.database_url or "").startswith("postgres") else "SQLite"
    broker = "Redis" if (options.broker_url or "").startswith("redis") else "filesystem"
    print("## Jobs\n")
    print(f"{len(ids)} installations, each with one job every minute (`* * * * *`, tenants in 4 time zones), "
          f"{options.workers} Celery workers × concurrency {options.concurrency}, one beat (DatabaseScheduler), "
          f"{engine} + {broker} broker, on {os.cpu_count()} CPUs. Every run goes through the sandbox "
          f"(a warm worker per installation, so 1,000 installations mean constant worker churn). "
          f"Measured over {options.minutes} full minutes of slots.\n")
    print_table([
        ("slot → run start, p50", fmt_ms(pct(latencies, 0.5)) if latencies else "n/a", "—"),
        ("slot → run start, p99", fmt_ms(pct(latencies, 0.99)) if latencies else "n/a", "—"),
        ("runs per minute achieved (ok) vs due", f"{finished_ok / options.minutes:.1f} / {len(ids)} "
         f"({finished_ok} of {due} runs ok, {100 * finished_ok / due:.2f} %)" if due else "n/a", "all due runs"),
        ("runs filed for the window (any status)", f"{len(rows)} of {due}", "—"),
        ("run-now → start, p50", fmt_ms(pct(now_latencies, 0.5)) if now_latencies else "n/a", "—"),
        ("run-now → start, max", fmt_ms(max(now_latencies)) if now_latencies else "n/a", "—"),
    ])
    print("\nSlots not run before the next one was due expire (the beat message's expiry is the job's "
          "period), so a saturated cluster drops late runs instead of piling them up; those are the "
          "gap between achieved and due.")


if __name__ == "__main__":
    main()
