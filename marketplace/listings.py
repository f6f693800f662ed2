"""Listings from uploads: a plugin's first upload seeds a draft listing staff then curate.

Connected to ``plugins_core.signals.version_uploaded`` in ``MarketplaceConfig.ready``.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from marketplace.models import Category, Listing, PricingModel

__all__ = ["ensure_listing"]


def ensure_listing(sender: Any, *, plugin: Any, manifest: dict[str, Any], **kwargs: Any) -> None:
    """A draft listing staff can curate, seeded from the manifest's marketplace fields."""
    if Listing.objects.filter(plugin=plugin).exists():
        return
    pricing = manifest.get("pricing") or {}
    model = pricing.get("model") or PricingModel.FREE
    try:
        price = Decimal(str(pricing.get("price") or 0))
    except InvalidOperation:
        price = Decimal(0)
    category = None
    if manifest.get("category"):
        category, _ = Category.objects.get_or_create(
            slug=manifest["category"], defaults={"name": manifest["category"].replace("-", " ").title()}
        )
    Listing.objects.create(
        plugin=plugin,
        category=category,
        summary=(manifest.get("description") or "")[:300],
        keywords=manifest.get("keywords") or [],
        pricing_model=model,
        price=price,
        currency=pricing.get("currency") or "USD",
    )
