"""Which installation's ctx call this thread is serving, for host code that runs during one.

A host resource or product service that a plugin's call reaches (``db.insert`` on devices,
an event it raises) asks ``current_bridge()`` who acted, without importing the bridge:
the bridge sets it while it serves a call (``serving``).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["current_bridge", "serving"]

_current: ContextVar[Any] = ContextVar("plugyard_current_bridge", default=None)


def current_bridge() -> Any:
    """The InstallationBridge serving the call in progress on this thread, or None."""
    return _current.get()


@contextmanager
def serving(bridge: Any) -> Iterator[Any]:
    """Make ``bridge`` the current one for the block."""
    token = _current.set(bridge)
    try:
        yield bridge
    finally:
        _current.reset(token)
