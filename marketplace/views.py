"""Marketplace pages: browse, plugin detail, the tenant's installed plugins.

Installing, behind its consent page, is in ``consent.py``; one installed plugin's own page
(settings, secrets, switch, uninstall, activity) in ``installation_pages.py``; both on the
tenant context defined here.

Pages are for people signed in with a session. Each request acts for one tenant: the one
picked in the tenant switcher (kept in the session) among the user's memberships, or their
first. Tenant rows are read only through ``Model.objects.for_tenant``, so another tenant's
installation is not there at all (404); installing and switching plugins need the admin
role (403 with a sentence saying who can).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from marketplace.display import plugin_facts, price_label
from marketplace.forms import BrowseFilterForm
from marketplace.listings import installable_version
from marketplace.models import Category, Listing, ListingStatus
from marketplace.store import detail_extras, featured, sorted_page
from plugins_core.models import Installation, PluginVersion
from tenants.forms import TenantSwitchForm
from tenants.models import Role
from tenants.sessions import SESSION_TENANT_KEY, PageTenant, current_tenant, memberships_of

__all__ = ["TenantContext", "browse", "detail", "installed", "render_page", "switch_tenant", "tenant_page"]

PAGE_SIZE = 24
LOGIN_URL = "marketplace:login"


# --------------------------------------------------------------------------- tenant context


@dataclass(frozen=True)
class TenantContext(PageTenant):
    """``tenants.sessions.PageTenant`` (the membership a page acts through, and the user's
    others for the switcher), with what the marketplace's actions ask of it."""

    @property
    def can_manage(self) -> bool:
        return self.membership.has_role(Role.ADMIN)

    def require_admin(self, action: str) -> None:
        if not self.can_manage:
            raise PermissionDenied(
                f"To {action} you need the admin or owner role in {self.tenant.name}; "
                f"you are a {self.membership.get_role_display().lower()}. Ask one of its admins."
            )


def tenant_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign-in required; call ``view(request, ctx, ...)`` with the request's TenantContext."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        page = current_tenant(request)
        if page is None:
            raise PermissionDenied(
                "Your account does not belong to any tenant yet. Ask a tenant's owner to add you."
            )
        return view(request, TenantContext(page.membership, page.memberships), *args, **kwargs)

    return login_required(wrapper, login_url=LOGIN_URL)


