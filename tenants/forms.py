"""Forms behind the members page: invite someone, change a role, and the header's tenant switcher."""
from __future__ import annotations

from typing import Any

from django import forms

from tenants.models import Role

__all__ = ["InviteForm", "RoleForm", "TenantSwitchForm"]


class InviteForm(forms.Form):
    # Every role is a valid answer here; whether this person may grant it is the rules'
    # call (tenants.members), which answers 403 rather than "not a valid choice".
    email = forms.EmailField(label="Email", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class TenantSwitchForm(forms.Form):
    """The header's switcher; it posts to the marketplace's switch view, which validates it."""

    tenant = forms.ChoiceField(label="Tenant")
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any = None, *, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["tenant"].choices = choices
