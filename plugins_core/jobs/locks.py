"""A database lease per (installation, kind, name): no two runs of one job overlap.

One mechanism for both deployments (SQLite + filesystem broker, PostgreSQL + Redis): taking
the lease is a single conditional UPDATE, atomic on either database, and a holder that dies
(kill -9) loses it when the lease runs out, so nothing stays locked for good.
"""
from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from plugins_core.jobs.models import JobLock

__all__ = ["acquire", "acquire_many", "release", "release_many", "remaining"]


def _row(installation_id: int, kind: str, name: str) -> JobLock:
    try:
        with transaction.atomic():
            return JobLock.objects.get_or_create(installation_id=installation_id, kind=kind, name=name)[0]
    except IntegrityError:  # created by another worker between our get and create
        return JobLock.objects.get(installation_id=installation_id, kind=kind, name=name)


def acquire(installation_id: int, kind: str, name: str, holder: str, seconds: float) -> bool:
    """Take (or extend, for the same holder) the lease; False if another holder has it."""
    lock = _row(installation_id, kind, name)
    now = timezone.now()
    taken = (
        JobLock.objects.filter(pk=lock.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now) | Q(holder=holder))
        .update(holder=holder, lease_until=now + dt.timedelta(seconds=seconds))
    )
    return taken == 1


def acquire_many(wanted: list[tuple[int, str, str, str]], seconds: float) -> set[str]:
    """:func:`acquire` for many (installation, kind, name, holder) at once, in one transaction;
    returns the holders that took their lease."""
    JobLock.objects.bulk_create(
        [JobLock(installation_id=i, kind=kind, name=name) for i, kind, name, _ in wanted], ignore_conflicts=True)
    now = timezone.now()
    until = now + dt.timedelta(seconds=seconds)
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    taken = set()
    with transaction.atomic():
        for installation_id, kind, name, holder in wanted:
            if JobLock.objects.filter(installation_id=installation_id, kind=kind, name=name).filter(
                    free | Q(holder=holder)).update(holder=holder, lease_until=until):
                taken.add(holder)
    return taken


def release(installation_id: int, kind: str, name: str, holder: str) -> None:
    JobLock.objects.filter(installation_id=installation_id, kind=kind, name=name, holder=holder).update(
        holder="", lease_until=None
    )


def release_many(holders: list[str]) -> None:
    """:func:`release` of every lease these holders have (a holder names one run)."""
    JobLock.objects.filter(holder__in=holders).update(holder="", lease_until=None)


def remaining(installation_id: int, kind: str, name: str) -> float:
    """Seconds until the current lease runs out (0 when free)."""
    lock = JobLock.objects.filter(installation_id=installation_id, kind=kind, name=name).first()
    if lock is None or lock.lease_until is None:
        return 0.0
    return max(0.0, (lock.lease_until - timezone.now()).total_seconds())
