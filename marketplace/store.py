"""The store's figures on listings: install counts, ratings, the icon — as annotations, so a
page of cards is one query whatever its size — and the sorts and version history built on them.

Each figure is a correlated subquery rather than a JOIN with ``Count``: joining installations
and reviews together would multiply the rows (and the counts) by each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Avg, Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from marketplace.changelog import render_changelog, section_for
from marketplace.models import Listing, ListingStatus, PackageMedia, PluginReview
from marketplace.package_media import media_for, record_media
from marketplace.ratings import PluginReviewForm, may_review, rating_summary
from plugins_core.models import Installation, Plugin, PluginVersion
from tenants.models import Tenant

__all__ = ["SORTS", "VersionEntry", "detail_extras", "featured", "ordered", "public_versions", "sorted_page",
           "version_history", "with_store_figures"]

#: The browse page's sorts: value, label, ordering (ties broken by name, then pk, so pages are stable).
SORTS: dict[str, tuple[str, list]] = {
    "name": ("Name", ["plugin__name", "pk"]),  # first: the default, and the select's first option
    "popular": ("Most installed", [F("install_count").desc(), F("rating_average").desc(nulls_last=True),
                                   "plugin__name", "pk"]),
    "newest": ("Newest", ["-plugin__created_at", "-pk"]),
    "rating": ("Highest rated", [F("rating_average").desc(nulls_last=True), F("rating_count").desc(),
                                 "plugin__name", "pk"]),
}
DEFAULT_SORT = "name"


def _count(queryset: QuerySet) -> Subquery:
    return Coalesce(
        Subquery(queryset.order_by().values("plugin").annotate(n=Count("pk")).values("n")[:1],
                 output_field=IntegerField()),
        Value(0),
    )


def _with_popularity(listings: QuerySet[Listing]) -> QuerySet[Listing]:
    reviews = PluginReview.objects.filter(plugin=OuterRef("plugin"))
    return listings.annotate(
        # install_once_per_tenant: counting installations counts tenants.
        install_count=_count(Installation.objects.filter(plugin=OuterRef("plugin"))),
        rating_count=_count(reviews),
        rating_average=Subquery(reviews.order_by().values("plugin").annotate(a=Avg("rating")).values("a")[:1]),
    )


def with_store_figures(listings: QuerySet[Listing]) -> QuerySet[Listing]:
    """``install_count`` (tenants with an installation), ``rating_average``, ``rating_count``,
    ``card_version_id`` (the approved version, else the latest) and ``icon`` (its path in
    that version's package, or None)."""
    latest = PluginVersion.objects.filter(plugin=OuterRef("plugin")).order_by("-created_at", "-pk").values("pk")[:1]
    return _with_popularity(listings).annotate(
        card_version_id=Coalesce(F("approved_version_id"), Subquery(latest)),
        icon=Subquery(PackageMedia.objects.filter(version_id=OuterRef("card_version_id")).values("icon")[:1]),
    )


def ordered(listings: QuerySet[Listing], sort: str | None) -> QuerySet[Listing]:
    return listings.order_by(*SORTS[sort or DEFAULT_SORT][1])


def sorted_page(listings: QuerySet[Listing], sort: str | None, number: Any, size: int) -> Page:
    """One page of cards, in two queries whatever the page size (and a count).

    The first orders the ids of every matching listing, computing only what the sort needs
    (installs and ratings for popular and rating; nothing for name and newest); the second
    reads the page's rows with all their figures. Computing every figure of 10,000 rows to
    show 24 made a deep page several times slower (bench/browse_bench.py).
    """
    ranked = _with_popularity(listings) if sort in ("popular", "rating") else listings
    page = Paginator(ordered(ranked, sort).values_list("pk", flat=True), size).get_page(number)
    ids = list(page.object_list)
    rows = with_store_figures(Listing.objects.filter(pk__in=ids)).select_related("plugin", "category").in_bulk()
    page.object_list = [rows[pk] for pk in ids if pk in rows]
    return page


def featured(limit: int = 6) -> list[Listing]:
    """Published listings staff marked featured, most installed first."""
    listings = Listing.objects.filter(status=ListingStatus.PUBLISHED, featured=True).select_related("plugin", "category")
    return list(ordered(with_store_figures(listings), "popular")[:limit])


@dataclass(frozen=True)
class VersionEntry:
    """One row of a plugin's version history. Issue 12 adds its signature status and how
    many tenants run it here (and a column in ``_versions.html``)."""

    version: PluginVersion
    changes: str  # this version's CHANGELOG entry (markdown), or ""


def public_versions(plugin: Plugin, shown: PluginVersion | None) -> QuerySet[PluginVersion]:
    """The versions tenants may see: up to the one the listing offers (``shown``); a newer
    upload still in review, or rejected, is not announced (nor are its images served)."""
    if shown is None:
        return PluginVersion.objects.none()
    return PluginVersion.objects.filter(plugin=plugin, created_at__lte=shown.created_at)


def version_history(plugin: Plugin, shown: PluginVersion | None) -> list[VersionEntry]:
    """Every public version, newest first, each with its own entry of its own package's changelog."""
    versions = list(public_versions(plugin, shown).select_related("store_media").order_by("-created_at", "-pk"))
    entries = []
    for version in versions:
        try:
            media = version.store_media
        except PackageMedia.DoesNotExist:  # uploaded before the store looked at packages; once
            media = record_media(version)
        entries.append(VersionEntry(version, section_for(media.changelog, version.version)))
    return entries


#: How many reviews the detail page lists (newest first); the count and average cover all.
REVIEWS_SHOWN = 20


def detail_extras(tenant: Tenant, listing: Listing, version: PluginVersion | None, *, can_manage: bool) -> dict[str, Any]:
    """What the detail page adds for the store: figures, reviews and the tenant's form, media,
    changelog and version history."""
    plugin = listing.plugin
    own = PluginReview.objects.for_tenant(tenant).filter(plugin=plugin).first()
    installed = may_review(tenant, plugin)
    media = media_for(version) if version else None
    return {
        "install_count": Installation.objects.filter(plugin=plugin).count(),
        "ratings": rating_summary(plugin),
        "reviews": list(PluginReview.objects.filter(plugin=plugin).order_by("-updated_at", "-pk")[:REVIEWS_SHOWN]),
        "own_review": own,
        "may_review": installed,
        "review_form": PluginReviewForm.for_review(own) if installed and can_manage else None,
        "media": media,
        "changelog_html": render_changelog(media.changelog) if media and media.changelog else "",
        "versions": version_history(plugin, version),
    }
