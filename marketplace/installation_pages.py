"""One installed plugin's page: its settings and secrets, enable/disable, uninstall, its activity.

Everyone in the tenant sees the page; every action (each POST, and the uninstall
confirmation) needs the admin role, else 403 with the reason. Another tenant's
installation, or one uninstalled since, is not found (404) with a sentence saying so.
What the page changes goes through ``plugins_core.services``: the settings through the
config validator the API uses, enabling through the readiness rule the API's enable
answers with, uninstalling through the one uninstall.

Secret values only travel one way: typed into a password input, posted, encrypted. The
page says "set" or "not set"; the views are marked so Django's error reports mask the
posted values and their locals. Each set secret has its own Remove button (a POST of its
name only, never a value).

A version that asks for more than was granted (``permission_diff``) keeps running with
the grant; the page shows the difference and admins approve it with the one consent path,
``services.enable``. A paid listing's entitlement (``marketplace.entitlements``) is shown
with its trial's end, and a refused one is in the readiness list like a missing setting.
"""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.activity import activity_page
from marketplace.config_form import ConfigForm
from marketplace.entitlements import FIELD as ENTITLEMENT_FIELD
from marketplace.entitlements import decision_for
from marketplace.forms import ActivityFilterForm, SecretsForm
from marketplace.models import Entitlement, ListingStatus
from marketplace.views import TenantContext, render_page, tenant_page
from plugins_core import secrets, services
from plugins_core.errors import InvalidConfig, NotReady
from plugins_core.models import Installation, PluginVersion
from plugins_core.readiness import Missing
from plugins_core.secrets import SECRET_NAME_RE

__all__ = [
    "disable_installation",
    "enable_installation",
    "installation_page",
    "remove_secret",
    "save_secrets",
    "save_settings",
    "uninstall_installation",
]


def _installation(ctx: TenantContext, pk: int) -> Installation:
    installation = (
        Installation.objects.for_tenant(ctx.tenant)
        .select_related("tenant", "plugin", "plugin__publisher", "plugin__listing", "version")
        .filter(pk=pk)
        .first()
    )
    if installation is None:
        raise Http404(
            f"{ctx.tenant.name} has no installation number {pk}. It may have been uninstalled; "
            "the Installed page lists the plugins you have."
        )
    return installation


def _page_url(installation: Installation, anchor: str = "") -> str:
    url = reverse("marketplace:installation", args=[installation.pk])
    return f"{url}#{anchor}" if anchor else url


def _anchor(missing: Missing) -> str:
    if missing.field == ENTITLEMENT_FIELD:
        return "entitlement"
    return f"setting-{missing.name}" if missing.kind == "config" else f"secret-{missing.name}"


def _pending(installation: Installation) -> Any:
    """The grant difference worth asking about: only once something was granted or it runs
    (before the first enable, the Enable button itself lists what it grants)."""
    change = services.pending_grant(installation)
    granted_before = installation.enabled or installation.granted_permissions or installation.approved_domains
    return change if granted_before and not change.empty else None


def _render_installation(
    request: HttpRequest,
    ctx: TenantContext,
    installation: Installation,
    *,
    config_form: ConfigForm | None = None,
    secrets_form: SecretsForm | None = None,
    refused: list[Missing] | None = None,
    status: int = 200,
) -> HttpResponse:
    readiness = services.installation_readiness(installation)
    disabled = not ctx.can_manage
    if config_form is None:
        config_form = ConfigForm(installation.version.config_schema, installation.config,
                                 version_id=installation.version_id, disabled=disabled)
    if secrets_form is None:
        secrets_form = SecretsForm(readiness.secrets, version_id=installation.version_id, disabled=disabled)
    filters = ActivityFilterForm(request.GET or None)
    if filters.is_bound and not filters.is_valid():
        status = status if status != 200 else 400
        page, rows = None, []
    else:
        kind = filters.kind
        chosen = filters.cleaned_data.get("status", "") if filters.is_bound else ""
        page, rows = activity_page(installation, kind, chosen, request.GET.get("page"))
    listing = getattr(installation.plugin, "listing", None)
    needed_names = {secret.name for secret in readiness.secrets}
    context: dict[str, Any] = {
        "pending": _pending(installation),
        "entitlement": decision_for(installation),
        "entitlement_row": Entitlement.objects.for_tenant(ctx.tenant).filter(listing=listing).first() if listing else None,
        "unused_secrets": sorted(readiness.secrets_set - needed_names),
        "installation": installation,
        "plugin": installation.plugin,
        "listed": listing is not None and listing.status == ListingStatus.PUBLISHED,
        "readiness": readiness,
        "missing": [(m, _anchor(m)) for m in readiness.missing],
        "refused": [(m, _anchor(m)) for m in refused or []],
        "config_form": config_form,
        "secrets_form": secrets_form,
        "secret_rows": [
            (secret, secrets_form[SecretsForm.field_name(secret.name)], secret.name in readiness.secrets_set)
            for secret in readiness.secrets
        ],
        "filters": filters,
        "activity_kind": filters.kind,
        "activity_page": page,
        "activity_rows": rows,
    }
    return render_page(request, ctx, "marketplace/installation.html", context, status=status)


