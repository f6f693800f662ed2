"""The resources every Plugyard host has: users, organizations and webhook subscriptions.

``users`` are the tenant's members and ``organizations`` is the tenant itself; both are
read-only. ``webhooks`` are the tenant's subscriptions of external URLs to host events.
Product resources (the demo ``devices`` and ``alerts``) register from their own app.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from plugins_core.events.catalog import is_known_event
from plugins_core.host.current import current_bridge
from plugins_core.host.models import WebhookSubscription
from plugins_core.host.resources import Resource, register_resource
from tenants.models import Membership, Tenant
from tenants.scoping import TenantQuerySet

__all__ = ["register_builtins"]

MAX_WEBHOOK_EVENTS = 50


def _members(tenant):
    # Membership is not a TenantOwned model, but it has a tenant; the scoping queryset
    # still does the filtering, so no call site writes a tenant filter by hand.
    return TenantQuerySet(model=Membership).for_tenant(tenant).select_related("user")


def _member_dict(membership) -> dict[str, Any]:
    user = membership.user
    return {
        "id": user.pk,
        "email": user.email,
        "username": user.get_username(),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": membership.role,
        "active": user.is_active,
        "joined_at": membership.created_at,
    }


def _organization(tenant):
    return Tenant.objects.filter(pk=tenant.pk) if tenant is not None and tenant.pk else Tenant.objects.none()


def _organization_dict(tenant) -> dict[str, Any]:
    return {"id": tenant.pk, "slug": tenant.slug, "name": tenant.name, "timezone": tenant.timezone,
            "created_at": tenant.created_at}


def _webhooks(tenant):
    return WebhookSubscription.objects.for_tenant(tenant)


def _webhook_dict(sub) -> dict[str, Any]:
    return {"id": sub.pk, "url": sub.url, "events": list(sub.events), "active": sub.active,
            "description": sub.description, "installation_id": sub.installation_id,
            "created_at": sub.created_at}


def _check_webhook(sub) -> None:
    errors: dict[str, list[str]] = {}
    try:
        URLValidator(schemes=["https", "http"])(sub.url)
    except ValidationError:
        errors["url"] = ["Enter an http(s) URL."]
    events = sub.events
    if not isinstance(events, list) or not events or len(events) > MAX_WEBHOOK_EVENTS:
        errors["events"] = [f"Give a list of 1 to {MAX_WEBHOOK_EVENTS} event names."]
    else:
        unknown = [e for e in events if not isinstance(e, str) or not is_known_event(e)]
        if unknown:
            errors["events"] = [f"Unknown event(s): {', '.join(map(str, unknown))}."]
    if not isinstance(sub.active, bool):
        errors["active"] = ["Must be true or false."]
    if errors:
        raise ValidationError(errors)
    sub.full_clean(exclude=["url", "events", "tenant", "installation", "created_by"])


def _create_webhook(tenant, data: dict[str, Any]):
    bridge = current_bridge()
    sub = WebhookSubscription(
        tenant=tenant,
        installation=bridge.installation if bridge is not None else None,
        url=data.get("url", ""),
        events=data.get("events", []),
        active=data.get("active", True),
        description=data.get("description", ""),
    )
    _check_webhook(sub)
    sub.save()
    return sub


def _update_webhook(sub, data: dict[str, Any]):
    for key, value in data.items():
        setattr(sub, key, value)
    _check_webhook(sub)
    sub.save()
    return sub


def _delete_webhook(sub) -> None:
    sub.delete()


def register_builtins() -> None:
    register_resource(Resource(
        name="users",
        queryset_for_tenant=_members,
        to_dict=_member_dict,
        read_permission="users.read",
        filterable_fields={"id": "user_id", "email": "user__email", "username": "user__username",
                           "role": "role", "active": "user__is_active", "is_active": "user__is_active"},
        id_field="user_id",
        default_ordering="user_id",
        description="The tenant's members (read-only).",
    ), replace=True)
    register_resource(Resource(
        name="organizations",
        queryset_for_tenant=_organization,
        to_dict=_organization_dict,
        read_permission="organizations.read",
        filterable_fields=["id", "slug", "name"],
        description="The tenant itself (read-only).",
    ), replace=True)
    register_resource(Resource(
        name="webhooks",
        queryset_for_tenant=_webhooks,
        to_dict=_webhook_dict,
        read_permission="webhooks.read",
        write_permission="webhooks.write",
        writable_fields=frozenset({"url", "events", "active", "description"}),
        filterable_fields=["id", "url", "active", "installation_id"],
        create=_create_webhook,
        update=_update_webhook,
        delete=_delete_webhook,
        description="The tenant's webhook subscriptions of external URLs to host events.",
    ), replace=True)
