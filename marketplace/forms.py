"""Forms behind the marketplace pages: the browse filters and the tenant switcher."""
from __future__ import annotations

from typing import Any

from django import forms

from marketplace.models import Category, PricingModel

__all__ = ["BrowseFilterForm", "TenantSwitchForm"]


class BrowseFilterForm(forms.Form):
    """The query string of the browse page; an unknown category or pricing model is an error."""

    q = forms.CharField(label="Search", required=False, max_length=100, strip=True)
    category = forms.ChoiceField(label="Category", required=False)
    pricing = forms.ChoiceField(
        label="Pricing",
        choices=[("", "Any price"), *PricingModel.choices],
        required=False,
    )

    def __init__(self, data: Any = None, *, categories: list[Category]) -> None:
        # The view loads the categories once, for the choices and for validation alike.
        super().__init__(data)
        self.fields["category"].choices = [("", "All categories"), *((c.slug, c.name) for c in categories)]

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and self.is_valid() and any(self.cleaned_data.get(k) for k in ("q", "category", "pricing"))


class TenantSwitchForm(forms.Form):
    """Pick one of the signed-in user's tenants by slug; any other slug is refused."""

    tenant = forms.ChoiceField(label="Tenant")
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any = None, *, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["tenant"].choices = choices
