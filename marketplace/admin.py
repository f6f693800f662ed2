"""Staff curate the marketplace here: categories, listings, pricing, and the review of each
listing's submitted version (``review_view``: what it asks for and changed, its warnings and
code, and approve / reject with a reason, through ``marketplace.review``)."""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from marketplace import review
from marketplace.errors import ReviewRefused
from marketplace.models import Category, Entitlement, Listing, ListingStatus, PluginReview
from marketplace.review_page import changelog, package_files, review_facts, shown_text


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(PluginReview)
class PluginReviewAdmin(admin.ModelAdmin):
    """Tenants' ratings and reviews: staff read and remove them (a tenant's admins write them)."""

    list_display = ["plugin", "tenant", "rating", "text", "updated_at"]
    list_filter = ["rating"]
    list_select_related = ["plugin", "tenant"]
    search_fields = ["plugin__slug", "tenant__slug", "text"]
    readonly_fields = ["tenant", "plugin", "rating", "text", "author", "created_at", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PluginReview | None = None) -> bool:
        return False


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["plugin", "publisher", "version_under_review", "review_status", "status", "featured", "category",
                    "pricing_model", "price", "updated_at", "review_link"]
    list_editable = ["featured"]  # the home page's Featured row, curated from the list
    list_filter = ["status", "review_status", "featured", "pricing_model", "category"]
    list_select_related = ["plugin__publisher", "review_version", "category"]
    search_fields = ["plugin__slug", "plugin__name", "plugin__publisher__slug", "plugin__publisher__name", "summary"]
    autocomplete_fields = ["category"]
    readonly_fields = ["review_link", "review_status", "review_version", "approved_version", "review_reason",
                       "submitted_at", "reviewed_at", "reviewed_by"]
    actions = ["publish", "send_to_review", "unpublish"]

    @admin.display(description="publisher", ordering="plugin__publisher__slug")
    def publisher(self, listing: Listing) -> str:
        tenant = listing.plugin.publisher
        return f"{tenant.name} ({tenant.slug})"

    @admin.display(description="version under review", ordering="review_version__version")
    def version_under_review(self, listing: Listing) -> str:
        return listing.review_version.version if listing.review_version else "—"

    @admin.display(description="review")
    def review_link(self, listing: Listing) -> str:
        if not listing.pk:
            return "—"
        return format_html('<a href="{}">Review</a>', reverse("admin:marketplace_listing_review", args=[listing.pk]))

    def get_urls(self):
        return [
            path("<int:object_id>/review/", self.admin_site.admin_view(self.review_view),
                 name="marketplace_listing_review"),
            *super().get_urls(),
        ]

    def review_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """GET: the review page (``?file=<name>`` shows that file). POST: approve or reject."""
        listing = get_object_or_404(
            Listing.objects.select_related("plugin__publisher", "review_version", "approved_version", "reviewed_by"),
            pk=object_id,
        )
        if not self.has_view_permission(request, listing):
            raise PermissionDenied
        url = reverse("admin:marketplace_listing_review", args=[listing.pk])
        status = 200
        if request.method == "POST":
            if not self.has_change_permission(request, listing):
                raise PermissionDenied
            decision, reason = request.POST.get("decision"), request.POST.get("reason", "")
            try:
                if decision == "approve":
                    review.approve(listing, request.user, reason)
                elif decision == "reject":
                    review.reject(listing, request.user, reason)
                else:
                    raise ReviewRefused("Choose approve or reject.")
            except ReviewRefused as exc:
                messages.error(request, str(exc.detail))
                status = 400
            else:
                messages.success(request, f"{listing.plugin.slug}: {decision}d.")
                return redirect(url)
        version = listing.review_version or listing.plugin.latest_version
        files = package_files(version) if version else {}
        shown = None
        if "file" in request.GET:
            name = request.GET["file"]
            if name not in files:
                raise Http404("No such file in this package.")
            text, truncated = shown_text(files[name])
            shown = {"path": name, "size": len(files[name]), "text": text, "truncated": truncated}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review {listing.plugin.slug}",
            "opts": self.model._meta,
            "listing": listing,
            "publisher": listing.plugin.publisher,
            "version": version,
            "review": review_facts(version, listing.approved_version, files) if version else None,
            "shown": shown,
            "changelog": changelog(files),
            "history": listing.reviews.select_related("version", "by")[:20],
            "can_decide": self.has_change_permission(request, listing),
            "reason": request.POST.get("reason", "") if request.method == "POST" else "",
            "review_url": url,
        }
        return TemplateResponse(request, "admin/marketplace/listing/review.html", context, status=status)

    @admin.action(description="Publish selected listings (approve their version)")
    def publish(self, request, queryset):
        for listing in queryset.select_related("plugin"):
            try:
                review.approve(listing, request.user)
            except ReviewRefused as exc:
                messages.error(request, str(exc.detail))

    @admin.action(description="Mark selected listings as in review")
    def send_to_review(self, request, queryset):
        queryset.update(status=ListingStatus.IN_REVIEW)

    @admin.action(description="Return selected listings to draft")
    def unpublish(self, request, queryset):
        queryset.update(status=ListingStatus.DRAFT)


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    """Read-only: entitlements are the entitlement class's record (PLUGYARD_ENTITLEMENTS), not staff's to edit."""

    list_display = ["listing", "tenant", "kind", "status", "trial_ends_at", "created_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["listing__plugin", "tenant"]
    search_fields = ["listing__plugin__slug", "tenant__slug", "reference"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Entitlement | None = None) -> bool:
        return False
