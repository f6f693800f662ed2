"""Run every benchmark and write docs/BENCHMARKS.md. `make bench` runs this.

Each script runs as its own subprocess (its own throwaway database under a temp dir) and
prints a markdown section on stdout; this collects the sections in order, in one run, and
writes them under a header naming the command, the date and the machine. Progress goes to
stderr. A script that fails gets a section saying so, with the end of its stderr.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
OUTPUT = ROOT / "docs" / "BENCHMARKS.md"

# (script, title used when the script prints no "## " heading of its own, time limit in seconds)
SCRIPTS = [
    ("upload_bench.py", "Upload", 300),
    ("api_bench.py", "Installation list", 300),
    ("browse_bench.py", "Browse", 600),  # ~2 min: seeds 10,000 listings
    ("route_bench.py", "Plugin routes", 600),
    ("events_bench.py", "Events", 900),
    ("api_event_bench.py", "One device event, 40 plugins", 300),  # ~70 s
    ("sandbox_bench.py", "Sandbox", 300),
    ("memory_bench.py", "Sandbox memory", 300),  # ~30 s
    ("neighbour_bench.py", "Noisy neighbour", 600),  # ~2 min
    ("jobs_bench.py", "Jobs", 600),
    ("invocations_bench.py", "Invocation record", 300),  # ~30 s
]

# Settings a developer's shell may carry that would point a benchmark at real data or services.
SCRUBBED = ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG",
            "PLUGYARD_VAR_DIR", "PLUGYARD_MEDIA_ROOT", "PLUGYARD_PLUGIN_ROOT", "PLUGYARD_ROUTE_RATE_LIMIT")


def machine() -> list[tuple[str, str]]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return [
        ("CPUs (nproc)", nproc),
        ("CPU model", cpu),
        ("memory", memory),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("code", f"git {commit or '?'}{' + uncommitted changes' if dirty else ''}"),
    ]


def run(script: str, title: str, limit: int, env: dict[str, str]) -> tuple[str, float]:
    path = BENCH / script
    if not path.exists():
        return f"## {title}\n\n`bench/{script}` is not in this tree; skipped.\n", 0.0
    print(f"[bench] {script} …", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        child = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=limit)
    except subprocess.TimeoutExpired as exc:
        elapsed = time.monotonic() - started
        tail = (exc.stderr or b"")[-2000:]
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return f"## {title}\n\n**Did not finish** within {limit} s (`bench/{script}`).\n\n```\n{tail}\n```\n", elapsed
    elapsed = time.monotonic() - started
    print(f"[bench] {script} done in {elapsed:.0f} s (exit {child.returncode})", file=sys.stderr, flush=True)
    body = child.stdout.strip()
    if not body.startswith("## "):
        body = f"## {title}\n\n{body}"
    if child.returncode:
        body += (f"\n\n**`bench/{script}` failed** (exit {child.returncode}); the end of its stderr:\n\n"
                 f"```\n{child.stderr[-3000:]}\n```")
    return body + f"\n\n_`bench/{script}` ran for {elapsed:.0f} s._\n", elapsed


def main() -> None:
    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED}
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    sections = [run(script, title, limit, env) for script, title, limit in SCRIPTS]
    total = time.monotonic() - clock

    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`.venv/bin/python bench/run_all.py`); do not edit by hand — run it again. "
        "Every figure below comes from this one run, each next to its baseline where it has one. Each "
        "script sets up its own throwaway database under a temp dir and sends traffic only to 127.0.0.1; "
        "each also runs alone, e.g. `.venv/bin/python bench/route_bench.py --duration 10`.",
        "",
        "- command: `make bench`",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; whole run {total / 60:.1f} min",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in machine()],
        "",
    ]
    for body, _elapsed in sections:
        lines += [body, ""]
    OUTPUT.write_text("\n".join(lines).rstrip() + "\n")
    print(f"[bench] wrote {OUTPUT.relative_to(ROOT)} in {total / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
