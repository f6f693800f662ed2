"""What tenants browse: categories, and a curated listing with pricing for each plugin.

A listing has two states: ``status`` says whether tenants see it (draft, in review,
published); ``review_status`` says what staff decided about the version the publisher last
submitted (``marketplace.review``). They differ on purpose: a published listing stays
published while its next version waits for review.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from tenants.scoping import TenantOwned

__all__ = ["Category", "Entitlement", "EntitlementKind", "EntitlementStatus", "Listing", "ListingReview",
           "ListingStatus", "PackageMedia", "PluginReview", "PricingModel", "ReviewDecision", "ReviewStatus"]


class Category(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class PricingModel(models.TextChoices):
    FREE = "free", "Free"
    ONE_TIME = "one-time", "One-time purchase"
    SUBSCRIPTION = "subscription", "Subscription"


class ListingStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"


class ReviewStatus(models.TextChoices):
    """Staff's answer about the version the publisher last submitted (what the API shows)."""

    NOT_SUBMITTED = "not_submitted", "Not submitted"
    PENDING = "pending_review", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Listing(models.Model):
    plugin = models.OneToOneField("plugins_core.Plugin", on_delete=models.CASCADE, related_name="listing")
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="listings")
    summary = models.CharField(max_length=300, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    pricing_model = models.CharField(max_length=16, choices=PricingModel.choices, default=PricingModel.FREE)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)])
    currency = models.CharField(
        max_length=3, default="USD", validators=[RegexValidator(r"^[A-Z]{3}$", "Use a 3-letter ISO 4217 code.")]
    )
    trial_days = models.PositiveSmallIntegerField(
        default=14, validators=[MaxValueValidator(365)],
        help_text="Days a tenant may use a paid listing before paying (0: no trial). "
        "The entitlement class (PLUGYARD_ENTITLEMENTS) decides what a trial means.",
    )
    status = models.CharField(max_length=16, choices=ListingStatus.choices, default=ListingStatus.DRAFT)
    review_status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.NOT_SUBMITTED)
    review_version = models.ForeignKey(
        "plugins_core.PluginVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The version submitted for review (or last decided).",
    )
    approved_version = models.ForeignKey(
        "plugins_core.PluginVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The last version staff approved: what a review compares against.",
    )
    review_reason = models.TextField(blank=True, help_text="Why staff decided so; the publisher reads it.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    featured = models.BooleanField(default=False, help_text="Shown in the Featured row of the marketplace home page.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["plugin__slug"]
        indexes = [models.Index(fields=["status", "featured"], name="listing_status_featured")]

    def __str__(self) -> str:
        return f"{self.plugin.slug} ({self.get_status_display()})"

    def clean(self) -> None:
        if self.status == ListingStatus.PUBLISHED and self.plugin_id:
            others = Listing.objects.filter(status=ListingStatus.PUBLISHED, plugin__slug=self.plugin.slug).exclude(pk=self.pk)
            if others.exists():
                raise ValidationError({"status": f"Another publisher's {self.plugin.slug!r} is published already."})
        if self.pricing_model == PricingModel.FREE and self.price:
            raise ValidationError({"price": "A free listing has no price; set it to 0."})
        if self.pricing_model != PricingModel.FREE and not self.price:
            raise ValidationError({"price": f"A {self.get_pricing_model_display().lower()} listing needs a price."})


class ReviewDecision(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ListingReview(models.Model):
    """One step of a listing's review, kept for good: who submitted or decided, when, why."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="reviews")
    version = models.ForeignKey("plugins_core.PluginVersion", null=True, on_delete=models.SET_NULL, related_name="+")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    reason = models.TextField(blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.listing.plugin.slug}: {self.get_decision_display()}"


#: A tenant's review text is a short note, not an essay: the card and the list stay readable.
REVIEW_TEXT_MAX = 1000


class PluginReview(TenantOwned):
    """A tenant's rating (1–5 stars) and short review of a plugin it installed: one per tenant,
    which its admins edit (``marketplace.ratings``). Not staff's ``ListingReview``."""

    plugin = models.ForeignKey("plugins_core.Plugin", on_delete=models.CASCADE, related_name="tenant_reviews")
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    text = models.CharField(max_length=REVIEW_TEXT_MAX, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "plugin"], name="plugin_review_once_per_tenant"),
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="plugin_review_rating_1_to_5"),
        ]
        # The ratings subqueries of the browse page (average, count) read by plugin.
        indexes = [models.Index(fields=["plugin", "rating"], name="plugin_review_plugin_rating")]

    def __str__(self) -> str:
        return f"{self.plugin.slug}: {self.rating}/5 from {self.tenant.slug}"


class PackageMedia(models.Model):
    """What the store shows from one version's package, found once at upload
    (``marketplace.package_media``): its icon and screenshots under ``static/`` (names in
    the package, each checked for type and size) and its CHANGELOG text."""

    version = models.OneToOneField("plugins_core.PluginVersion", on_delete=models.CASCADE, related_name="store_media")
    icon = models.CharField(max_length=255, blank=True, help_text="The icon's path in the package, or blank.")
    screenshots = models.JSONField(default=list, blank=True, help_text="Screenshot paths in the package, in order.")
    changelog = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"media of {self.version}"


class EntitlementKind(models.TextChoices):
    TRIAL = "trial", "Trial"
    PURCHASE = "purchase", "Purchase"
    SUBSCRIPTION = "subscription", "Subscription"


class EntitlementStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    REFUSED = "refused", "Refused"


class Entitlement(TenantOwned):
    """A tenant's right to use a paid listing, as the entitlement class recorded it
    (``marketplace.entitlements``): a trial and its end, or the host's purchase."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="entitlements")
    kind = models.CharField(max_length=16, choices=EntitlementKind.choices)
    status = models.CharField(max_length=16, choices=EntitlementStatus.choices, default=EntitlementStatus.ACTIVE)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True, help_text="Why it was refused or ended, in words a tenant reads.")
    reference = models.CharField(max_length=200, blank=True, help_text="The host product's own id for it (an order, a subscription).")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["tenant", "listing"], name="entitlement_once_per_tenant")]

    def __str__(self) -> str:
        return f"{self.listing.plugin.slug} for {self.tenant.slug}: {self.get_kind_display()} ({self.get_status_display()})"