def _stale(request: HttpRequest, ctx: TenantContext, installation: Installation, posted: Any) -> HttpResponse | None:
    """409 when the form was made for another version than the installation has now."""
    if posted == installation.version_id:
        return None
    was = PluginVersion.objects.filter(pk=posted).values_list("version", flat=True).first() if isinstance(posted, int) else None
    since = f"from version {was} " if was else ""
    message = (
        f"{installation.plugin.name} was updated {since}to version {installation.version.version} after this "
        "form was opened, so its settings and secrets may have changed. Nothing was saved: open its page "
        "again and fill in the new form."
    )
    return render_page(request, ctx, "marketplace/error.html", {
        "title": "This plugin changed while you were editing", "message": message, "status_code": 409,
        "action_url": _page_url(installation), "action_label": f"Open {installation.plugin.name}",
    }, status=409)


# --------------------------------------------------------------------------- the page


@require_GET
@tenant_page
def installation_page(request: HttpRequest, ctx: TenantContext, pk: int) -> HttpResponse:
    """The installed plugin: readiness, settings, secrets, switch, uninstall link, activity."""
    return _render_installation(request, ctx, _installation(ctx, pk))


@require_POST
@tenant_page
def save_settings(request: HttpRequest, ctx: TenantContext, pk: int) -> HttpResponse:
    """Save the settings form; on any problem, show each on its field and save nothing."""
    installation = _installation(ctx, pk)
    ctx.require_admin("change a plugin's settings")
    form = ConfigForm(installation.version.config_schema, installation.config,
                      version_id=installation.version_id, data=request.POST)
    if not form.is_valid():
        stale = _stale(request, ctx, installation, form.cleaned_data.get("version"))
        return stale or _render_installation(request, ctx, installation, config_form=form, status=400)
    if stale := _stale(request, ctx, installation, form.cleaned_data["version"]):
        return stale
    changes = form.changes()
    if not form.errors:
        try:
            with transaction.atomic():
                services.update_config(installation, changes)
        except InvalidConfig as exc:
            form.add_problems(exc.details)
    if form.errors:
        installation.refresh_from_db(fields=["config"])
        return _render_installation(request, ctx, installation, config_form=form, status=400)
    messages.success(request, f"Saved the settings of {installation.plugin.name}.")
    return redirect(_page_url(installation, "settings"))


@sensitive_post_parameters()
@require_POST
@tenant_page
@sensitive_variables()
def save_secrets(request: HttpRequest, ctx: TenantContext, pk: int) -> HttpResponse:
    """Encrypt and store each secret typed in; empty inputs leave their secret as it is."""
    installation = _installation(ctx, pk)
    ctx.require_admin("set a plugin's secrets")
    needed = services.installation_readiness(installation).secrets
    form = SecretsForm(needed, version_id=installation.version_id, data=request.POST)
    if not form.is_valid():
        stale = _stale(request, ctx, installation, form.cleaned_data.get("version"))
        return stale or _render_installation(request, ctx, installation, secrets_form=form, status=400)
    if stale := _stale(request, ctx, installation, form.cleaned_data["version"]):
        return stale
    values = form.values()
    if not values:
        form.add_error(None, "Type a value for the secret you want to set; empty inputs change nothing.")
        return _render_installation(request, ctx, installation, secrets_form=form, status=400)
    with transaction.atomic():
        for name, value in values.items():
            secrets.set_secret(installation, name, value)
    names = ", ".join(values)
    messages.success(request, f"Saved {names} for {installation.plugin.name}. The value{'s' * (len(values) > 1)} cannot be shown again.")
    return redirect(_page_url(installation, "secrets"))


