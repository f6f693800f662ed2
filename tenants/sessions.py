"""Which tenant a signed-in person's page acts for: the one picked in the switcher, else their first.

The marketplace's pages and this app's (members) both resolve it here: pages of this app
cannot import the marketplace, so the rule lives one layer down, for both to use.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from tenants.models import Membership, Tenant

__all__ = ["SESSION_TENANT_KEY", "PageTenant", "current_tenant", "memberships_of"]

#: Written by the marketplace's tenant switcher (POST /tenant/).
SESSION_TENANT_KEY = "marketplace.tenant_id"


@dataclass(frozen=True)
class PageTenant:
    """The membership a page acts through, and the user's others (for the switcher)."""

    membership: Membership
    memberships: list[Membership]

    @property
    def tenant(self) -> Tenant:
        return self.membership.tenant


def memberships_of(request: HttpRequest) -> list[Membership]:
    return list(
        Membership.objects.filter(user=request.user).select_related("tenant", "user").order_by("tenant__name")
    )


def current_tenant(request: HttpRequest) -> PageTenant | None:
    """The signed-in user's current tenant, or None when they belong to none."""
    memberships = memberships_of(request)
    if not memberships:
        return None
    chosen = request.session.get(SESSION_TENANT_KEY)
    membership = next((m for m in memberships if m.tenant_id == chosen), memberships[0])
    return PageTenant(membership, memberships)
