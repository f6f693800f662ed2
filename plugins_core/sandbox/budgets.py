"""Concurrency budgets: how many calls one installation, and one tenant, may have running.

The sandbox service admits every call through `Budgets.admit` before it reaches a worker.
A call over budget waits in its tenant's queue — never in front of another tenant's
calls, because each tenant's slots are its own — until a slot frees or its wait runs out.
So a tenant whose plugins are slow or hostile queues behind itself only.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Budgets"]


class Budgets:
    def __init__(self, per_tenant: int, per_installation: int) -> None:
        if per_tenant < 1 or per_installation < 1:
            raise ValueError("concurrency budgets must be at least 1")
        self.per_tenant, self.per_installation = per_tenant, per_installation
        self._running: Counter[tuple[str, str]] = Counter()
        # One condition per tenant: a freed slot wakes only that tenant's waiters.
        self._lock = threading.Lock()
        self._conditions: dict[str, threading.Condition] = {}

    def _has_room(self, tenant: str, installation: str) -> bool:
        return (self._running["tenant", tenant] < self.per_tenant
                and self._running["installation", installation] < self.per_installation)

    @contextmanager
    def admit(self, tenant: str, installation: str, wait_until: float) -> Iterator[bool]:
        """Hold a slot for the body; yields False (holding none) when none freed by ``wait_until``."""
        with self._lock:
            condition = self._conditions.setdefault(tenant, threading.Condition(self._lock))
            while not self._has_room(tenant, installation):
                remaining = wait_until - time.monotonic()
                if remaining <= 0:
                    break
                condition.wait(remaining)
            admitted = self._has_room(tenant, installation)
            if admitted:
                self._running["tenant", tenant] += 1
                self._running["installation", installation] += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._running["tenant", tenant] -= 1
                    self._running["installation", installation] -= 1
                    for key in (("tenant", tenant), ("installation", installation)):
                        if self._running[key] <= 0:
                            del self._running[key]
                    condition.notify_all()

    def running(self) -> dict[str, int]:
        """Slots held now, per tenant (for the service's stats)."""
        with self._lock:
            return {name: count for (kind, name), count in self._running.items() if kind == "tenant"}