@sensitive_post_parameters()
@require_POST
@tenant_page
def remove_secret(request: HttpRequest, ctx: TenantContext, pk: int, name: str) -> HttpResponse:
    """Delete one stored secret (its name in the URL; no value is posted or shown)."""
    installation = _installation(ctx, pk)
    ctx.require_admin("remove a plugin's secrets")
    if not SECRET_NAME_RE.fullmatch(name):
        return render_page(request, ctx, "marketplace/error.html", {
            "title": "Not a secret's name", "status_code": 400,
            "message": "A secret's name is letters, digits and underscores, not starting with a digit; nothing was removed.",
            "action_url": _page_url(installation, "secrets"), "action_label": f"Open {installation.plugin.name}",
        }, status=400)
    with transaction.atomic():
        removed = secrets.delete_secret(installation, name)
    if not removed:
        raise Http404(f"{installation.plugin.name} has no secret {name} set (it may have been removed already); "
                      "nothing was removed.")
    needed = any(secret.name == name for secret in services.installation_readiness(installation).secrets)
    after = (" It is still enabled: whatever uses it fails until you set a new value." if installation.enabled and needed
             else " It must be set again before the plugin can be enabled." if needed else "")
    messages.success(request, f"Removed the secret {name} of {installation.plugin.name}.{after}")
    return redirect(_page_url(installation, "secrets"))


# --------------------------------------------------------------------------- switch


def _back(request: HttpRequest, installation: Installation) -> HttpResponse:
    # The Installed list and the plugin's page both switch plugins; each returns to itself.
    if request.POST.get("next") == "page":
        return redirect(_page_url(installation))
    return redirect(f"{reverse('marketplace:installed')}#installation-{installation.pk}")


@require_POST
@tenant_page
def enable_installation(request: HttpRequest, ctx: TenantContext, pk: int) -> HttpResponse:
    """Enable, granting what the version asks for; refused (400) while something is missing."""
    installation = _installation(ctx, pk)
    ctx.require_admin("enable or disable plugins")
    was_enabled = installation.enabled
    try:
        with transaction.atomic():
            services.enable(installation)
    except NotReady as exc:
        installation.refresh_from_db()
        refused = [Missing(d["field"], d["code"], d["message"]) for d in exc.details]
        return _render_installation(request, ctx, installation, refused=refused, status=400)
    granted = ", ".join(installation.granted_permissions) or "no permissions"
    domains = ", ".join(installation.approved_domains)
    also = f" and may call {domains}" if domains else ""
    verb = "Approved what" if was_enabled else "Enabled"
    subject = f"{installation.plugin.name} {installation.version.version} asks for" if was_enabled else installation.plugin.name
    messages.success(request, f"{verb} {subject}; it was granted {granted}{also}.")
    return _back(request, installation)


@require_POST
@tenant_page
def disable_installation(request: HttpRequest, ctx: TenantContext, pk: int) -> HttpResponse:
    installation = _installation(ctx, pk)
    ctx.require_admin("enable or disable plugins")
    with transaction.atomic():
        services.disable(installation)
    messages.success(request, f"Disabled {installation.plugin.name}.")
    return _back(request, installation)


# --------------------------------------------------------------------------- uninstall


@require_http_methods(["GET", "POST"])
@tenant_page
def uninstall_installation(request: HttpRequest, ctx: TenantContext, pk: int) -> HttpResponse:
    """GET: what uninstalling deletes and keeps, and a button; POST: uninstall."""
    installation = _installation(ctx, pk)
    ctx.require_admin("uninstall plugins")
    if request.method == "POST":
        name = installation.plugin.name
        services.uninstall(installation)
        messages.success(request, f"Uninstalled {name}. Its settings, secrets, storage and schedules are deleted.")
        return redirect("marketplace:installed")
    return render_page(request, ctx, "marketplace/uninstall.html", {
        "installation": installation,
        "plugin": installation.plugin,
        "summary": services.uninstall_summary(installation),
    })
