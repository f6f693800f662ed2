"""Plugin route benchmark: prints a markdown section. Standalone: `.venv/bin/python bench/route_bench.py`.

Serves Plugyard with gunicorn (``config.wsgi``, 2 workers, gthread) on 127.0.0.1 and a free
port against a throwaway SQLite database, DEBUG off, with the machine's sandbox service
(``manage.py sandboxd``) beside it as the Procfile runs them, and drives it with wrk:

* ``GET /ext/my-plugin/ping`` — the SBH example plugin's route: gunicorn calls sandboxd over
  its Unix socket, which runs the handler in the installation's warm worker;
* ``GET /api/plugins/<id>`` — a plain DRF view with the same authentication, showing the
  same installation: the baseline, measured in the same run.

The per-installation route rate limit is switched off (``PLUGYARD_ROUTE_RATE_LIMIT=0``):
the benchmark measures throughput, and the limit would answer 429 after 600 calls a minute.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from _common import (
    LOCAL,
    ROOT,
    boot,
    free_port,
    make_tenant,
    make_zip,
    print_table,
    sbh_plugin,
    start_sandboxd,
    stop_process,
    verdict,
    wait_for_port,
)

TARGET_RATIO = 0.5
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, float]:
    def number(pattern: str, default: float = 0.0) -> float:
        found = re.search(pattern, output)
        return float(found.group(1)) if found else default

    def latency(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        return float(found.group(1)) * UNITS[found.group(2)] if found else float("nan")

    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "requests": number(r"(\d+) requests in"),
        "non2xx": number(r"Non-2xx or 3xx responses: (\d+)"),
        "socket_errors": sum(int(g) for g in socket.groups()) if socket else 0,
        "p50": latency("50"),
        "p99": latency("99"),
    }


def wrk(url: str, headers: dict[str, str], *, connections: int, duration: int, threads: int) -> tuple[dict[str, float], str]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True,
                            timeout=duration + 60).stdout
    return parse_wrk(output), output


def get(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def serve_and_measure(args, env: dict[str, str], tmp: Path, threads: int, headers: dict[str, str],
                      paths: dict[str, str]) -> tuple[dict[str, dict[str, float]], bytes]:
    """Start gunicorn with ``threads`` per worker, warm it, run wrk on each path; stop it."""
    port = free_port()
    command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi", "--bind", f"{LOCAL}:{port}",
               "--workers", str(args.workers), "--log-level", "warning"]
    if threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(threads)]
    with open(tmp / f"gunicorn-{threads}.log", "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
                                  start_new_session=True)
    try:
        wait_for_port(port)
        base = f"http://{LOCAL}:{port}"
        for path in paths.values():
            for _ in range(20):  # reach every gunicorn worker and thread: each opens its sandboxd connections
                status, body = get(base + path, headers)
                if status != 200:
                    raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
        _, sample = get(base + paths["ext"], headers)
        results = {}
        for name, path in paths.items():
            if args.warmup:
                wrk(base + path, headers, connections=args.connections, duration=args.warmup, threads=args.wrk_threads)
            duration = args.threaded_duration if threads > 1 else args.duration
            results[name], raw = wrk(base + path, headers, connections=args.connections, duration=duration,
                                     threads=args.wrk_threads)
            results[name]["duration"] = duration
            results[name]["raw"] = raw
        return results, sample
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of wrk per endpoint (sync workers)")
    parser.add_argument("--threaded-duration", type=int, default=30,
                        help="seconds of wrk per endpoint for the threaded (gthread) set-up")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of wrk per endpoint before measuring")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", default="16,1",
                        help="gunicorn threads per worker, comma-separated: one run each (8 is the Procfile's; 1 = sync workers)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed")
    thread_counts = [int(t) for t in args.threads.split(",")]

    runs = {}
    with tempfile.TemporaryDirectory(prefix="plugyard-bench-route-") as tmp, contextlib.ExitStack() as stack:
        env = boot(Path(tmp), extra_env={"PLUGYARD_ROUTE_RATE_LIMIT": "0"})
        # One service for the whole run, as on a machine: both gunicorn set-ups call it.
        stack.callback(stop_process, start_sandboxd(env, Path(tmp) / "sandboxd.log"))
        from django.db import connections

        from plugins_core import services
        from plugins_core.models import Invocation

        tenant, membership, token = make_tenant("bench-route")
        result = services.upload_package(tenant, membership.user, make_zip(sbh_plugin()), "my-plugin.zip")
        installation = services.enable(result.installation)
        connections.close_all()
        headers = {"Authorization": f"Bearer {token}", "X-Tenant-Slug": tenant.slug}
        paths = {"ext": f"/ext/{installation.plugin.slug}/ping", "api": f"/api/plugins/{installation.pk}"}
        for threads in thread_counts:
            before = Invocation.objects.filter(kind="route").count()
            results, sample = serve_and_measure(args, env, Path(tmp), threads, headers, paths)
            rows = Invocation.objects.filter(kind="route").exclude(status="ok").values_list("status", "error")
            failed: dict[str, int] = {}
            for status, error in rows:
                key = f"{status}: {(error or '').splitlines()[0][:60]}" if error else status
                failed[key] = failed.get(key, 0) + 1
            runs[threads] = (results, Invocation.objects.filter(kind="route").count() - before, failed)
            Invocation.objects.filter(kind="route").exclude(status="ok").delete()

    print("## Plugin routes: `/ext/<slug>/ping` vs a plain DRF endpoint under wrk\n")
    print(f"gunicorn `config.wsgi` with {args.workers} workers on 127.0.0.1, SQLite, DEBUG off, route rate "
          f"limit off (`PLUGYARD_ROUTE_RATE_LIMIT=0`). wrk: {args.wrk_threads} threads, {args.connections} "
          f"connections, {args.duration} s per endpoint ({args.threaded_duration} s for the threaded set-up) "
          f"after {args.warmup} s of warm-up, with the "
          f"`Authorization` and `X-Tenant-Slug` headers. Plugin code runs in the machine's sandbox service "
          f"(`manage.py sandboxd`, one subprocess for the whole run, as the Procfile's `sandbox:` line), "
          f"with its default budgets (4 calls per tenant, 1 per installation; a route over budget waits "
          f"up to 1 s, idle, then answers 429). wrk, gunicorn, sandboxd and its jails share this machine's "
          f"{os.cpu_count()} CPUs. Two server set-ups, each measured with its own baseline: "
          f"{', '.join(_label(t) for t in thread_counts)} (the Procfile runs `--workers 2 --threads 16`, i.e. gthread).\n\n"
          f"- plugin route: `GET {paths['ext']}`, the SBH example plugin (enabled), answering `{sample.decode()}`; "
          f"each call goes from the gunicorn thread to sandboxd, which runs the handler in the installation's "
          f"warm worker; the web records an `Invocation` row.\n"
          f"- baseline: `GET /api/plugins/{{id}}` for the same installation — DRF, the same token authentication "
          f"and tenant check, one installation query and the serializer; no plugin code.\n")
    rows = []
    for threads, (results, invocations, failed) in runs.items():
        ext, api = results["ext"], results["api"]
        duration = int(ext["duration"])
        ratio = ext["rps"] / api["rps"] if api["rps"] else float("nan")
        ext_errors = int(ext["non2xx"] + ext["socket_errors"])
        api_errors = int(api["non2xx"] + api["socket_errors"])
        label = _label(threads)
        rows += [
            (f"{label}: plugin route, requests/s", f"{ext['rps']:.0f}", "—"),
            (f"{label}: DRF baseline, requests/s", f"{api['rps']:.0f}", "—"),
            (f"{label}: ratio route / baseline", f"{ratio:.2f}", f"≥ {TARGET_RATIO} — {verdict(ratio >= TARGET_RATIO)}"),
            (f"{label}: plugin route, latency p50 / p99", f"{ext['p50']:.1f} ms / {ext['p99']:.1f} ms", "—"),
            (f"{label}: DRF baseline, latency p50 / p99", f"{api['p50']:.1f} ms / {api['p99']:.1f} ms", "—"),
            (f"{label}: plugin route, errors in {duration} s (status ≥ 400 + socket errors)",
             f"{ext_errors} ({int(ext['non2xx'])} + {int(ext['socket_errors'])}) of {int(ext['requests'])} requests",
             f"0 — {verdict(ext_errors == 0)}"),
            (f"{label}: DRF baseline, errors in {duration} s",
             f"{api_errors} ({int(api['non2xx'])} + {int(api['socket_errors'])}) of {int(api['requests'])} requests", "—"),
            (f"{label}: failed route invocations recorded (status: first error line)",
             "; ".join(f"{count} × {key}" for key, count in sorted(failed.items(), key=lambda i: -i[1])) or "none",
             f"of {invocations} route invocations, warm-ups included"),
        ]
    print_table(rows)
    for threads, (results, _, _) in runs.items():
        for name, result in results.items():
            if not result["requests"] or result["non2xx"] or result["socket_errors"]:
                print(f"\nwrk's own output, {_label(threads)}, {paths[name]}:\n\n```\n{result['raw'].strip()}\n```")
    print("\nwrk counts a response as an error when its status is 400 or above; socket errors are "
          "connect, read, write and timeout (5 s) errors.\n")


def _label(threads: int) -> str:
    return f"gthread × {threads} threads" if threads > 1 else "sync workers"


if __name__ == "__main__":
    main()
