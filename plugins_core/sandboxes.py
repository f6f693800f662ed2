"""The sandbox as this Django process sees it: its policy from settings, and its client.

The sandbox package knows no Django; this is where ``settings.PLUGYARD_SANDBOX`` becomes a
:class:`~plugins_core.sandbox.SandboxPolicy`, and where the process's one client of the
machine's sandbox service lives.
"""
from __future__ import annotations

import threading

from django.conf import settings

from plugins_core.sandbox import SandboxClient, SandboxPolicy

__all__ = ["get_sandbox", "policy", "reset"]

_client: SandboxClient | None = None
_lock = threading.Lock()


def policy() -> SandboxPolicy:
    """Defaults, then ``settings.PLUGYARD_SANDBOX``, then the environment."""
    return SandboxPolicy.from_mapping(getattr(settings, "PLUGYARD_SANDBOX", {}) or {})


def get_sandbox() -> SandboxClient:
    """This process's client of the machine's sandbox service."""
    global _client
    with _lock:
        if _client is None:
            _client = SandboxClient(policy())
        return _client


def reset() -> None:
    """Forget the client (its socket path or policy changed: tests)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
