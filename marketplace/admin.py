"""Staff curate the marketplace here: categories, listings, pricing and review status."""
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from marketplace.models import Category, Listing, ListingStatus


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["plugin", "category", "pricing_model", "price", "currency", "status", "updated_at"]
    list_filter = ["status", "pricing_model", "category"]
    search_fields = ["plugin__slug", "plugin__name", "summary"]
    autocomplete_fields = ["category"]
    actions = ["publish", "send_to_review", "unpublish"]

    @admin.action(description="Publish selected listings")
    def publish(self, request, queryset):
        for listing in queryset.select_related("plugin"):
            listing.status = ListingStatus.PUBLISHED
            try:
                listing.full_clean()
            except ValidationError as exc:
                messages.error(request, f"{listing.plugin.slug}: {'; '.join(exc.messages)}")
                continue
            listing.save(update_fields=["status", "updated_at"])

    @admin.action(description="Mark selected listings as in review")
    def send_to_review(self, request, queryset):
        queryset.update(status=ListingStatus.IN_REVIEW)

    @admin.action(description="Return selected listings to draft")
    def unpublish(self, request, queryset):
        queryset.update(status=ListingStatus.DRAFT)
