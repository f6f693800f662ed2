"""Role checks for API views: member reads, developer uploads, admin installs and configures."""
from __future__ import annotations

from rest_framework.permissions import BasePermission

from tenants.models import Role

__all__ = ["HasRole", "IsTenantMember", "role_required"]


class IsTenantMember(BasePermission):
    """Any member of the tenant the request is authenticated for."""

    message = "Authenticate with a tenant token."

    def has_permission(self, request, view) -> bool:
        return getattr(request._request, "membership", None) is not None


class HasRole(IsTenantMember):
    required_role: str = Role.MEMBER

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request._request.membership.has_role(self.required_role):
            return True
        self.message = f"This needs the '{self.required_role}' role or higher in this tenant."
        return False


def role_required(role: str) -> type[HasRole]:
    return type(f"Requires{role.title()}", (HasRole,), {"required_role": role})
