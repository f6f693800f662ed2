"""Noisy neighbour benchmark: prints a markdown section. Standalone: `.venv/bin/python bench/neighbour_bench.py`.

The Procfile's processes (bench/_stack.py): the sandbox service, gunicorn (2 workers × 8
threads) and a Celery worker (threads pool, concurrency 16), on SQLite and the filesystem
broker. Tenant B runs the quiet test plugin (tests/integration/plugins/quiet: a route
``/hello`` and a ``device.created`` hook); an attacker tenant runs the hostile one
(tests/integration/plugins/hostile). Both are uploaded and enabled through the API.

Probes, the same in every phase, all at once: B's route (``GET /ext/quiet/hello``, one
client, one request after another), ``/healthz`` (one client), and B's hook (``POST
/api/devices/`` for B, then the time until B's hook row is finished, polled in the database;
one event at a time). Phases:

* quiet — nothing else runs;
* storm — the attacker loops 16 ``GET /ext/hostile/never-reads`` at once (each a worker
  that floods host calls and never reads the answers, until its deadline) and keeps 8
  device events in flight, each running the ``spin`` hook (a busy loop, until its deadline);
* diagnostics: the route half of the storm alone, then the hook half alone, so the
  figures say which half costs B what; then the whole storm again with a cap of 4 ``/ext/``
  threads per tenant per gunicorn process (bench/_bench_wsgi.py; 429 at once over it), to
  test that remedy; then quiet again, to show how far the shared machine's load drifted.

gunicorn serves ``config.wsgi`` through bench/_bench_wsgi.py in every phase: it adds a
header with the time a request spent in the application, so a probe's latency splits into
waiting (for a gunicorn thread) and being served (Django and the sandbox call).

Each storm phase has an attacker tenant of its own; after the phase its installation is
disabled (its queued hooks never run) and the phase waits for its last spin to end.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, boot, fmt_ms, make_tenant, pct, print_table, verdict
from _cpu import process_tree
from _stack import Api, Stack, plugin_zip

TARGET_RATIO = 2.0
CAP = 4  # the sandbox's per-tenant budget: a tenant cannot have more calls running anyway
CAPPED = f"storm, web capped at {CAP} route threads per tenant per process"
WSGI = "_bench_wsgi:application"  # config.wsgi plus a timing header (and the cap, when asked)
PLUGINS = ROOT / "tests" / "integration" / "plugins"
ATTACK_ROUTES = 16
ATTACK_HOOKS = 8
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Probes:
    route: list[tuple[int, float, float]] = field(default_factory=list)  # status, client s, server s
    health: list[tuple[int, float, float]] = field(default_factory=list)
    hook: list[float] = field(default_factory=list)
    hook_lost: int = 0


@dataclass
class Attack:
    routes: dict[int, int] = field(default_factory=dict)  # status -> count
    events: int = 0
    hooks: dict[str, int] = field(default_factory=dict)  # outcome -> count, read after the phase


# ---- CPU per group of processes, read from /proc
def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    ppid = int(fh.read().rpartition(b")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    return children


def _cpu(pid: int) -> tuple[int, float] | None:
    """(start time, utime + stime in seconds) of ``pid``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        return int(fields[19]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return None


class CpuSampler:
    """CPU seconds per group of processes over a window, sampled every 0.1 s per process.

    Read per process and summed as increments, not from the groups' totals: a jail worker
    killed at its deadline is reaped by the kernel (its zygote ignores SIGCHLD), so its
    time never reaches a parent's cumulative figures. A process's last < 0.1 s is lost.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.totals: dict[str, float] = {}
        self._seen: dict[tuple[int, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _groups(self) -> dict[str, list[int]]:
        children = _children()

        def tree(root: int) -> list[int]:
            return process_tree(root, children)

        stack = self.stack
        return {"jails (plugin code)": tree(stack.sandboxd.pid)[1:], "sandboxd": [stack.sandboxd.pid],
                "gunicorn": tree(stack.web.pid), "celery worker": tree(stack.worker.pid),
                "this benchmark": [os.getpid()]}

    def _sample(self) -> None:
        for group, pids in self._groups().items():
            for pid in pids:
                reading = _cpu(pid)
                if reading is None:
                    continue
                key = (pid, reading[0])
                before = self._seen.get(key)
                self._seen[key] = reading[1]
                if before is not None:  # first sight: its time until now is not this window's
                    self.totals[group] = self.totals.get(group, 0.0) + reading[1] - before

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def _machine_busy(self) -> float:
        with open("/proc/stat") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS  # all but idle and iowait

    def __enter__(self) -> CpuSampler:
        self._sample()
        self.totals = dict.fromkeys(self._groups(), 0.0)
        self._busy, self._clock = self._machine_busy(), time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = time.monotonic() - self._clock
        self.totals["whole machine (busy)"] = self._machine_busy() - self._busy
        self.per_second = {group: value / wall for group, value in self.totals.items()}


# ---- probes and the attack
def probe_route(api: Api, stop: threading.Event, into: Probes) -> None:
    while not stop.is_set():
        into.route.append(api.probe("/ext/quiet/hello"))
        time.sleep(0.02)


def probe_health(api: Api, stop: threading.Event, into: Probes) -> None:
    while not stop.is_set():
        into.health.append(api.probe("/healthz"))
        time.sleep(0.05)


def probe_hook(api: Api, tenant, stop: threading.Event, into: Probes, tag: str, limit: int | None = None) -> None:
    from django.db import connection

    from plugins_core.models import TERMINAL_STATUSES, Invocation

    terminal = [str(s) for s in TERMINAL_STATUSES]
    n = 0
    try:
        while not stop.is_set() and (limit is None or n < limit):
            n += 1
            started = time.monotonic()
            status, body, _ = api.create_device(f"{tag}-{n}")
            if status != 201:
                into.hook_lost += 1
                continue
            rows = Invocation.objects.filter(tenant=tenant, kind="hook", status__in=terminal,
                                             event__payload__device_id=body["id"])
            while not rows.exists():
                if time.monotonic() - started > 60:
                    into.hook_lost += 1
                    break
                time.sleep(0.005)
            else:
                into.hook.append(time.monotonic() - started)
            time.sleep(0.2)
    finally:
        connection.close()


def attacker_main(base: str, slug: str, token: str) -> None:
    """`--attack-routes`: loop ``ATTACK_ROUTES`` never-reading routes at once until stdin closes,
    then print the answers' statuses. A process of its own, so that its threads (which loop
    fast once answered 429) take no CPU or GIL from the probes'."""
    stop, lock, counts = threading.Event(), threading.Lock(), {}

    def loop() -> None:
        api = Api(base, slug, token)
        while not stop.is_set():
            status, _seconds = api.get("/ext/hostile/never-reads", timeout=60, close=True)
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=loop) for _ in range(ATTACK_ROUTES)]
    for thread in threads:
        thread.start()
    sys.stdin.read()
    stop.set()
    for thread in threads:
        thread.join()
    print(json.dumps(counts), flush=True)


