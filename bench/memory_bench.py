"""Sandbox memory benchmark: prints a markdown section. Standalone: `.venv/bin/python bench/memory_bench.py`.

The sandbox service is one per machine, so the jails' memory should not grow with the
number of web and worker processes that call it. Measured, in one run:

* 100 plugin versions (one installation each, a trivial hook) kept warm by ONE client
  process calling ``manage.py sandboxd`` through ``SandboxClient``;
* the same 100 versions kept warm by FOUR client processes at once, shaped like the
  Procfile's: two "web" processes of 8 threads and two "worker" processes of 16 threads
  (plain Python processes with a ``SandboxClient``, no Django: the jails' memory is what
  is measured, and a client's own heap is not part of it).

Each leg starts a fresh sandboxd. Its memory is the sum over sandboxd and every process
under it (bubblewrap, the zygotes, the warm workers, the spare jail) of PSS from
``/proc/<pid>/smaps_rollup`` — proportional set size, so pages the zygotes share with their
forked workers are counted once, not once per process — sampled while the clients call
(maximum) and once they are idle with their connections still open (steady state).
"""
from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, boot, fmt_ms, pct, print_table, start_sandboxd, stop_process, verdict

TARGET_RATIO = 1.2
PLUGIN = 'from src.ext.sdk import hook\n\n@hook("ping")\ndef ping(ctx, data):\n    return {"pong": data}\n'
# (role, threads): the Procfile's web (gunicorn --threads 8) and worker (celery --concurrency 16).
FOUR_CLIENTS = [("web", 8), ("web", 8), ("worker", 16), ("worker", 16)]
ONE_CLIENT = [("web", 8)]