def render_page(request: HttpRequest, ctx: TenantContext, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    switcher = None
    if len(ctx.memberships) > 1:
        switcher = TenantSwitchForm(
            initial={"tenant": ctx.tenant.slug, "next": request.get_full_path()},
            choices=[(m.tenant.slug, m.tenant.name) for m in ctx.memberships],
        )
    return render(request, template, {"tenant_ctx": ctx, "tenant_switcher": switcher, **context}, status=status)


@login_required(login_url=LOGIN_URL)
@require_POST
def switch_tenant(request: HttpRequest) -> HttpResponse:
    """Act for another of the user's tenants from now on (kept in the session)."""
    memberships = memberships_of(request)
    form = TenantSwitchForm(request.POST, choices=[(m.tenant.slug, m.tenant.name) for m in memberships])
    if not form.is_valid():
        return render(
            request,
            "marketplace/error.html",
            {"title": "Unknown tenant", "message": "You can only switch to a tenant you are a member of.", "status_code": 400},
            status=400,
        )
    membership = next(m for m in memberships if m.tenant.slug == form.cleaned_data["tenant"])
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    messages.info(request, f"You are now working in {membership.tenant.name}.")
    target = form.cleaned_data.get("next") or ""
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    # Only a path of this site: redirect() would take a bare word ("page") for a URL name
    # and answer 500 when no view has it.
    if not (safe and target.startswith("/")):
        target = reverse("marketplace:browse")
    return HttpResponseRedirect(target)


# --------------------------------------------------------------------------- browse


@dataclass(frozen=True)
class ListingCard:
    listing: Listing
    price: str
    installation: Installation | None


def _published() -> QuerySet[Listing]:
    return Listing.objects.filter(status=ListingStatus.PUBLISHED)


def _search(listings: QuerySet[Listing], filters: dict[str, Any]) -> QuerySet[Listing]:
    if filters.get("q"):
        text = filters["q"]
        listings = listings.filter(
            Q(plugin__name__icontains=text)
            | Q(plugin__slug__icontains=text)
            | Q(summary__icontains=text)
            # keywords is a JSON list; matching its text finds a keyword or part of one.
            | Q(keywords__icontains=text)
        )
    if filters.get("category"):
        listings = listings.filter(category__slug=filters["category"])
    if filters.get("pricing"):
        listings = listings.filter(pricing_model=filters["pricing"])
    return listings


@require_GET
@tenant_page
def browse(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """Published listings, searchable by text, filtered by category and pricing model, sorted
    (``marketplace.store``); the home page (no filter, first page) leads with the featured ones."""
    categories = list(Category.objects.order_by("name"))
    form = BrowseFilterForm(request.GET, categories=categories)
    listings, status, sort = _published(), 200, None
    if form.is_valid():
        listings, sort = _search(listings, form.cleaned_data), form.cleaned_data.get("sort")
    else:
        listings, status = listings.none(), 400
    page = sorted_page(listings, sort, request.GET.get("page"), PAGE_SIZE)
    installed = {
        installation.plugin_id: installation
        for installation in Installation.objects.for_tenant(ctx.tenant).filter(
            plugin_id__in=[listing.plugin_id for listing in page]
        )
    }
    cards = [ListingCard(listing, price_label(listing), installed.get(listing.plugin_id)) for listing in page]
    home = status == 200 and not form.is_filtered and page.number == 1
    featured_cards = [ListingCard(listing, price_label(listing), None) for listing in featured()] if home else []
    return render_page(
        request,
        ctx,
        "marketplace/browse.html",
        {"form": form, "cards": cards, "page": page, "filtered": form.is_filtered, "featured": featured_cards},
        status=status,
    )


# --------------------------------------------------------------------------- detail, install


def _published_listing(slug: str) -> Listing:
    listing = (
        _published().select_related("plugin", "plugin__publisher", "category").filter(plugin__slug=slug).first()
    )
    if listing is None:
        raise Http404(
            f"No published plugin is called “{slug}”. It may have been withdrawn from the marketplace; "
            "browse the marketplace for the plugins you can install."
        )
    return listing


@require_GET
@tenant_page
def detail(request: HttpRequest, ctx: TenantContext, slug: str) -> HttpResponse:
    """A listing: what its approved version does and asks for, its price, and Install."""
    listing = _published_listing(slug)
    version = installable_version(listing)
    installation = (
        Installation.objects.for_tenant(ctx.tenant).filter(plugin=listing.plugin).select_related("version").first()
    )
    return render_page(
        request,
        ctx,
        "marketplace/detail.html",
        {
            "listing": listing,
            "plugin": listing.plugin,
            "price": price_label(listing),
            "version": version,
            "facts": plugin_facts(version) if version else None,
            "installation": installation,
            "update_available": bool(installation and version and installation.version_id != version.pk),
            **detail_extras(ctx.tenant, listing, version, can_manage=ctx.can_manage),
        },
    )


# --------------------------------------------------------------------------- installed


@require_GET
@tenant_page
def installed(request: HttpRequest, ctx: TenantContext) -> HttpResponse:
    """The tenant's installations, with their state and, for admins, enable/disable."""
    latest = PluginVersion.objects.filter(plugin=OuterRef("plugin")).order_by("-created_at").values("version")[:1]
    installations = (
        Installation.objects.for_tenant(ctx.tenant)
        .select_related("plugin", "version", "plugin__listing")
        .annotate(latest_version=Subquery(latest))
        .order_by("plugin__name", "pk")
    )
    return render_page(
        request,
        ctx,
        "marketplace/installed.html",
        {"installations": installations, "published": ListingStatus.PUBLISHED},
    )
