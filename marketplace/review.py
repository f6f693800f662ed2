"""Reviewing listings: a publisher submits a version, staff approve or reject it with a reason.

Every step is a ``ListingReview`` row (who, when, why) and updates the listing's current
review fields, which the publisher reads through ``GET /api/plugins/<id>``. plugins_core
cannot import this app, so ``MarketplaceConfig.ready`` connects ``listing_state`` and
``review_requested`` to the signals of the same names in ``plugins_core.signals``.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from marketplace.errors import ReviewRefused
from marketplace.listings import ensure_listing
from marketplace.models import Listing, ListingReview, ListingStatus, ReviewDecision, ReviewStatus

__all__ = ["approve", "listing_state", "reject", "review_requested", "state", "submit"]


def state(listing: Listing) -> dict[str, Any]:
    """The listing as its publisher reads it in the API."""
    return {
        "status": listing.review_status,
        "version": listing.review_version.version if listing.review_version else None,
        "reason": listing.review_reason,
        "submitted_at": listing.submitted_at.isoformat() if listing.submitted_at else None,
        "reviewed_at": listing.reviewed_at.isoformat() if listing.reviewed_at else None,
        "published": listing.status == ListingStatus.PUBLISHED,
        "approved_version": listing.approved_version.version if listing.approved_version else None,
    }


def _locked(listing_or_plugin: Any) -> Listing:
    # of=("self",): PostgreSQL locks no row on the nullable side of the outer joins
    query = Listing.objects.select_for_update(of=("self",)).select_related("plugin", "review_version", "approved_version")
    if isinstance(listing_or_plugin, Listing):
        return query.get(pk=listing_or_plugin.pk)
    return query.get(plugin=listing_or_plugin)


def submit(plugin: Any, version: Any, user: Any) -> Listing:
    """Put ``version`` of ``plugin`` up for review; creates the listing if it has none yet."""
    if version.plugin_id != plugin.pk:
        raise ReviewRefused(f"{version} is not a version of {plugin.slug}.")
    with transaction.atomic():
        ensure_listing(None, plugin=plugin, manifest=version.manifest)
        listing = _locked(plugin)
        if listing.approved_version_id == version.pk and listing.review_status == ReviewStatus.APPROVED:
            raise ReviewRefused(
                f"{plugin.slug} {version.version} is approved already; upload a new version to submit it.",
                code="already_approved",
            )
        if listing.review_version_id == version.pk and listing.review_status == ReviewStatus.PENDING:
            raise ReviewRefused(f"{plugin.slug} {version.version} is waiting for review already.", code="already_pending")
        listing.review_version = version
        listing.review_status = ReviewStatus.PENDING
        listing.review_reason = ""
        listing.submitted_at = timezone.now()
        listing.reviewed_at = listing.reviewed_by = None
        if listing.status != ListingStatus.PUBLISHED:  # a published listing stays up meanwhile
            listing.status = ListingStatus.IN_REVIEW
        listing.save()
        ListingReview.objects.create(listing=listing, version=version, decision=ReviewDecision.SUBMITTED, by=user)
    return listing


def approve(listing: Listing, user: Any, reason: str = "") -> Listing:
    """Approve the version under review (the latest if none was submitted) and publish it."""
    with transaction.atomic():
        listing = _locked(listing)
        version = listing.review_version or listing.plugin.latest_version
        if version is None:
            raise ReviewRefused(f"{listing.plugin.slug} has no version to approve.")
        listing.review_version = listing.approved_version = version
        listing.review_status = ReviewStatus.APPROVED
        listing.status = ListingStatus.PUBLISHED
        _decided(listing, user, reason)
        try:
            listing.full_clean()
        except ValidationError as exc:
            raise ReviewRefused(f"{listing.plugin.slug}: {'; '.join(exc.messages)}") from None
        listing.save()
        ListingReview.objects.create(listing=listing, version=version, decision=ReviewDecision.APPROVED, reason=listing.review_reason, by=user)
    return listing


def reject(listing: Listing, user: Any, reason: str) -> Listing:
    """Reject the version under review; the reason is required, since the publisher acts on it.

    A listing published at an older approved version stays published at it; rejecting the
    approved version itself takes the listing down.
    """
    if not (reason or "").strip():
        raise ReviewRefused("Say why: the publisher reads the reason.", code="reason_required")
    with transaction.atomic():
        listing = _locked(listing)
        version = listing.review_version or listing.plugin.latest_version
        if version is None:
            raise ReviewRefused(f"{listing.plugin.slug} has no version to reject.")
        listing.review_version = version
        listing.review_status = ReviewStatus.REJECTED
        if listing.approved_version_id in (None, version.pk):
            listing.approved_version = None
            listing.status = ListingStatus.DRAFT
        _decided(listing, user, reason)
        listing.save()
        ListingReview.objects.create(listing=listing, version=version, decision=ReviewDecision.REJECTED, reason=listing.review_reason, by=user)
    return listing


def _decided(listing: Listing, user: Any, reason: str) -> None:
    listing.review_reason = (reason or "").strip()
    listing.reviewed_at = timezone.now()
    listing.reviewed_by = user


# --- receivers of plugins_core.signals ----------------------------------------------------

def listing_state(sender: Any, *, plugin: Any, **kwargs: Any) -> dict[str, Any] | None:
    """``plugins_core.signals.listing_state``: the plugin's listing as the API shows it."""
    listing = Listing.objects.select_related("review_version", "approved_version").filter(plugin=plugin).first()
    return state(listing) if listing else None


def review_requested(sender: Any, *, plugin: Any, version: Any, user: Any, **kwargs: Any) -> dict[str, Any]:
    """``plugins_core.signals.review_requested``: submit, and answer the listing's new state."""
    return state(submit(plugin, version, user))
