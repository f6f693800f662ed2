"""How long invocation logs and dispatched events are kept."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone

from plugins_core.models import Event, Invocation

__all__ = ["prune"]


def prune(days: int) -> tuple[int, int]:
    """Delete invocations and dispatched events older than ``days``; returns both counts."""
    cutoff = timezone.now() - dt.timedelta(days=days)
    invocations, _ = Invocation.objects.filter(created_at__lt=cutoff).delete()
    events, _ = Event.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False).delete()
    return invocations, events
