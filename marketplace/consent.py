"""Installing from the marketplace, with consent: what the version may do and cost, then confirm.

``GET /plugins/<slug>/install/`` is the consent page: in plain words, the permissions the
version asks for, the domains it may call, the secrets it will need and the price (with
its trial). Only a POST carrying ``confirm=yes`` and the version the page showed installs;
a POST without the confirmation goes to the consent page and installs nothing, so no
button or script elsewhere can skip it. If the listing's version changed since the page
was opened, the new one is shown again (409) instead of installing what nobody read.

The version offered is ``listings.installable_version``: the one staff approved. A paid
listing starts its entitlement (``entitlements.start_for``) in the same transaction as the
install, so neither is stored without the other.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_http_methods

from marketplace.display import plugin_facts, price_label
from marketplace.entitlements import Decision, needs_entitlement, start_for
from marketplace.listings import installable_version
from marketplace.models import Entitlement, Listing, PricingModel
from marketplace.views import TenantContext, _published_listing, render_page, tenant_page
from plugins_core import services
from plugins_core.errors import PluginConflict
from plugins_core.models import Installation, PluginVersion
from plugins_core.permission_diff import diff
from plugins_core.readiness import needed_secrets

__all__ = ["ConsentForm", "install", "trial_label"]


class ConsentForm(forms.Form):
    """What the consent page posts: the version it showed, and the explicit yes."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    confirm = forms.ChoiceField(choices=[("yes", "yes")], widget=forms.HiddenInput)


def trial_label(listing: Listing) -> str:
    """``14-day free trial, then $5.00 / month``; "" for a free listing or one without a trial."""
    if listing.pricing_model == PricingModel.FREE or not listing.price or not listing.trial_days:
        return ""
    return f"{listing.trial_days}-day free trial, then {price_label(listing)}"


def _nothing(request: HttpRequest, ctx: TenantContext, listing: Listing) -> HttpResponse:
    return render_page(request, ctx, "marketplace/error.html", {
        "title": "Nothing to install",
        "message": f"{listing.plugin.name} has no version approved for the marketplace yet; nothing was installed.",
        "status_code": 409,
    }, status=409)


def _consent_page(request: HttpRequest, ctx: TenantContext, listing: Listing, version: PluginVersion, *,
                  problem: str = "", status: int = 200) -> HttpResponse:
    installation = (
        Installation.objects.for_tenant(ctx.tenant).filter(plugin=listing.plugin).select_related("version").first()
    )
    change = diff(installation.granted_permissions, installation.approved_domains, version) if installation else None
    entitlement = None
    if needs_entitlement(ctx.tenant, listing):
        entitlement = Entitlement.objects.for_tenant(ctx.tenant).filter(listing=listing).first()
    return render_page(request, ctx, "marketplace/consent.html", {
        "listing": listing,
        "plugin": listing.plugin,
        "version": version,
        "facts": plugin_facts(version),
        "secrets": needed_secrets(version),
        "price": price_label(listing),
        "trial": trial_label(listing),
        "paid": needs_entitlement(ctx.tenant, listing),
        "entitlement": entitlement,
        "installation": installation,
        "change": change,
        "form": ConsentForm(initial={"version": version.pk, "confirm": "yes"}),
        "problem": problem,
    }, status=status)


@require_http_methods(["GET", "POST"])
@tenant_page
def install(request: HttpRequest, ctx: TenantContext, slug: str) -> HttpResponse:
    """GET: the consent page. POST with ``confirm=yes``: install the approved version, switched off."""
    listing = _published_listing(slug)
    ctx.require_admin("install plugins")
    version = installable_version(listing)
    if version is None:
        return _nothing(request, ctx, listing)
    if request.method == "GET":
        return _consent_page(request, ctx, listing, version)
    if "confirm" not in request.POST:
        # The old one-click Install, or a script: consent first, never a silent install.
        return redirect(reverse("marketplace:install", args=[slug]), permanent=False)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return _consent_page(request, ctx, listing, version, status=400,
                             problem=f"The confirmation was not understood ({problems}); nothing was installed. "
                             "Read the page and confirm again.")
    if form.cleaned_data["version"] != version.pk:
        return _consent_page(request, ctx, listing, version, status=409,
                             problem=f"{listing.plugin.name} changed since you opened this page: the version on offer "
                             f"is now {version.version}. Nothing was installed; read what it asks for and confirm again.")
    return _install(request, ctx, listing, version)


def _install(request: HttpRequest, ctx: TenantContext, listing: Listing, version: PluginVersion) -> HttpResponse:
    before = Installation.objects.for_tenant(ctx.tenant).filter(plugin=listing.plugin).first()
    try:
        with transaction.atomic():
            installation = services.install_version(ctx.tenant, request.user, version)
            decision = start_for(ctx.tenant, listing, request.user)
    except PluginConflict:
        return _slug_clash(request, ctx, listing)
    except IntegrityError:
        # Someone else in the tenant installed it at the same moment; theirs stands.
        installation = Installation.objects.for_tenant(ctx.tenant).get(plugin=listing.plugin)
        decision = None
    name = f"{listing.plugin.name} {installation.version.version}"
    if before is None:
        messages.success(request, f"Installed {name}. It is switched off until you enable it on its page.")
    elif before.version_id != installation.version_id:
        messages.success(request, f"Updated {listing.plugin.name} to {installation.version.version}.")
    else:
        messages.info(request, f"{name} was already installed.")
    _say_entitlement(request, decision)
    return redirect(reverse("marketplace:installation", args=[installation.pk]))


def _say_entitlement(request: HttpRequest, decision: Decision | None) -> None:
    if decision is None:
        return
    if not decision.allowed:
        messages.warning(request, f"It cannot be enabled yet: {decision.reason}")
    elif decision.trial_ends_at is not None:
        ends = dateformat.format(timezone.localtime(decision.trial_ends_at), "M j, Y")
        messages.info(request, f"Your free trial runs until {ends}.")


def _slug_clash(request: HttpRequest, ctx: TenantContext, listing: Listing) -> HttpResponse:
    """409: the tenant has another publisher's plugin of this slug, and routes are per slug."""
    slug = listing.plugin.slug
    other = (
        Installation.objects.for_tenant(ctx.tenant).filter(plugin__slug=slug).exclude(plugin=listing.plugin)
        .select_related("plugin", "plugin__publisher").first()
    )
    message = (
        f"{ctx.tenant.name} already has a plugin called “{slug}” installed"
        + (f": {other.plugin.name}, published by {other.plugin.publisher.name}" if other else "")
        + f". A tenant installs one plugin of each name, because its routes live under /ext/{slug}/. "
        f"To install {listing.plugin.name}, uninstall that one first; nothing was installed."
    )
    context: dict[str, Any] = {"title": "Another plugin has this name", "message": message, "status_code": 409}
    if other is not None:
        context |= {"action_url": reverse("marketplace:installation", args=[other.pk]),
                    "action_label": f"Open {other.plugin.name}"}
    return render_page(request, ctx, "marketplace/error.html", context, status=409)
