"""Where the product's own actions become events: members, tenants.

Connected in ``PluginsCoreConfig.ready()``. Each signal handler calls :func:`emit`, which
stores the event in the same transaction as the change and dispatches it after commit.
"""
from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from plugins_core.events.emit import emit
from tenants.models import Membership, Tenant

__all__ = ["connect"]


def _user(membership: Membership) -> dict:
    user = membership.user
    return {"id": user.pk, "email": user.email, "username": user.get_username(), "role": membership.role}


def _membership_saved(sender, instance: Membership, created: bool, **kwargs) -> None:
    user = _user(instance)
    verb = "created" if created else "updated"
    emit(instance.tenant, f"auth.user.{verb}", {"user": user})
    emit(instance.tenant, f"user.{verb}", {"user_id": user["id"], "user_data": user})


def _membership_deleted(sender, instance: Membership, **kwargs) -> None:
    if Tenant.objects.filter(pk=instance.tenant_id).exists():  # not when the whole tenant goes
        emit(instance.tenant, "auth.user.deleted", {"user": _user(instance)})


def _tenant_saved(sender, instance: Tenant, created: bool, **kwargs) -> None:
    if created:
        emit(instance, "organization.created", {
            "organization_id": instance.slug,
            "organization_data": {"slug": instance.slug, "name": instance.name, "timezone": instance.timezone},
        })


def connect() -> None:
    post_save.connect(_membership_saved, sender=Membership, dispatch_uid="plugyard-membership-saved")
    post_delete.connect(_membership_deleted, sender=Membership, dispatch_uid="plugyard-membership-deleted")
    post_save.connect(_tenant_saved, sender=Tenant, dispatch_uid="plugyard-tenant-saved")