# ---- one client process (this script run with --client)
def client_main(args: argparse.Namespace) -> None:
    """Call every installation ``--rounds`` times from ``--threads`` threads; say "ready"; keep the
    connections open until stdin closes (the parent measures then)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]
    from plugins_core.sandbox import Invocation, SandboxClient, SandboxPolicy

    client = SandboxClient(SandboxPolicy(), socket_path=args.socket)
    plugins = sorted(Path(args.plugins).iterdir())
    work = [(r, n, p) for r in range(args.rounds) for n, p in enumerate(plugins)]
    # Each process starts at another place in the list, so processes meet on different jails.
    work = work[args.offset % len(work):] + work[:args.offset % len(work)]
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []

    def drive() -> None:
        while True:
            with lock:
                if not work:
                    return
                r, n, plugin = work.pop()
            call = Invocation(f"mem{n}@1.0.0", str(plugin), "main.py", f"inst-{n}", "hook", "ping", r,
                              context={"tenant_id": f"t{n % 10}", "installation_id": n})
            started = time.perf_counter()
            result = client.invoke(call, None)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if not result.ok:
                    failures.append(f"{result.status}: {(result.error or '')[:80]}")

    threads = [threading.Thread(target=drive) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"calls": len(latencies), "failures": failures[:5], "failed": len(failures),
                      "p50": pct(latencies, 0.5)}), flush=True)
    sys.stdin.read()  # hold the pooled connections (and sandboxd's threads for them) until told
    client.close()


# ---- the parent: processes, memory
def tree(root: int) -> list[int]:
    """``root`` and every process under it (from /proc/<pid>/stat's parent field)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rpartition(b")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def rollup(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    fields[parts[0].rstrip(":")] = int(parts[1])
    except OSError:  # gone meanwhile
        pass
    return fields


def threads_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def kind_of(pid: int, parent: int, root: int) -> str:
    """sandboxd, bubblewrap, zygote (the spare jail's included) or worker (forked by a zygote)."""
    if pid == root:
        return "sandboxd"
    command = cmdline(pid)
    if command.split(b"\0", 1)[0].endswith(b"bwrap"):
        return "bubblewrap"
    if b"zygote" in command:  # bubblewrap's own argv names the zygote too: look at argv[0]
        parent_command = cmdline(parent)
        forked = b"zygote" in parent_command and not parent_command.split(b"\0", 1)[0].endswith(b"bwrap")
        return "worker" if forked else "zygote"
    return "other"


def measure_tree(root: int, *, by_kind: bool = False) -> dict[str, object]:
    """PSS and RSS (MiB) of ``root``'s tree, the service's own PSS, the process count and,
    with ``by_kind``, PSS and count per kind of process."""
    pids = tree(root)
    rows = {pid: rollup(pid) for pid in pids}
    measured: dict[str, object] = {
        "pss": sum(r.get("Pss", 0) for r in rows.values()) / 1024,
        "rss": sum(r.get("Rss", 0) for r in rows.values()) / 1024,
        "service_pss": rows.get(root, {}).get("Pss", 0) / 1024,
        "processes": len([r for r in rows.values() if r]), "service_threads": threads_of(root)}
    if by_kind:
        kinds: dict[str, list[float]] = {}
        for pid, row in rows.items():
            if row:
                kinds.setdefault(kind_of(pid, _parent(pid), root), []).append(row.get("Pss", 0) / 1024)
        measured["kinds"] = kinds
    return measured


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rpartition(b")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def run_leg(env: dict[str, str], tmp: Path, plugins: Path, clients: list[tuple[str, int]], rounds: int,
            name: str) -> dict[str, object]:
    service = start_sandboxd(env, tmp / f"sandboxd-{name}.log")
    socket_path = str(tmp / "sandbox.sock")
    procs: list[subprocess.Popen] = []
    try:
        started = time.monotonic()
        for n, (_role, threads) in enumerate(clients):
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--client", "--socket", socket_path, "--plugins", str(plugins),
                 "--threads", str(threads), "--rounds", str(rounds), "--offset", str(n * 25 * rounds)],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        # Sample while the clients call; each line a client prints says it is done.
        peak, reports = 0.0, []
        waiting = list(procs)
        while waiting:
            peak = max(peak, measure_tree(service.pid)["pss"])
            for proc in list(waiting):
                if proc.poll() is not None:
                    raise SystemExit(f"a client process exited early ({proc.returncode})")
            # A client's report is one line; read it when it is there.
            ready, _, _ = select.select([p.stdout for p in waiting], [], [], 0.5)
            for proc in [p for p in waiting if p.stdout in ready]:
                reports.append(json.loads(proc.stdout.readline()))
                waiting.remove(proc)
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # let the last calls' pages settle (workers are paused between calls)
        idle = measure_tree(service.pid, by_kind=True)
        stats = _stats(socket_path)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.stdin.close()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        stop_process(service)
    return {"idle": idle, "peak": max(peak, idle["pss"]), "reports": reports, "elapsed": elapsed, "stats": stats}


