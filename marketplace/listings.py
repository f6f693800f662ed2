"""Listings from uploads: a plugin's first upload seeds a draft listing staff then curate;
and which of a listing's versions tenants may install (:func:`installable_version`).

``ensure_listing`` is connected to ``plugins_core.signals.version_uploaded`` in
``MarketplaceConfig.ready``.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from marketplace.models import Category, Listing, ListingStatus, PricingModel, ReviewStatus
from plugins_core.models import PluginVersion

__all__ = ["ensure_listing", "installable_version"]


def installable_version(listing: Listing) -> PluginVersion | None:
    """The version the marketplace shows and installs: the one staff approved.

    * ``approved_version`` when the listing has one: a newer upload, under review or
      rejected, is not offered until staff approve it.
    * A listing that never went through review (``review_status`` "not submitted": published
      by staff in the admin before reviews existed) offers its latest version, as it did.
    * Such a listing, still published while its first submitted version waits for review,
      keeps offering the newest version uploaded before that one.
    * Otherwise (submitted and nothing approved, or the approved version deleted): None,
      nothing to install.
    """
    if listing.approved_version_id is not None and listing.approved_version.plugin_id == listing.plugin_id:
        return listing.approved_version
    if listing.approved_version_id is not None:
        return None
    if listing.review_status == ReviewStatus.NOT_SUBMITTED:
        return listing.plugin.latest_version
    under_review = listing.review_version
    if listing.review_status == ReviewStatus.PENDING and listing.status == ListingStatus.PUBLISHED and under_review:
        return (
            PluginVersion.objects.filter(plugin_id=listing.plugin_id, created_at__lt=under_review.created_at)
            .order_by("-created_at", "-pk").first()
        )
    return None


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
