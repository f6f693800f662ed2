"""Tenants' ratings and short reviews of the plugins they installed (``PluginReview``).

One review per tenant per plugin, which the tenant's admins write and edit on the plugin's
detail page; every signed-in member of any tenant reads them. Only a tenant that has the
plugin installed may review it. Not to be confused with staff's review of a listing
(``marketplace.review``).
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Avg, Count

from marketplace.models import REVIEW_TEXT_MAX, PluginReview
from plugins_core.models import Installation, Plugin
from tenants.models import Tenant

__all__ = ["RATING_CHOICES", "PluginReviewForm", "RatingSummary", "may_review", "rating_summary", "save_review"]

RATING_CHOICES = [(n, f"{n} star{'s' if n > 1 else ''}") for n in range(5, 0, -1)]


class PluginReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="Rating", choices=RATING_CHOICES, coerce=int, widget=forms.RadioSelect,
        error_messages={"required": "Choose from 1 to 5 stars.",
                        "invalid_choice": "Choose from 1 to 5 stars; %(value)s is not one of them."},
    )
    text = forms.CharField(
        label="Review", required=False, max_length=REVIEW_TEXT_MAX, strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": REVIEW_TEXT_MAX}),
        help_text=f"Optional; at most {REVIEW_TEXT_MAX} characters. Other tenants read it.",
    )

    @classmethod
    def for_review(cls, review: PluginReview | None, data: Any = None) -> PluginReviewForm:
        initial = {"rating": review.rating, "text": review.text} if review else None
        return cls(data, initial=initial)


class RatingSummary:
    """Average and count of a plugin's ratings (average None without any)."""

    def __init__(self, average: float | None, count: int) -> None:
        self.average = round(average, 1) if average is not None else None
        self.count = count


def rating_summary(plugin: Plugin) -> RatingSummary:
    row = PluginReview.objects.filter(plugin=plugin).aggregate(average=Avg("rating"), count=Count("pk"))
    return RatingSummary(row["average"], row["count"])


def may_review(tenant: Tenant, plugin: Plugin) -> bool:
    """A tenant reviews what it has installed (enabled or not)."""
    return Installation.objects.for_tenant(tenant).filter(plugin=plugin).exists()


def save_review(tenant: Tenant, plugin: Plugin, user: Any, form: PluginReviewForm) -> tuple[PluginReview, bool]:
    """Create or replace the tenant's review from a valid form; ``(review, created)``."""
    return PluginReview.objects.for_tenant(tenant).update_or_create(
        tenant=tenant, plugin=plugin,
        defaults={"rating": form.cleaned_data["rating"], "text": form.cleaned_data["text"], "author": user},
    )
