"""Forms behind the marketplace pages: browse filters, tenant switcher, secrets, activity filters.

The installed plugin's settings form is generated from its schema (``config_form.py``).
"""
from __future__ import annotations

from typing import Any

from django import forms

from marketplace.models import Category, PricingModel
from marketplace.store import SORTS
from plugins_core.models import InvocationStatus
from plugins_core.readiness import NeededSecret
from plugins_core.secrets import MAX_SECRET_BYTES
from plugins_core.webhooks.models import DeliveryStatus

__all__ = ["ActivityFilterForm", "BrowseFilterForm", "SecretsForm"]


class BrowseFilterForm(forms.Form):
    """The query string of the browse page; an unknown category, pricing model or sort is an error."""

    q = forms.CharField(label="Search", required=False, max_length=100, strip=True)
    category = forms.ChoiceField(label="Category", required=False)
    pricing = forms.ChoiceField(
        label="Pricing",
        choices=[("", "Any price"), *PricingModel.choices],
        required=False,
    )
    sort = forms.ChoiceField(
        # Not required: no ``sort`` (or an empty one) is the default, by name.
        label="Sort by", choices=[(key, label) for key, (label, _) in SORTS.items()], required=False,
    )

    def __init__(self, data: Any = None, *, categories: list[Category]) -> None:
        # The view loads the categories once, for the choices and for validation alike.
        super().__init__(data)
        self.fields["category"].choices = [("", "All categories"), *((c.slug, c.name) for c in categories)]

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and self.is_valid() and any(self.cleaned_data.get(k) for k in ("q", "category", "pricing"))


class SecretsForm(forms.Form):
    """A write-only input per secret the plugin needs; an empty one leaves that secret as it is.

    The inputs never render a value (``render_value=False``), set or not.
    """

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, needed: list[NeededSecret], *, version_id: int, data: Any = None,
                 disabled: bool = False) -> None:
        super().__init__(data, initial={"version": version_id})
        self.needed = needed
        for secret in needed:
            self.fields[self.field_name(secret.name)] = forms.CharField(
                label=secret.name,
                help_text=secret.description,
                required=False,
                strip=False,
                disabled=disabled,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            )

    @staticmethod
    def field_name(secret: str) -> str:
        return f"secret__{secret}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for secret in self.needed:
            value = cleaned.get(self.field_name(secret.name)) or ""
            if len(value.encode()) > MAX_SECRET_BYTES:
                self.add_error(self.field_name(secret.name), f"A secret may be at most {MAX_SECRET_BYTES} bytes.")
        return cleaned

    def values(self) -> dict[str, str]:
        """The secrets typed in, by name (never logged, never shown)."""
        return {
            secret.name: self.cleaned_data[self.field_name(secret.name)]
            for secret in self.needed
            if self.cleaned_data.get(self.field_name(secret.name))
        }


ACTIVITY_KINDS = [("invocations", "Invocations"), ("jobs", "Job runs"), ("webhooks", "Webhook deliveries")]
_STATUSES = {
    "invocations": InvocationStatus.choices,
    "jobs": InvocationStatus.choices,
    "webhooks": DeliveryStatus.choices,
}


class ActivityFilterForm(forms.Form):
    """The activity list's query string: which records (``show``) and which ``status``."""

    show = forms.ChoiceField(label="Show", choices=ACTIVITY_KINDS, required=False)
    status = forms.ChoiceField(label="Status", required=False)

    def __init__(self, data: Any = None) -> None:
        super().__init__(data)
        kind = self.kind_asked(data)
        self.fields["status"].choices = [("", "Any status"), *_STATUSES[kind]]

    @staticmethod
    def kind_asked(data: Any) -> str:
        kind = (data or {}).get("show") or "invocations"
        return kind if kind in _STATUSES else "invocations"

    @property
    def kind(self) -> str:
        """The records asked for; a bad ``show`` falls back to invocations (the form says why)."""
        return self.kind_asked(self.data)
