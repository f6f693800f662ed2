"""Tenants, who belongs to them in which role, and the API tokens members use."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from tenants.scoping import TenantQuerySet

__all__ = ["ApiToken", "Membership", "Role", "Tenant"]

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{1,62}$",
    "Use 2-63 lowercase letters, digits and hyphens, starting with a letter or digit.",
)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (for example Europe/Berlin).")


class Tenant(models.Model):
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    """Roles in ascending power; each includes what the ones before it may do."""

    MEMBER = "member", "Member"  # reads
    DEVELOPER = "developer", "Developer"  # uploads plugin versions, reads logs
    ADMIN = "admin", "Admin"  # installs, enables, configures, sets secrets
    OWNER = "owner", "Owner"  # everything, including members and tokens

    @classmethod
    def rank(cls, role: str) -> int:
        return [choice.value for choice in cls].index(role)


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user_and_tenant")]
        ordering = ["tenant__slug", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"

    def has_role(self, role: str) -> bool:
        return Role.rank(self.role) >= Role.rank(role)


TOKEN_PREFIX = "pyd"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token for one membership. Only its hash is stored; the token is shown once.

    Tokens look like ``pyd_<prefix>_<secret>``; the prefix is stored in clear so people can
    tell their tokens apart, and so a lookup needs no scan.
    """

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}_{self.prefix}_… ({self.name})"

    @classmethod
    def issue(cls, membership: Membership, name: str = "default") -> tuple[ApiToken, str]:
        """Create a token; returns the row and the clear token, which is never seen again."""
        prefix = secrets.token_hex(4)
        clear = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(membership=membership, name=name, prefix=prefix, token_hash=_hash(clear))
        return token, clear

    @classmethod
    def find(cls, clear: str) -> ApiToken | None:
        parts = clear.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            return None
        token = (
            cls.objects.active()
            .select_related("membership__tenant", "membership__user")
            .filter(prefix=parts[1])
            .first()
        )
        if token is None or not hmac.compare_digest(token.token_hash, _hash(clear)):
            return None
        return token

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])

    def touch(self) -> None:
        """Record use, at most once a minute so a busy token doesn't write on every call."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now
