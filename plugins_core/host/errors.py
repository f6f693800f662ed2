"""Errors a host call can end in; every message is safe to show the plugin that made the call.

``PermissionDenied``, ``BridgeError`` and ``HostBridge`` are the sandbox's contract
(``plugins_core.sandbox.bridge``): the sandbox turns PermissionDenied into a PermissionError
naming the permission, and shows a BridgeError's message to the plugin. Every error here is
a BridgeError with a stable ``code``.
"""
from __future__ import annotations

__all__ = [
    "BadArguments",
    "BridgeError",
    "HostBridge",
    "HostCallError",
    "NotAvailable",
    "NotFound",
    "PermissionDenied",
    "QuotaExceeded",
    "Refused",
    "UnknownMethod",
    "UpstreamError",
]

from plugins_core.sandbox.bridge import BridgeError, HostBridge, PermissionDenied


class HostCallError(BridgeError):
    """A ctx call the host refused or could not complete; ``code`` is stable, the text is for people."""

    code = "host_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class UnknownMethod(HostCallError):
    code = "unknown_method"


class BadArguments(HostCallError):
    code = "bad_arguments"


class NotFound(HostCallError):
    code = "not_found"


class QuotaExceeded(HostCallError):
    code = "quota_exceeded"


class Refused(HostCallError):
    """The host will not do this at all (an outbound target, a path, an event name)."""

    code = "refused"


class NotAvailable(HostCallError):
    """The service is not configured or not installed on this host."""

    code = "not_available"


class UpstreamError(HostCallError):
    """The remote side (a web server, the LLM backend, the mail server) failed."""

    code = "upstream_error"
