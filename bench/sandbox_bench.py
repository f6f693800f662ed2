"""Sandbox benchmark: prints a markdown table. Standalone: `.venv/bin/python bench/sandbox_bench.py`.

Measures, in one run on this machine:
- a trivial hook through the supervisor on a warm worker (p50/p99) vs a fresh Python
  process per call (the naive design), and their ratio;
- the same warm hook through the sandbox service, as web and workers call it now
  (``SandboxClient`` → a ``manage.py sandboxd`` subprocess over its Unix socket), in
  blocks interleaved with the in-process calls so both see the same machine load, and
  where the difference goes (the service's own figure for the call, ``duration_ms``);
- the first call of a new installation (fork from a loaded zygote) vs that fresh spawn;
- memory per warm worker: resident (RSS) and unique (USS, /proc/PID/smaps_rollup);
- invocations/s with 100 installations of 10 plugins, from several threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]

from _common import boot, start_sandboxd, stop_process, verdict  # noqa: E402

from plugins_core.sandbox import Invocation, SandboxClient, SandboxPolicy, Supervisor  # noqa: E402

TARGET_SERVICE_P50_MS = 0.5

PLUGIN = 'from src.ext.sdk import hook\n\n@hook("ping")\ndef ping(ctx, data):\n    return {"pong": data}\n'
FRESH = (
    "import sys, json; sys.path[:0] = [{sdk!r}]\n"
    "from plugyard_sdk import PluginContext\n"
    "ns = {{}}; exec(compile(open({main!r}).read(), 'main.py', 'exec'), ns)\n"
    "print(json.dumps(ns['ping'](PluginContext('t', 'u'), json.loads(sys.stdin.read()))))\n"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def make_plugins(root: Path, count: int) -> list[Path]:
    dirs = []
    for n in range(count):
        d = root / f"plugin{n}"
        d.mkdir(parents=True)
        (d / "main.py").write_text(PLUGIN)
        dirs.append(d)
    return dirs


def inv(plugin: Path, version: str, installation: str, payload: object) -> Invocation:
    return Invocation(version, plugin, "main.py", installation, "hook", "ping", payload,
                      context={"tenant_id": "t", "installation_id": installation})


def smaps(pid: int) -> tuple[int, int]:
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields.get("Rss", 0), fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-calls", type=int, default=3000)
    parser.add_argument("--fresh-calls", type=int, default=40)
    parser.add_argument("--throughput-calls", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=10,
                        help="in-process and service warm calls alternate in this many blocks")
    args = parser.parse_args()

    sup = Supervisor(SandboxPolicy(max_workers=256, max_zygotes=32))
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(prefix="plugyard-bench-sbx-") as var:
        plugins = make_plugins(Path(tmp), 10)
        first = plugins[0]
        os.chmod(tmp, 0o755)
        # Settings only (no tables): sandboxd reads PLUGYARD_SANDBOX, its socket under `var`.
        env = boot(Path(var), migrate=False)
        service = start_sandboxd(env, Path(var) / "sandboxd.log")
        try:
            from plugins_core.sandboxes import (
                policy as sandbox_policy,  # Django is set up by boot() above
            )

            client = SandboxClient(sandbox_policy())
            # 1. warm worker, in process and through the service, in alternating blocks
            assert sup.invoke(inv(first, "v0", "warm", 0), None).ok
            assert client.invoke(inv(first, "v0", "warm", 0), None).ok
            warm, served, served_inside = [], [], []
            block = max(1, args.warm_calls // args.blocks)
            for b in range(args.blocks):
                for i in range(b * block, (b + 1) * block):
                    t = time.perf_counter()
                    r = sup.invoke(inv(first, "v0", "warm", i), None)
                    warm.append((time.perf_counter() - t) * 1000)
                    assert r.ok, r
                for i in range(b * block, (b + 1) * block):
                    t = time.perf_counter()
                    r = client.invoke(inv(first, "v0", "warm", i), None)
                    served.append((time.perf_counter() - t) * 1000)
                    assert r.ok, r
                    served_inside.append(r.duration_ms)
            client.close()
        finally:
            stop_process(service)

        # 2. fresh process per call
        code = FRESH.format(sdk=str(ROOT / "sdk"), main=str(first / "main.py"))
        fresh = []
        for i in range(args.fresh_calls):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-I", "-c", code], input=str(i), capture_output=True, text=True,
                                 env={}, check=True).stdout
            fresh.append((time.perf_counter() - t) * 1000)
            assert "pong" in out

        # 3. first call of a new installation (zygote already loaded)
        firsts = []
        for i in range(60):
            t = time.perf_counter()
            assert sup.invoke(inv(first, "v0", f"new-{i}", i), None).ok
            firsts.append((time.perf_counter() - t) * 1000)
        sup.evict("v0")
        t = time.perf_counter()
        assert sup.invoke(inv(first, "v0", "cold", 0), None).ok
        cold_ms = (time.perf_counter() - t) * 1000

        # 5. 100 installations of 10 plugins
        pairs = [(p, f"v{n}", f"inst-{n}-{k}") for n, p in enumerate(plugins) for k in range(10)]
        for p, v, i in pairs:
            assert sup.invoke(inv(p, v, i, 0), None).ok
        # 4. memory per warm worker
        pids = list(sup.stats()["worker_pids"].values())
        mem = [smaps(pid) for pid in pids if os.path.exists(f"/proc/{pid}/smaps_rollup")]
        counter = iter(range(args.throughput_calls))
        lock = threading.Lock()
        failures = []

        def drive() -> None:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                p, v, i = pairs[n % len(pairs)]
                if not sup.invoke(inv(p, v, i, n), None).ok:
                    failures.append(n)

        threads = [threading.Thread(target=drive) for _ in range(args.threads)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        stats = sup.stats()
    sup.close()

    p50w, p99w, p50f = pct(warm, 0.5), pct(warm, 0.99), pct(fresh, 0.5)
    p50s, p99s, p50in = pct(served, 0.5), pct(served, 0.99), pct(served_inside, 0.5)
    rows += [
        ("warm worker, trivial hook, in-process Supervisor (p50 / p99)", f"{p50w:.3f} ms / {p99w:.3f} ms",
         "p50 ≤ 0.5 ms (baseline)"),
        ("warm hook through the service: SandboxClient → sandboxd (p50 / p99)", f"{p50s:.3f} ms / {p99s:.3f} ms",
         f"p50 ≤ {TARGET_SERVICE_P50_MS} ms — {verdict(p50s <= TARGET_SERVICE_P50_MS)}"),
        ("service p50 / in-process p50, same run", f"{p50s / p50w:.2f}×", "—"),
        ("of the service call: the service's supervisor (its duration_ms, p50) / the rest: "
         "client, socket, admission (p50 of the difference)",
         f"{p50in:.3f} ms / {pct([a - b for a, b in zip(served, served_inside, strict=True)], 0.5):.3f} ms", "—"),
        ("fresh Python process per call (p50 / p99)", f"{p50f:.1f} ms / {pct(fresh, 0.99):.1f} ms", "—"),
        ("speed-up, warm vs fresh (p50)", f"{p50f / p50w:.0f}×", "≥ 50×"),
        ("first call, new installation: fork from zygote (p50 / p99)",
         f"{pct(firsts, 0.5):.2f} ms / {pct(firsts, 0.99):.2f} ms", "≤ 15 ms"),
        ("first call, new plugin version: start jail + zygote", f"{cold_ms:.1f} ms", "—"),
        ("memory per warm worker: RSS (median)", f"{statistics.median(m[0] for m in mem) / 1024:.1f} MB", "—"),
        ("memory per warm worker: unique USS (median / max)",
         f"{statistics.median(m[1] for m in mem) / 1024:.2f} MB / {max(m[1] for m in mem) / 1024:.2f} MB", "≤ 10 MB"),
        (f"throughput, 100 installations × 10 plugins, {args.threads} threads",
         f"{args.throughput_calls / elapsed:.0f} invocations/s", "—"),
    ]
    print(f"\nWarm calls: {len(warm)} in process and {len(served)} through the service, alternating in "
          f"{args.blocks} blocks; the machine's CPUs are shared with whatever else runs.")
    print(f"\nSandbox layers: {', '.join(k for k, v in sup.layers().items() if v)}; "
          f"missing: {', '.join(k for k, v in sup.layers().items() if not v) or 'none'}; "
          f"CPUs: {os.cpu_count()}; warm processes: {stats['zygotes']} zygotes, {stats['workers']} workers; "
          f"failed calls: {len(failures)}\n")
    print("| measure | result | target |\n|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")


if __name__ == "__main__":
    main()
