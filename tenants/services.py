"""Creating tenants and their first owner, shared by the command, the admin and demo data."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from tenants.models import ApiToken, Membership, Role, Tenant

__all__ = ["create_tenant_with_owner"]


@transaction.atomic
def create_tenant_with_owner(
    slug: str, owner_email: str, *, name: str = "", timezone: str = "UTC", password: str | None = None
) -> tuple[Tenant, Membership, str]:
    """Create a tenant, its owner (reusing a user with that email), and an API token.

    With ``password`` the owner's password is set to it, once AUTH_PASSWORD_VALIDATORS accept
    it. Returns the tenant, the owner's membership and the clear token. Raises
    ``django.core.exceptions.ValidationError`` naming the field on bad input, and then
    nothing is stored.
    """
    tenant = Tenant(slug=slug, name=name or slug, timezone=timezone)
    tenant.full_clean()
    tenant.save()
    User = get_user_model()
    user = User.objects.filter(email__iexact=owner_email).first()
    if user is None:
        user = User(username=owner_email, email=owner_email)
        user.set_unusable_password()
        user.full_clean()
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        user.set_password(password)
    if user._state.adding or password is not None:
        user.save()
    membership = Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
    _, clear = ApiToken.issue(membership, name="created with the tenant")
    return tenant, membership, clear
