"""Paid listings: the one interface between the marketplace and the host product's billing.

The marketplace never takes payment itself. Whether a tenant may use a paid listing is the
answer of one class the host product names in ``settings.PLUGYARD_ENTITLEMENTS`` (a dotted
path), a subclass of :class:`Entitlements` with two methods:

* ``start(tenant, listing, user)``: called when a tenant installs the listing from the
  marketplace (again on each install, so it must be idempotent): record a trial, open a
  checkout, or refuse.
* ``check(tenant, listing)``: called whenever the installation's readiness is read
  (``plugins_core.readiness``, so before every enable, in the API and on the page).

Both answer a :class:`Decision`. Free listings and a publisher's own plugin never reach the
class: they need nothing. The default, :class:`TrialEntitlements`, records a trial of the
listing's ``trial_days`` as an :class:`~marketplace.models.Entitlement` row and refuses
once it has ended (or when the listing has no trial), since it has no way to take payment.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import dateformat, timezone
from django.utils.module_loading import import_string

from marketplace.models import (
    Entitlement,
    EntitlementKind,
    EntitlementStatus,
    Listing,
    PricingModel,
)
from plugins_core.models import Installation
from plugins_core.readiness import Missing

__all__ = [
    "DEFAULT_ENTITLEMENTS",
    "FIELD",
    "Decision",
    "Entitlements",
    "TrialEntitlements",
    "check_installation",
    "decision_for",
    "get_entitlements",
    "needs_entitlement",
    "start_for",
]

DEFAULT_ENTITLEMENTS = "marketplace.entitlements.TrialEntitlements"
SETTING = "PLUGYARD_ENTITLEMENTS"
#: The field path a refusal is reported under, in the API's 400 and on the page.
FIELD = "entitlement"


@dataclass(frozen=True)
class Decision:
    """An entitlement class's answer. ``reason`` is shown to the tenant's admins as is."""

    allowed: bool
    code: str = "entitled"
    reason: str = ""
    trial_ends_at: datetime | None = None

    @classmethod
    def allow(cls, *, trial_ends_at: datetime | None = None, code: str = "entitled") -> Decision:
        return cls(True, code, "", trial_ends_at)

    @classmethod
    def refuse(cls, reason: str, *, code: str = "not_entitled", trial_ends_at: datetime | None = None) -> Decision:
        return cls(False, code, reason, trial_ends_at)


class Entitlements:
    """The interface the host product implements; see the module's docstring."""

    def start(self, tenant: Any, listing: Listing, user: Any) -> Decision:
        raise NotImplementedError

    def check(self, tenant: Any, listing: Listing) -> Decision:
        raise NotImplementedError


class TrialEntitlements(Entitlements):
    """The default: a trial of ``listing.trial_days`` from the first install, then refused."""

    def start(self, tenant: Any, listing: Listing, user: Any) -> Decision:
        entitlement = Entitlement.objects.for_tenant(tenant).filter(listing=listing).first()
        if entitlement is None:
            if listing.trial_days:
                entitlement = Entitlement(
                    tenant=tenant, listing=listing, kind=EntitlementKind.TRIAL, started_by=user,
                    trial_ends_at=timezone.now() + timedelta(days=listing.trial_days),
                )
            else:
                entitlement = Entitlement(
                    tenant=tenant, listing=listing, kind=EntitlementKind.PURCHASE, started_by=user,
                    status=EntitlementStatus.REFUSED, reason=_no_payment(listing),
                )
            try:
                with transaction.atomic():
                    entitlement.save()
            except IntegrityError:  # another admin's install recorded it a moment ago
                entitlement = Entitlement.objects.for_tenant(tenant).get(listing=listing)
        return self._decide(entitlement)

    def check(self, tenant: Any, listing: Listing) -> Decision:
        entitlement = Entitlement.objects.for_tenant(tenant).filter(listing=listing).first()
        if entitlement is None:
            return Decision.refuse(
                f"No trial or purchase of {listing.plugin.name} is recorded for {tenant.name}. "
                "Install it from its marketplace page to start one.",
                code="no_entitlement",
            )
        return self._decide(entitlement)

    @staticmethod
    def _decide(entitlement: Entitlement) -> Decision:
        ends = entitlement.trial_ends_at
        if entitlement.status != EntitlementStatus.ACTIVE:
            return Decision.refuse(entitlement.reason or "Its entitlement was refused.", code=entitlement.status,
                                   trial_ends_at=ends)
        if entitlement.kind == EntitlementKind.TRIAL and ends is not None and ends <= timezone.now():
            return Decision.refuse(
                f"Its trial ended on {dateformat.format(timezone.localtime(ends), 'M j, Y')}. "
                f"{_no_payment(entitlement.listing)}",
                code="trial_ended", trial_ends_at=ends,
            )
        return Decision.allow(trial_ends_at=ends, code="trial" if entitlement.kind == EntitlementKind.TRIAL else "entitled")


def _no_payment(listing: Listing) -> str:
    return (f"{listing.plugin.name} is a paid plugin and this marketplace takes no payments itself; "
            "ask the product's billing team to enable it for you.")


@lru_cache(maxsize=8)
def _load(path: str) -> Entitlements:
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{SETTING} = {path!r} cannot be imported: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Entitlements)):
        raise ImproperlyConfigured(
            f"{SETTING} = {path!r} is not a subclass of marketplace.entitlements.Entitlements."
        )
    return cls()


def get_entitlements() -> Entitlements:
    """The host's entitlement class (``settings.PLUGYARD_ENTITLEMENTS``), one instance per path."""
    return _load(getattr(settings, SETTING, DEFAULT_ENTITLEMENTS) or DEFAULT_ENTITLEMENTS)


def check_setting(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A system check: a wrong PLUGYARD_ENTITLEMENTS stops ``manage.py`` at start, not a page later."""
    try:
        get_entitlements()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="marketplace.E001",
                             hint=f"Name a subclass of marketplace.entitlements.Entitlements, or unset {SETTING}.")]
    return []


def needs_entitlement(tenant: Any, listing: Listing | None) -> bool:
    """Free listings, unlisted plugins and a publisher's own plugin need nothing."""
    if listing is None or listing.pricing_model == PricingModel.FREE or not listing.price:
        return False
    return listing.plugin.publisher_id != tenant.pk


def start_for(tenant: Any, listing: Listing, user: Any) -> Decision | None:
    """On install from the marketplace: the class's ``start``, or None when nothing is needed."""
    return get_entitlements().start(tenant, listing, user) if needs_entitlement(tenant, listing) else None


def decision_for(installation: Installation) -> Decision | None:
    """The class's ``check`` for an installation's listing, or None when it needs nothing."""
    listing = getattr(installation.plugin, "listing", None)
    if not needs_entitlement(installation.tenant, listing):
        return None
    return get_entitlements().check(installation.tenant, listing)


def check_installation(installation: Installation) -> list[Missing]:
    """``plugins_core.readiness`` check (registered in ``MarketplaceConfig.ready``)."""
    decision = decision_for(installation)
    if decision is None or decision.allowed:
        return []
    return [Missing(FIELD, decision.code, decision.reason or "Its entitlement was refused.")]
