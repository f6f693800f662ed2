"""Queueing a Celery task after the current transaction commits: the one way code below the
task modules sends work to them.

Tasks are named, not imported: the pipeline and the ground never import the task modules
(the adapters above them), so the layers stay one-way. A broker that refuses the message
is logged and left to the sweep that owns that kind of work (outbox, leases, recovery).
"""
from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

__all__ = ["after_commit", "now"]

log = logging.getLogger(__name__)


def now(task: str, *args: Any, countdown: float | None = None) -> bool:
    """Send ``task`` (its dotted name) with ``args``; False when the broker refused it."""
    try:
        current_app.send_task(task, args=args, countdown=countdown)
        return True
    except Exception:  # the broker is down: the owning sweep sends it again from the database
        log.warning("broker unavailable; %s%r waits for its sweep", task, args, exc_info=True)
        return False


def after_commit(task: str, *args: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: now(task, *args))
