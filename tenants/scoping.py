"""The one tenant-scoping mechanism: every tenant-owned model's manager is a TenantQuerySet.

Call sites never write ``filter(tenant=...)`` by hand. They ask the model for the tenant's
rows (``Installation.objects.for_tenant(tenant)``), and API views get their queryset from
:class:`TenantScopedViewMixin`, so another tenant's object is simply not there: 404.
"""
from __future__ import annotations

from typing import Any

from django.db import models

__all__ = ["TenantOwned", "TenantQuerySet", "TenantScopedViewMixin"]


class TenantQuerySet(models.QuerySet):
    #: The path from this model to its tenant, for models owned through a parent.
    tenant_path = "tenant"

    def for_tenant(self, tenant: models.Model | None) -> TenantQuerySet:
        """This tenant's rows (a ``tenants.Tenant``; none for no tenant)."""
        if tenant is None or tenant.pk is None:
            return self.none()
        lookup = getattr(self.model, "TENANT_PATH", self.tenant_path)
        return self.filter(**{lookup: tenant})


class TenantOwned(models.Model):
    """Abstract base for rows that belong to one tenant."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class TenantScopedViewMixin:
    """A DRF view mixin whose queryset is always the request's tenant's rows."""

    scoped_model: type[models.Model]
    request: Any

    def get_queryset(self) -> models.QuerySet:
        return self.scoped_model.objects.for_tenant(self.request.tenant)
