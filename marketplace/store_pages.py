"""The store's own pages beside the detail page: a tenant's review of a plugin (POST), and
a published listing's icon and screenshots (GET, from ``marketplace.package_media``)."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from marketplace.listings import installable_version
from marketplace.package_media import image_response
from marketplace.ratings import PluginReviewForm, may_review, save_review
from marketplace.store import public_versions
from marketplace.views import TenantContext, _published_listing, render_page, tenant_page

__all__ = ["plugin_image", "save_plugin_review"]


@require_POST
@tenant_page
def save_plugin_review(request: HttpRequest, ctx: TenantContext, slug: str) -> HttpResponse:
    """Write or edit the tenant's review; admins only, and only of a plugin the tenant installed."""
    listing = _published_listing(slug)
    ctx.require_admin("review plugins")
    plugin = listing.plugin
    if not may_review(ctx.tenant, plugin):
        return render_page(request, ctx, "marketplace/error.html", {
            "title": "Install it before you review it",
            "message": (f"Ratings and reviews come from tenants that use a plugin; {ctx.tenant.name} has not "
                        f"installed {plugin.name}. Nothing was saved."),
            "status_code": 403,
            "action_url": reverse("marketplace:detail", args=[slug]),
            "action_label": f"Back to {plugin.name}",
        }, status=403)
    form = PluginReviewForm(request.POST)
    if not form.is_valid():
        return render_page(request, ctx, "marketplace/review_form.html",
                           {"listing": listing, "plugin": plugin, "review_form": form}, status=400)
    _review, created = save_review(ctx.tenant, plugin, request.user, form)
    messages.success(request, f"Your review of {plugin.name} is {'published' if created else 'updated'}.")
    return redirect(f"{reverse('marketplace:detail', args=[slug])}#reviews")


@require_GET
@tenant_page
def plugin_image(request: HttpRequest, ctx: TenantContext, slug: str, version: int, name: str) -> HttpResponse:
    """An icon or screenshot of a published listing's version; 404 for anything else."""
    listing = _published_listing(slug)
    found = public_versions(listing.plugin, installable_version(listing)).filter(pk=version).first()
    if found is None:
        raise Http404("This plugin has no such version.")
    return image_response(found, name)