def start_route_attack(a_api: Api) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--attack-routes", a_api.base, a_api.tenant_slug, a_api.token],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def stop_route_attack(process: subprocess.Popen, attack: Attack) -> None:
    out, _ = process.communicate(timeout=60)  # closes stdin: the loops end with their current request
    attack.routes = {int(code): count for code, count in json.loads(out or "{}").items()}


def attack_hooks(api: Api, installation_id: int, stop: threading.Event, attack: Attack) -> None:
    """Keep ``ATTACK_HOOKS`` of the attacker's spinning hooks unfinished: post an event whenever one ends."""
    from django.db import connection

    from plugins_core.models import TERMINAL_STATUSES, Invocation

    terminal = [str(s) for s in TERMINAL_STATUSES]
    try:
        while not stop.is_set():
            finished = Invocation.objects.filter(installation_id=installation_id, kind="hook",
                                                 status__in=terminal).count()
            while attack.events - finished < ATTACK_HOOKS and not stop.is_set():
                attack.events += 1
                api.create_device(f"spin-{attack.events}")
            stop.wait(0.25)
    finally:
        connection.close()


def run_phase(name: str, seconds: float, b_api: Api, b_tenant, *, routes: bool = False, hooks: bool = False,
              attacker: tuple[Api, int] | None = None, stack: Stack) -> tuple[Probes, Attack, dict[str, float]]:
    # New sessions for every phase: a probe's keep-alive connection stays with one gunicorn
    # process, so each phase draws its processes afresh (and a restarted gunicorn needs them).
    b_api, health_api = b_api.fresh(), b_api.fresh()
    if attacker is not None:
        attacker = (attacker[0].fresh(), attacker[1])
    probes, attack = Probes(), Attack()
    stop_attack, stop_probes = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    route_attack = None
    if attacker is not None:
        a_api, a_installation = attacker
        if routes:
            route_attack = start_route_attack(a_api)
        if hooks:
            threads.append(threading.Thread(target=attack_hooks, args=(a_api, a_installation, stop_attack, attack)))
        for thread in threads:
            thread.start()
        time.sleep(2.0)  # the storm is under way (a spin running, the routes at their deadlines) before probing
    probers = [threading.Thread(target=probe_route, args=(b_api, stop_probes, probes)),
               threading.Thread(target=probe_health, args=(health_api, stop_probes, probes)),
               threading.Thread(target=probe_hook, args=(b_api, b_tenant, stop_probes, probes, name))]
    with CpuSampler(stack) as sampler:
        for thread in probers:
            thread.start()
        time.sleep(seconds)
        stop_probes.set()
        for thread in probers:
            thread.join()
    cpu = sampler.per_second
    stop_attack.set()
    for thread in threads:
        thread.join()
    if route_attack is not None:
        stop_route_attack(route_attack, attack)
    if attacker is not None:
        settle(attacker, attack)
    stack.check_alive()
    return probes, attack, cpu


