"""Errors of the tenants app: a refused change to a tenant's people, naming the field and why."""
from __future__ import annotations

__all__ = ["MemberError"]


class MemberError(Exception):
    """A refused invitation, role change or removal.

    ``status`` is what an HTTP adapter answers (400 bad input, 403 not allowed, 409 conflicts
    with the tenant's state); ``field`` names the input at fault, or "" for the request as a
    whole; ``code`` is a short machine word.
    """

    def __init__(self, message: str, *, field: str = "", code: str = "invalid", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.status = status
