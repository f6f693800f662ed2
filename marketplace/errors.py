"""The marketplace's errors; each is an API error (status, code, message) the admin can also show."""
from __future__ import annotations

from config.errors import ApiError

__all__ = ["MarketplaceError", "ReviewRefused"]


class MarketplaceError(ApiError):
    """Base of the marketplace's errors."""


class ReviewRefused(MarketplaceError):
    """A submission or a staff decision that cannot be made; the message says why."""

    default_code = "review_refused"
