"""A Celery worker with the stages of an event's dispatch timed, for api_event_bench.py.

Run as ``python bench/_timed_worker.py <celery worker arguments>``; ``PLUGYARD_BENCH_STAGES``
names the file it appends one JSON line to per ``dispatch_event`` task: when the task
started and ended (wall clock, so the benchmark can line them up with the rows' and the
POST's timestamps), and per stage its calls, its summed time and its wall span (first
start to last end: concurrent stages overlap). The wrapped functions are the ones the
task reaches through module attributes, so wrapping them changes what they are not. The
stages are named for plugins_core/events/dispatch.py's functions as of commit a47cc13; one
the code no longer has is skipped and listed in the record's ``missing``.

With ``PLUGYARD_BENCH_FIXES=1`` it also emulates two changes proposed for
plugins_core/events/dispatch.py, to measure them before anyone makes them:

* outcomes and claims written with one prepared ``UPDATE … WHERE id = %s`` run for each
  row (``executemany``) in one transaction, instead of ``bulk_update``'s one statement with
  a ``CASE WHEN id = … THEN …`` per column, which Django builds in Python and SQLite
  evaluates for every row;
* ``run_hooks`` reusing the subscriptions and pending rows ``record_pending`` made a moment
  before in the same task, instead of querying and inserting them again.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from celery.signals import task_postrun, task_prerun  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from config.celery import app  # noqa: E402
from plugins_core import runner  # noqa: E402
from plugins_core.events import dispatch, tasks  # noqa: E402
from plugins_core.models import Invocation  # noqa: E402
from plugins_core.sandbox import client as sandbox_client  # noqa: E402

FIXES = bool(os.environ.get("PLUGYARD_BENCH_FIXES"))

_lock = threading.Lock()
_stages: dict[str, list[float]] = {}  # name -> [calls, summed s, first start, last end]
_task: dict[str, float] = {}
_in_task = threading.local()  # the dispatch task's thread: what it did already (FIXES)
_missing: list[str] = []  # functions this code no longer has: not timed, not emulated


def _note(name: str, started: float, ended: float) -> None:
    with _lock:
        entry = _stages.setdefault(name, [0, 0.0, started, ended])
        entry[0] += 1
        entry[1] += ended - started
        entry[2], entry[3] = min(entry[2], started), max(entry[3], ended)


def timed(owner, attribute: str, name: str) -> None:
    original = getattr(owner, attribute, None)
    if original is None:
        _missing.append(f"{getattr(owner, '__name__', owner)}.{attribute}")
        return

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            _note(name, started, time.time())

    setattr(owner, attribute, wrapper)


timed(dispatch, "record_pending", "record_pending (subscriptions query + pending rows)")
timed(tasks, "deliver_webhooks", "deliver_webhooks")
timed(dispatch, "run_hooks", "run_hooks (whole)")
timed(dispatch, "_subscriptions", "_subscriptions (query; record_pending's and run_hooks' own)")
timed(dispatch, "_create_pending", "_create_pending (bulk_create, ignore_conflicts)")
timed(dispatch, "_claim_all", "_claim_all (claim transaction)")
timed(dispatch, "_run_group", "_run_group (one installation, in a pool thread)")
timed(runner, "invoke", "runner.invoke (one hook: bridge, call, record)")
timed(runner, "sandbox_call", "runner.sandbox_call (build the call; ensure_unpacked)")
timed(sandbox_client.SandboxClient, "invoke", "SandboxClient.invoke (round trip to sandboxd)")


def _executemany_update(objs, fields, *args, **kwargs) -> int:
    """What bulk_update does, as one prepared UPDATE per row in one transaction."""
    objs = list(objs)
    if not objs:
        return 0
    meta, quote = Invocation._meta, connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    sql = (f"UPDATE {quote(meta.db_table)} SET {', '.join(f'{quote(f.column)} = %s' for f in columns)} "
           f"WHERE {quote(meta.pk.column)} = %s")
    rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] + [obj.pk] for obj in objs]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(objs)


_bulk_update = _executemany_update if FIXES else Invocation.objects.bulk_update


def _timed_bulk_update(objs, fields, *args, **kwargs):
    started = time.time()
    try:
        return _bulk_update(objs, fields, *args, **kwargs)
    finally:
        _note(f"Invocation bulk_update ({'claims' if len(fields) == 3 else 'outcomes'})", started, time.time())


Invocation.objects.bulk_update = _timed_bulk_update


def _once_per_task(attribute: str) -> None:
    """In the dispatch task's thread, a second call with the same arguments returns the first's
    result: what passing record_pending's work on to run_hooks would save."""
    original = getattr(dispatch, attribute, None)
    if original is None:
        _missing.append(f"emulation of dispatch.{attribute}")
        return

    @functools.wraps(original)
    def wrapper(*args):
        memo = getattr(_in_task, "memo", None)
        if memo is None:  # not in a dispatch task's own thread
            return original(*args)
        # _subscriptions(tenant, type, kind) by its arguments; _create_pending(event, pairs) by its
        # event (run_hooks filters the same pairs into a list of its own).
        key = ((attribute, args[0].pk) if attribute == "_create_pending"
               else (attribute, args[0].pk, *args[1:]))
        if key not in memo:
            memo[key] = original(*args)
        return memo[key]

    setattr(dispatch, attribute, wrapper)


if FIXES:
    _once_per_task("_subscriptions")
    _once_per_task("_create_pending")


@task_prerun.connect
def _started(task_id=None, task=None, args=None, **_kwargs) -> None:
    if task is not None and task.name.endswith("dispatch_event"):
        _in_task.memo = {}
        with _lock:
            _stages.clear()
            _task.clear()
            _task.update(event_id=float(args[0]) if args else -1, started=time.time())


@task_postrun.connect
def _ended(task_id=None, task=None, **_kwargs) -> None:
    if task is None or not task.name.endswith("dispatch_event"):
        return
    _in_task.memo = None
    with _lock:
        record = {**_task, "ended": time.time(), "missing": _missing,
                  "stages": {name: {"calls": e[0], "sum": e[1], "start": e[2], "end": e[3]} for name, e in _stages.items()}}
    with open(os.environ["PLUGYARD_BENCH_STAGES"], "a") as out:
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    app.worker_main(argv=sys.argv[1:])
