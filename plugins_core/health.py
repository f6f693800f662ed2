"""Is the pipeline moving? The checks behind ``GET /readyz`` and ``manage.py health``.

``/healthz`` says only that a web process answers. Readiness asks every part that events
and jobs pass through, cheaply enough to be polled every few seconds:

* ``database`` and ``broker`` answer;
* ``sandbox``: this machine's sandbox service answers a ping;
* ``beat``: beat's scheduler ticked recently (it writes the ``beat`` heartbeat);
* ``workers``: a worker ran the heartbeat task beat sends every 10 s, recently;
* ``outbox``: no event has waited longer than the threshold to be dispatched;
* ``pending``: no hook invocation has waited longer than the threshold to be claimed.

Thresholds are ``settings.PLUGYARD_READY`` (seconds). A failing check says what it saw
and the threshold; it names no tenant, plugin or payload.
"""
from __future__ import annotations

import datetime as dt
import socket
from dataclasses import asdict, dataclass
from typing import Any

from celery import current_app, shared_task
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from plugins_core.events.models import Event
from plugins_core.models import Heartbeat, Invocation, InvocationStatus
from plugins_core.sandboxes import get_sandbox

__all__ = ["CHECKS", "Check", "heartbeat", "readiness"]

CHECKS = ("database", "broker", "sandbox", "beat", "workers", "outbox", "pending")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@shared_task(bind=True, ignore_result=True)
def heartbeat(self) -> None:
    """Beat sends this every 10 s; the worker that runs it proves the whole path works."""
    Heartbeat.touch("worker", f"{self.request.hostname or socket.gethostname()}")


def _limit(name: str) -> float:
    return float(settings.PLUGYARD_READY[f"{name}_s"])


def _age(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check("database", False, f"the database did not answer ({type(exc).__name__})")
    return Check("database", True, "answers")


def _broker() -> Check:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            conn.default_channel  # noqa: B018 (opening a channel is what reaches the server)
    except Exception as exc:  # kombu raises the transport's own errors
        return Check("broker", False, f"the broker did not answer ({type(exc).__name__})")
    return Check("broker", True, "answers")


def _sandbox() -> Check:
    if get_sandbox().ping(timeout=1.0):
        return Check("sandbox", True, "the sandbox service answers")
    return Check("sandbox", False, "the sandbox service does not answer (is manage.py sandboxd running?)")


def _heartbeat(check: str, row: str, beats: dict[str, Heartbeat], now: dt.datetime, what: str) -> Check:
    limit = _limit(check)
    age = _age(beats[row].at if row in beats else None, now)
    if age is None:
        return Check(check, False, f"no {what} yet")
    if age > limit:
        return Check(check, False, f"the last {what} was {age:.0f} s ago (threshold {limit:.0f} s)")
    return Check(check, True, f"{what} {age:.0f} s ago")


def _oldest(check: str, oldest: dt.datetime | None, now: dt.datetime, what: str) -> Check:
    limit = _limit(check)
    age = _age(oldest, now)
    if age is not None and age > limit:
        return Check(check, False, f"the oldest {what} has waited {age:.0f} s (threshold {limit:.0f} s)")
    return Check(check, True, f"oldest {what}: {age:.0f} s" if age is not None else f"no {what}")


def readiness() -> list[Check]:
    """Every check, in :data:`CHECKS` order; the pipeline is ready when all are ok."""
    database = _database()
    if not database.ok:
        rest = [Check(name, False, "not checked: the database did not answer") for name in CHECKS[3:]]
        return [database, _broker(), _sandbox(), *rest]
    now = timezone.now()
    beats = {beat.name: beat for beat in Heartbeat.objects.filter(name__in=["beat", "worker"])}
    oldest_event = (Event.objects.filter(dispatched_at__isnull=True).order_by("created_at")
                    .values_list("created_at", flat=True).first())
    oldest_pending = (Invocation.objects.filter(status=InvocationStatus.PENDING, kind="hook").order_by("created_at")
                      .values_list("created_at", flat=True).first())
    return [
        database, _broker(), _sandbox(),
        _heartbeat("beat", "beat", beats, now, "tick of beat"),
        _heartbeat("workers", "worker", beats, now, "heartbeat run by a worker"),
        _oldest("outbox", oldest_event, now, "undispatched event"),
        _oldest("pending", oldest_pending, now, "unclaimed hook invocation"),
    ]


def report(checks: list[Check]) -> dict[str, Any]:
    """The JSON body of ``/readyz``."""
    failing = [c for c in checks if not c.ok]
    return {"status": "not ready" if failing else "ready",
            "failing": [f"{c.name}: {c.detail}" for c in failing],
            "checks": [asdict(c) for c in checks]}