def _stats(socket_path: str) -> dict[str, object]:
    from plugins_core.sandbox import SandboxClient

    client = SandboxClient(socket_path=socket_path)
    try:
        return client.stats()
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=100, help="plugin versions kept warm")
    parser.add_argument("--rounds", type=int, default=3, help="calls per installation per client process")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--plugins", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    with tempfile.TemporaryDirectory(prefix="plugyard-bench-memory-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # the plugin directories are bound into the jails
        env = boot(tmp, migrate=False)  # settings only: sandboxd needs no tables
        from django.conf import settings

        limits = settings.PLUGYARD_SANDBOX
        if limits["max_warm_zygotes"] < args.versions or limits["max_warm_workers"] < args.versions:
            raise SystemExit(f"the service keeps {limits['max_warm_zygotes']} versions / "
                             f"{limits['max_warm_workers']} workers warm: fewer than --versions {args.versions}")
        plugins = tmp / "plugins"
        for n in range(args.versions):
            (plugins / f"p{n:03d}").mkdir(parents=True)
            (plugins / f"p{n:03d}" / "main.py").write_text(PLUGIN + f"\nVERSION = {n}\n")
        one = run_leg(env, tmp, plugins, ONE_CLIENT, args.rounds, "one")
        four = run_leg(env, tmp, plugins, FOUR_CLIENTS, args.rounds, "four")

    ratio = four["idle"]["pss"] / one["idle"]["pss"]
    peak_ratio = four["peak"] / one["peak"]
    print(f"## Sandbox memory: {args.versions} warm plugin versions, called from 1 vs 4 processes\n")
    print(f"One sandboxd (fresh for each leg) with {args.versions} plugin versions, one installation each "
          f"(a trivial hook), every installation called {args.rounds} times by each client process. "
          f"1 client: one process of {ONE_CLIENT[0][1]} threads. 4 clients: "
          f"{', '.join(f'{role} × {threads} threads' for role, threads in FOUR_CLIENTS)} (the Procfile's web "
          f"and worker shapes, emulated by plain Python processes with a `SandboxClient`; their own memory is "
          f"not counted). Memory is the sum of PSS (`/proc/<pid>/smaps_rollup`) over sandboxd and every "
          f"process under it: bubblewrap, zygotes, warm workers and the spare jail. The machine's "
          f"{os.cpu_count()} CPUs are shared with whatever else runs.\n")
    rows = []
    for label, leg in (("1 client process", one), ("4 client processes", four)):
        idle, reports = leg["idle"], leg["reports"]
        calls = sum(r["calls"] for r in reports)
        failed = sum(r["failed"] for r in reports)
        rows += [
            (f"{label}: sandbox PSS, steady state (clients idle, connected)",
             f"{idle['pss']:.0f} MiB", "baseline" if leg is one else f"≤ {TARGET_RATIO}× the 1-client figure"),
            (f"{label}: sandbox PSS, max while calling", f"{leg['peak']:.0f} MiB", "—"),
            (f"{label}: RSS summed over the same processes (counts shared pages once per process)",
             f"{idle['rss']:.0f} MiB", "—"),
            (f"{label}: of it sandboxd itself: PSS / threads", f"{idle['service_pss']:.1f} MiB / "
             f"{idle['service_threads']}", "—"),
            (f"{label}: processes under sandboxd; warm zygotes / workers",
             f"{int(idle['processes']) - 1}; {leg['stats'].get('zygotes')} / {leg['stats'].get('workers')}", "—"),
            (f"{label}: calls (failed), wall time, call p50 (median of the clients')",
             f"{calls} ({failed}), {leg['elapsed']:.1f} s, {fmt_ms(sorted(r['p50'] for r in reports)[len(reports) // 2])}",
             "0 failed" if not failed else f"**{failed} failed**: {reports[0]['failures'][:2]}"),
        ]
    rows += [
        ("ratio 4 clients / 1 client, steady-state PSS", f"{ratio:.2f}×", f"≤ {TARGET_RATIO}× — {verdict(ratio <= TARGET_RATIO)}"),
        ("ratio 4 clients / 1 client, max PSS while calling", f"{peak_ratio:.2f}×", "—"),
        ("PSS per warm version: jails only (1 client, steady state, sandboxd's own PSS left out)",
         f"{(one['idle']['pss'] - one['idle']['service_pss']) / args.versions:.1f} MiB", "—"),
    ]
    print_table(rows)
    print("\nWhere the 1-client steady-state PSS is, by kind of process (each jail is an outer bubblewrap, "
          "bubblewrap's init in the jail's PID namespace, and the zygote; each warm worker is forked from "
          "its version's zygote):\n")
    kinds = one["idle"]["kinds"]
    print_table([(kind, f"{sum(values):.0f} MiB ({len(values)})", f"{sum(values) / len(values):.2f} MiB")
                 for kind, values in sorted(kinds.items(), key=lambda item: -sum(item[1]))],
                ("kind", "PSS (processes)", "PSS per process"))
    print()


if __name__ == "__main__":
    main()
