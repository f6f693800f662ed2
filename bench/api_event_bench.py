"""One device event reaching 40 plugins, through the public API: prints a markdown section.
Standalone: `.venv/bin/python bench/api_event_bench.py`.

The Procfile's processes (bench/_stack.py): the sandbox service, gunicorn (2 workers ×
8 threads) and a Celery worker (threads pool, concurrency 16), on SQLite and the filesystem
broker. One tenant has 40 plugins uploaded and enabled through the API (the quiet test
plugin, tests/integration/plugins/quiet, under 40 slugs), each with a ``device.created``
hook. Measured, in one run:

* the event: from ``POST /api/devices/`` until all 40 ``Invocation`` rows of its event are
  finished, as a poller of the database sees them (every 5 ms) — the first event (each
  installation's worker forks from its zygote, loaded since the upload's check) and then
  warm events one at a time, p50;
* the baseline, sampled between those events: ``POST /api/devices/`` for a tenant with no
  plugins (the same request, nothing subscribed), and ``GET /api/plugins/`` listing the
  40 installations;
* where an event's time goes, from the rows' own timestamps: the POST's answer, the worker
  taking the task, the hooks finishing, the rows becoming visible; and the same for the
  baseline's own events (no hooks: the broker's and the task's fixed cost).

Then diagnostic legs on the same data (``--no-diagnostics`` skips them), each with its own
baseline samples, the worker restarted under bench/_timed_worker.py each time, each leg
keeping the changes of the one before: the dispatch task's stages timed inside the worker,
as the code is; then with two changes to plugins_core/events/dispatch.py emulated there
(outcomes and claims written with a prepared UPDATE per row instead of ``bulk_update``;
``run_hooks`` reusing ``record_pending``'s subscriptions and rows); then the worker polling
the filesystem broker every 10 ms instead of 50 (a settings overlay); then sandboxd
restarted with a tenant budget of 8 calls instead of 4.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, boot, fmt_ms, make_tenant, pct, print_table, verdict
from _stack import Api, Stack, plugin_zip

TARGET_RATIO = 10.0
QUIET = ROOT / "tests" / "integration" / "plugins" / "quiet"


def wait_finished(tenant, device_id: int, expected: int, timeout: float, alive=None) -> tuple[float, int]:
    """Poll until ``expected`` hook rows of this device's event are finished; (monotonic time, ok count).
    ``alive`` is called now and then: it raises when a process the answer depends on died."""
    from plugins_core.models import TERMINAL_STATUSES, Invocation

    rows = Invocation.objects.filter(tenant=tenant, kind="hook", event__payload__device_id=device_id)
    terminal = [str(s) for s in TERMINAL_STATUSES]
    deadline = time.monotonic() + timeout
    while True:
        done = rows.filter(status__in=terminal).count()
        now = time.monotonic()
        if done >= expected:
            return now, rows.filter(status="ok").count()
        if alive is not None:
            alive()
        if now > deadline:
            raise SystemExit(f"only {done} of {expected} hooks finished within {timeout:g} s "
                             f"(statuses: {sorted(rows.values_list('status', flat=True))})")
        time.sleep(0.005)


def breakdown(tenant, device_id: int, posted_at: dt.datetime) -> dict[str, float]:
    """Milliseconds after the POST was sent: event stored, task took it, hooks, rows done."""
    from plugins_core.events.models import Event
    from plugins_core.models import Invocation

    event = Event.objects.get(tenant=tenant, type="device.created", payload__device_id=device_id)
    rows = list(Invocation.objects.filter(event=event, kind="hook").values("created_at", "finished_at", "duration_ms"))

    def ms(moment: dt.datetime | None) -> float:
        return (moment - posted_at).total_seconds() * 1000 if moment else float("nan")

    return {
        "_event_id": event.pk,
        "_posted_at": posted_at.timestamp(),
        "event stored (in the POST)": ms(event.created_at),
        "worker took the task (pending rows created)": ms(min(r["created_at"] for r in rows)),
        "event marked dispatched (hooks about to run)": ms(event.dispatched_at),
        "first hook finished": ms(min(r["finished_at"] for r in rows)),
        "last hook finished": ms(max(r["finished_at"] for r in rows)),
        "hook duration in the sandbox, mean (its duration_ms)": statistics.mean(r["duration_ms"] or 0 for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=40)
    parser.add_argument("--events", type=int, default=15, help="warm events, one at a time")
    parser.add_argument("--diagnostic-events", type=int, default=10, help="warm events in each diagnostic leg")
    parser.add_argument("--baseline", type=int, default=4, help="baseline requests of each kind between events")
    parser.add_argument("--no-diagnostics", action="store_true", help="skip the timed and emulated-change legs")
    args = parser.parse_args()

    legs: dict[str, Leg] = {}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="plugyard-bench-api-event-") as tmp_name:
        tmp = Path(tmp_name)
        env = boot(tmp)
        fanout, _, fanout_token = make_tenant("bench-fanout")
        plain, _, plain_token = make_tenant("bench-plain")
        stack = Stack(env, tmp)
        try:
            stack.start()
            api, plain_api = Api(stack.base, fanout.slug, fanout_token), Api(stack.base, plain.slug, plain_token)
            from django.db import connections

            for n in range(args.plugins):
                api.install(plugin_zip(QUIET, slug=f"quiet-{n:02d}", name=f"Quiet {n:02d}"), f"quiet-{n:02d}.zip")
            connections.close_all()
            legs[AS_IS] = run_events(args, fanout, api, plain_api, args.events, first=True)
            if not args.no_diagnostics:
                # A settings overlay for the worker only: the filesystem broker polled every 10 ms.
                (tmp / "bench_fast_broker.py").write_text(
                    "from config.settings import *  # noqa: F401,F403\n"
                    "CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, 'polling_interval': 0.01}\n")
                timed_worker = [sys.executable, str(ROOT / "bench" / "_timed_worker.py")]
                for n, (name, worker_env, sandbox_env) in enumerate(DIAGNOSTICS):
                    try:  # a diagnostic that breaks (the code it wraps changed) leaves the figures above
                        if sandbox_env:
                            stack.restart_sandboxd(sandbox_env)
                        stages_file = tmp / f"stages-{n}.jsonl"
                        stack.restart_worker(timed_worker, {"PLUGYARD_BENCH_STAGES": str(stages_file), **worker_env})
                        run_events(args, fanout, api, plain_api, 1, first=False, alive=stack.check_alive)
                        leg = run_events(args, fanout, api, plain_api, args.diagnostic_events, first=False,
                                         alive=stack.check_alive)
                        leg.stages = [json.loads(line) for line in stages_file.read_text().splitlines()]
                        legs[name] = leg
                    except (SystemExit, Exception) as exc:  # reported at the end, not hidden
                        failed.append(f"{name}: {str(exc)[:300]}")
                        break
        finally:
            stack.stop()
    report(args, legs)
    for failure in failed:
        print(f"**A diagnostic leg failed**, so the legs after it did not run: {failure}\n")


AS_IS = "as configured (the Procfile's worker)"
TIMED = "worker timing its stages (bench/_timed_worker.py)"
FIXED = "+ dispatch writes emulated (prepared UPDATEs, no repeated subscriptions)"
BROKER = "+ filesystem broker polled every 10 ms (not 50)"
BUDGET = "+ tenant budget 8 calls (not 4)"
_FIXES = {"PLUGYARD_BENCH_FIXES": "1"}
# (name, worker env, sandboxd env). The emulated fixes of earlier runs (prepared UPDATEs, the
# broker polled every 10 ms) are in the code now; the one diagnostic left times the stages.
DIAGNOSTICS = [
    (TIMED, {}, {}),
]


@dataclass
class Leg:
    totals: list[float] = field(default_factory=list)  # POST → all rows finished, ms
    fanout_post: list[float] = field(default_factory=list)
    parts: list[dict[str, float]] = field(default_factory=list)
    plain_post: list[float] = field(default_factory=list)
    plugin_list: list[float] = field(default_factory=list)
    fixed: list[float] = field(default_factory=list)  # the baseline's events: stored → dispatched
    first_ms: float = float("nan")
    first_parts: dict[str, float] = field(default_factory=dict)
    stages: list[dict] = field(default_factory=list)


def run_events(args: argparse.Namespace, fanout, api: Api, plain: Api, count: int, *, first: bool,
               alive=None) -> Leg:
    from plugins_core.events.models import Event

    leg = Leg()

    def event(name: str) -> tuple[float, float, dict[str, float]]:
        posted_at = dt.datetime.now(dt.UTC)
        started = time.monotonic()
        status, body, post_s = api.create_device(name)
        if status != 201:
            raise SystemExit(f"POST /api/devices/ answered {status}: {body}")
        finished, ok = wait_finished(fanout, body["id"], args.plugins, timeout=120, alive=alive)
        if ok != args.plugins:
            raise SystemExit(f"{args.plugins - ok} of {args.plugins} hooks did not finish ok for {name}")
        return (finished - started) * 1000, post_s * 1000, breakdown(fanout, body["id"], posted_at)

    if first:  # the first event forks a warm worker per installation (the zygotes are loaded since upload)
        leg.first_ms, _, leg.first_parts = event("first")
    since = dt.datetime.now(dt.UTC)
    for _ in range(count):
        for m in range(args.baseline):
            status, body, seconds = plain.create_device(f"plain-{time.monotonic_ns()}-{m}")
            if status != 201:
                raise SystemExit(f"the baseline POST answered {status}: {body}")
            leg.plain_post.append(seconds * 1000)
            status, seconds = api.get("/api/plugins/")
            if status != 200:
                raise SystemExit(f"GET /api/plugins/ answered {status}")
            leg.plugin_list.append(seconds * 1000)
        time.sleep(0.3)  # the baseline's own dispatch tasks (nothing subscribed) finish first
        total, post_ms, part = event(f"warm-{time.monotonic_ns()}")
        part["_total"] = total
        leg.totals.append(total)
        leg.fanout_post.append(post_ms)
        leg.parts.append(part)
    # The baseline's events have nothing subscribed: stored → dispatched is the broker's and
    # the task's fixed cost, which every event pays.
    leg.fixed = [(d - c).total_seconds() * 1000 for c, d in
                 Event.objects.filter(tenant__slug=plain.tenant_slug, created_at__gte=since)
                 .exclude(dispatched_at=None).values_list("created_at", "dispatched_at")]
    return leg


def report(args: argparse.Namespace, legs: dict[str, Leg]) -> None:
    main_leg = legs[AS_IS]
    p50, baseline = pct(main_leg.totals, 0.5), pct(main_leg.plain_post, 0.5)
    ratio = p50 / baseline
    print(f"## One device event reaching {args.plugins} plugins, through the public API\n")
    print(f"The Procfile's processes: `manage.py sandboxd`, gunicorn `config.wsgi` (2 workers × 16 threads, "
          f"gthread) and a Celery worker (`--pool threads --concurrency 16`), on SQLite and the filesystem "
          f"broker (10 ms polling), DEBUG off, default sandbox budgets (4 calls per tenant, 1 per "
          f"installation). One tenant has {args.plugins} plugins uploaded and enabled through the API "
          f"(the quiet test plugin under {args.plugins} slugs), each with one `device.created` hook "
          f"that returns at once. An event is `POST /api/devices/` until the database shows all "
          f"{args.plugins} of its hook rows finished (polled every 5 ms); {args.events} warm events one at a "
          f"time, each after {args.baseline} baseline requests of each kind. Client, gunicorn, the worker, "
          f"sandboxd and the jails share this machine's {os.cpu_count()} CPUs with whatever else runs.\n")
    rows = [
        (f"event → all {args.plugins} hooks finished, p50 / p99 (warm)",
         f"{fmt_ms(p50)} / {fmt_ms(pct(main_leg.totals, 0.99))}", "—"),
        ("baseline: POST /api/devices/ for a tenant with no plugins, p50 / p99",
         f"{fmt_ms(baseline)} / {fmt_ms(pct(main_leg.plain_post, 0.99))}", "—"),
        ("ratio event p50 / baseline p50", f"{ratio:.1f}×", f"< {TARGET_RATIO:g}× — {verdict(ratio < TARGET_RATIO)}"),
        (f"also: GET /api/plugins/ listing the {args.plugins} installations, p50",
         fmt_ms(pct(main_leg.plugin_list, 0.5)), "—"),
        (f"also: the POST itself for the {args.plugins}-plugin tenant, p50", fmt_ms(pct(main_leg.fanout_post, 0.5)),
         "—"),
        ("first event (each installation's first call: its worker forks from the zygote kept since upload)",
         fmt_ms(main_leg.first_ms), "—"),
    ]
    for name, leg in legs.items():
        if name != AS_IS:
            leg_p50, leg_base = pct(leg.totals, 0.5), pct(leg.plain_post, 0.5)
            rows.append((f"diagnostic, {name}: event p50 / baseline p50 ({len(leg.totals)} events)",
                         f"{fmt_ms(leg_p50)} / {fmt_ms(leg_base)} = {leg_p50 / leg_base:.1f}×", "—"))
    print_table(rows)
    print("\nWhere a warm event's time goes (median over the warm events, ms after the POST was sent, "
          "from the rows' own timestamps; the last line is the poller's):\n")
    step_rows = [("POST /api/devices/ answered", fmt_ms(pct(main_leg.fanout_post, 0.5)), "—")]
    for name in main_leg.parts[0]:
        if not name.startswith("_"):
            values = [part[name] for part in main_leg.parts]
            step_rows.append((name, fmt_ms(statistics.median(values)), fmt_ms(main_leg.first_parts[name])))
    step_rows.append((f"all {args.plugins} rows visible as finished", fmt_ms(p50), fmt_ms(main_leg.first_ms)))
    print_table(step_rows, ("step", "warm (median)", "first event"))
    stored_to_dispatched = [part["event marked dispatched (hooks about to run)"] - part["event stored (in the POST)"]
                            for part in main_leg.parts]
    print(f"\nEvent stored → marked dispatched, median: {fmt_ms(statistics.median(stored_to_dispatched))} for the "
          f"{args.plugins}-plugin tenant's events, {fmt_ms(statistics.median(main_leg.fixed))} for the baseline "
          f"tenant's ({len(main_leg.fixed)} events with nothing subscribed): the broker's hand-over and the "
          f"task's start, which every event pays.\n")
    if TIMED in legs:
        report_stages(TIMED, legs[TIMED])
        compare_legs([name for name, _, _ in DIAGNOSTICS if name in legs], legs, args.plugins)
        missing = sorted({m for leg in legs.values() for r in leg.stages for m in r.get("missing", [])})
        if missing:
            print(f"Not timed or emulated, as this code no longer has them: {', '.join(missing)}.\n")


def _matched(leg: Leg) -> list[tuple[dict[str, float], dict]]:
    """Each warm event's timestamps with the worker's stage record of its dispatch task."""
    by_event = {int(r["event_id"]): r for r in leg.stages}
    return [(part, by_event[part["_event_id"]]) for part in leg.parts if part["_event_id"] in by_event]


def compare_legs(names: list[str], legs: dict[str, Leg], plugins: int) -> None:
    """The diagnostic legs side by side: what each change moved."""
    HOOKS = "SandboxClient.invoke (round trip to sandboxd)"
    OUTCOMES = "Invocation bulk_update (outcomes)"

    def median(values) -> str:
        values = list(values)
        return fmt_ms(statistics.median(values)) if values else "—"

    def stage(matched, name, value) -> str:
        return median(value(r["stages"][name], r, p) * 1000 for p, r in matched if name in r["stages"])

    rows: list[tuple[str, list[str]]] = [
        ("event → all rows finished, p50", [fmt_ms(pct(legs[n].totals, 0.5)) for n in names]),
        ("baseline POST, p50", [fmt_ms(pct(legs[n].plain_post, 0.5)) for n in names]),
        ("ratio", [f"{pct(legs[n].totals, 0.5) / pct(legs[n].plain_post, 0.5):.1f}×" for n in names]),
    ]
    matched = {n: _matched(legs[n]) for n in names}
    rows += [
        ("task started, after the POST was sent", [median((r["started"] - p["_posted_at"]) * 1000 for p, r in matched[n])
                                                 for n in names]),
        ("task start → first hook call (pending rows, claims)",
         [stage(matched[n], HOOKS, lambda st, r, p: st["start"] - r["started"]) for n in names]),
        (f"first hook call → last hook answer ({plugins} calls)",
         [stage(matched[n], HOOKS, lambda st, r, p: st["end"] - st["start"]) for n in names]),
        ("of it, one call's round trip to sandboxd, mean",
         [stage(matched[n], HOOKS, lambda st, r, p: st["sum"] / st["calls"]) for n in names]),
        (f"writing the {plugins} outcomes", [stage(matched[n], OUTCOMES, lambda st, r, p: st["end"] - st["start"]) for n in names]),
        ("task ended → the poller saw every row",
         [median(p["_total"] - (r["ended"] - p["_posted_at"]) * 1000 for p, r in matched[n]) for n in names]),
    ]
    print("The diagnostic legs side by side (medians over each leg's warm events; each leg keeps the changes "
          "of the legs left of it):\n")
    print(f"| | {' | '.join(names)} |\n|---|{'---|' * len(names)}")
    for label, values in rows:
        print(f"| {label} | {' | '.join(values)} |")
    print()


def report_stages(name: str, leg: Leg) -> None:
    """The worker's own timings of each warm event's dispatch task (bench/_timed_worker.py)."""
    matched = _matched(leg)
    if not matched:
        print(f"{name}: no stage timings were recorded.\n")
        return

    def median_ms(values) -> str:
        return fmt_ms(statistics.median(values) * 1000)

    rows = [("task started (after the POST was sent)",
             median_ms([r["started"] - p["_posted_at"] for p, r in matched]), "—", "—"),
            ("task ended (after the POST was sent)", median_ms([r["ended"] - p["_posted_at"] for p, r in matched]),
             "—", "—")]
    names = sorted({stage for _, r in matched for stage in r["stages"]},
                   key=lambda n: statistics.median(r["stages"][n]["start"] - r["started"]
                                                   for _, r in matched if n in r["stages"]))
    for stage in names:
        present = [(r, r["stages"][stage]) for _, r in matched if stage in r["stages"]]
        rows.append((stage, median_ms([st["start"] - r["started"] for r, st in present]),
                     median_ms([st["end"] - st["start"] for _, st in present]),
                     f"{statistics.median(st['calls'] for _, st in present):.0f} calls, "
                     f"{median_ms([st['sum'] for _, st in present])} summed"))
    print(f"Inside the worker, {name}: median over {len(matched)} warm events (event p50 "
          f"{fmt_ms(pct(leg.totals, 0.5))}); a stage's span runs from its first call's start to its last "
          f"call's end (the dispatch pool's calls overlap):\n")
    print("| stage | starts (after the task started) | span | calls, time summed |\n|---|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")
    print()


if __name__ == "__main__":
    main()