def settle(attacker: tuple[Api, int], attack: Attack) -> None:
    """Disable the attacker's installation (its queued hooks then never run) and wait for its last spin."""
    from django.db import connection

    from plugins_core.models import Invocation

    a_api, installation_id = attacker
    a_api.session.post(f"{a_api.base}/api/plugins/{installation_id}/disable", timeout=30)
    deadline = time.monotonic() + 30
    rows = Invocation.objects.filter(installation_id=installation_id, kind="hook")
    while rows.filter(status="running").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    for status in rows.values_list("status", flat=True):
        attack.hooks[status] = attack.hooks.get(status, 0) + 1
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds of probing, quiet")
    parser.add_argument("--storm", type=float, default=15.0, help="seconds of probing per storm phase")
    parser.add_argument("--no-diagnostics", action="store_true", help="skip the diagnostic phases")
    parser.add_argument("--attack-routes", nargs=3, metavar=("BASE", "SLUG", "TOKEN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack_routes:
        attacker_main(*args.attack_routes)
        return

    phases: dict[str, tuple[Probes, Attack, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="plugyard-bench-neighbour-") as tmp_name:
        tmp = Path(tmp_name)
        # Every attacking request reaches the sandbox service: with the per-installation route
        # limit on, most of them would be answered 429 by the web before it.
        env = boot(tmp, extra_env={"PLUGYARD_ROUTE_RATE_LIMIT": "0"})
        b_tenant, _, b_token = make_tenant("neighbour")
        storms = [("storm", True, True, None)]
        if not args.no_diagnostics:
            storms += [("routes only", True, False, None), ("hooks only", False, True, None),
                       (CAPPED, True, True, {"PLUGYARD_BENCH_ROUTE_THREADS": str(CAP)})]
        attackers = {name: make_tenant(f"attacker-{n}") for n, (name, *_) in enumerate(storms)}
        stack = Stack(env, tmp)
        try:
            stack.start(web_app=WSGI)
            b_api = Api(stack.base, b_tenant.slug, b_token)
            b_api.install(plugin_zip(PLUGINS / "quiet"), "quiet.zip")
            hostile = plugin_zip(PLUGINS / "hostile")
            attacker_apis = {}
            for name, (tenant, _, token) in attackers.items():
                a_api = Api(stack.base, tenant.slug, token)
                attacker_apis[name] = (a_api, a_api.install(hostile, "hostile.zip"))
            # Warm: B's route and hook (its worker forks), every gunicorn thread's connections.
            for _ in range(20):
                b_api.get("/ext/quiet/hello")
            probe_hook(b_api, b_tenant, threading.Event(), Probes(), "warm", limit=3)
            phases["quiet"] = run_phase("quiet", args.quiet, b_api, b_tenant, stack=stack)
            for name, routes, hooks, web_env in storms:
                if web_env is not None:
                    stack.restart_web(WSGI, web_env)
                    for _ in range(20):
                        b_api.get("/ext/quiet/hello")
                phases[name] = run_phase(name, args.storm, b_api, b_tenant, routes=routes, hooks=hooks,
                                         attacker=attacker_apis[name], stack=stack)
            # The machine is shared: quiet once more, to show how far its load drifted meanwhile.
            if not args.no_diagnostics:
                stack.restart_web(WSGI)
            phases["quiet, after"] = run_phase("quiet, after", args.quiet, b_api, b_tenant, stack=stack)
        finally:
            stack.stop()
    report(args, phases)


def report(args: argparse.Namespace, phases: dict[str, tuple[Probes, Attack, dict[str, float]]]) -> None:
    quiet = phases["quiet"][0]
    quiet_p50 = pct([s for code, s, _ in quiet.route if code == 200], 0.5)
    quiet_hook = pct(quiet.hook, 0.5)
    print("## Noisy neighbour: one tenant's hostile plugin against another tenant's route and hook\n")
    print(f"The Procfile's processes: `manage.py sandboxd`, gunicorn (2 workers × 16 threads, gthread) "
          f"serving `config.wsgi` through bench/_bench_wsgi.py (which only adds a header with the time each "
          f"request spent in the application, so waiting for a thread and being served can be told apart, "
          f"and in one diagnostic phase a cap) and a Celery worker (`--pool threads --concurrency 16`), on SQLite and the filesystem "
          f"broker, DEBUG off, the default sandbox budgets (4 calls per tenant, 1 per installation; a route "
          f"over budget waits up to 1 s, idle, then 429; a hook waits up to 1 s, then goes back to the queue) and "
          f"deadlines (5 s), the route rate limit off so every attacking request reaches the sandbox. Tenant "
          f"B: the quiet test plugin. The storm: an attacker tenant's {ATTACK_ROUTES} looping "
          f"`GET /ext/hostile/never-reads` at once plus {ATTACK_HOOKS} device events kept in flight, each "
          f"running the `spin` hook. Probes, the same in every phase and all at once: B's route, one request "
          f"after another, 20 ms apart; `/healthz` 50 ms apart; B's hook, one `POST /api/devices/` at a time "
          f"until its row is finished (polled every 5 ms); route and `/healthz` probes open a new connection "
          f"each time (a kept-alive one stays with one gunicorn process), as do the attacker's 16 loops, "
          f"which run in a process of their own. {args.quiet:g} s of probing quiet, {args.storm:g} s per "
          f"storm phase (after 2 s of the storm alone). Everything shares this machine's {os.cpu_count()} CPUs "
          f"with whatever else runs.\n")
    rows = []
    for name, (probes, attack, _cpu) in phases.items():
        ok = [s for code, s, _ in probes.route if code == 200]
        served = [app for code, _, app in probes.route if code == 200]
        waited = [s - app for code, s, app in probes.route if code == 200]
        bad = len(probes.route) - len(ok)
        p50 = pct(ok, 0.5)
        health = [s for code, s, _ in probes.health if code == 200]
        health_waited = [s - app for code, s, app in probes.health if code == 200]
        if name == "quiet":
            label, target, hook_target = name, "baseline", "baseline"
        elif name == "storm":
            label, hook_target = name, "—"
            target = f"≤ {TARGET_RATIO:g}× quiet — {verdict(p50 <= TARGET_RATIO * quiet_p50)}"
        else:
            label, target, hook_target = (name if name.startswith("quiet") else f"{name} (diagnostic)"), "—", "—"
        against = "" if name == "quiet" else f" — {p50 / quiet_p50:.1f}× quiet"
        hook_against = "" if name == "quiet" else f" — {pct(probes.hook, 0.5) / quiet_hook:.1f}× quiet"
        rows += [
            (f"{label}: B's route p50 / p99 (n = {len(ok)})",
             f"{fmt_ms(p50 * 1000)} / {fmt_ms(pct(ok, 0.99) * 1000)}{against}", target),
            (f"{label}: of B's route, served in gunicorn's thread / waiting before it (p50 each)",
             f"{fmt_ms(pct(served, 0.5) * 1000)} / {fmt_ms(pct(waited, 0.5) * 1000)}", "—"),
            (f"{label}: B's route answers other than 200", f"{bad} of {len(probes.route)}", "0" if not bad else "**0**"),
            (f"{label}: /healthz p50 / max (of it waiting, p50)",
             f"{fmt_ms(pct(health, 0.5) * 1000)} / {fmt_ms(max(health) * 1000)} ({fmt_ms(pct(health_waited, 0.5) * 1000)})"
             + (f", {len(probes.health) - len(health)} failed" if len(health) < len(probes.health) else ""), "—"),
            (f"{label}: B's hook, POST → finished, p50 / max (n = {len(probes.hook)})",
             f"{fmt_ms(pct(probes.hook, 0.5) * 1000)} / {fmt_ms(max(probes.hook) * 1000)}{hook_against}", hook_target),
        ]
        if probes.hook_lost:
            rows.append((f"{label}: B's hooks not finished within 60 s", str(probes.hook_lost), "**0**"))
        if attack.routes:
            codes = ", ".join(f"{count} × {code or 'failed'}" for code, count in sorted(attack.routes.items()))
            rows.append((f"{label}: the attacker's route answers", codes, "—"))
        if attack.events:
            outcomes = ", ".join(f"{count} {status}" for status, count in sorted(attack.hooks.items()))
            rows.append((f"{label}: the attacker's spinning hooks: events / rows when the phase ended",
                         f"{attack.events} / {outcomes}", "—"))
    print_table(rows)
    print("\nCPU used during each phase's probing, in CPUs (CPU seconds per second of wall time; this "
          f"machine has {os.cpu_count()}):\n")
    groups = list(next(iter(phases.values()))[2])
    print(f"| group | {' | '.join(phases)} |\n|---|{'---|' * len(phases)}")
    for group in groups:
        print(f"| {group} | {' | '.join(f'{cpu[group]:.2f}' for _, _, cpu in phases.values())} |")
    others = [cpu["whole machine (busy)"] - sum(v for g, v in cpu.items() if g != "whole machine (busy)")
              for _, _, cpu in phases.values()]
    print(f"| of it, processes not this benchmark's (the machine is shared) | {' | '.join(f'{v:.2f}' for v in others)} |")
    print()


if __name__ == "__main__":
    main()
