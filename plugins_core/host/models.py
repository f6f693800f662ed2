"""Rows the host services keep: plugin key-value storage, LLM usage, webhook subscriptions.

Imported into ``plugins_core.models`` (``from plugins_core.host.models import *``), so these
are ``plugins_core`` models. Every one is tenant-scoped through ``tenants.scoping``.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwned, TenantQuerySet

__all__ = ["LlmUsage", "PluginStorageItem", "WebhookSubscription"]


class PluginStorageItem(models.Model):
    """One key of an installation's key-value storage (``plugin.storage``)."""

    TENANT_PATH = "installation__tenant"

    installation = models.ForeignKey("plugins_core.Installation", on_delete=models.CASCADE, related_name="storage_items")
    key = models.CharField(max_length=255)
    value = models.JSONField(null=True)
    size = models.PositiveIntegerField(help_text="Bytes the key and its JSON value count against the quota.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["installation", "key"], name="storage_key_once")]
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class LlmUsage(TenantOwned):
    """Calls and tokens one tenant used on one day (UTC), for metering and daily limits."""

    day = models.DateField()
    calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="llm_usage_once_per_day")]
        ordering = ["-day"]
        verbose_name_plural = "LLM usage"

    def __str__(self) -> str:
        return f"{self.day}: {self.calls} calls"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class WebhookSubscription(TenantOwned):
    """A tenant's subscription of an external URL to host events (``plugin.api.webhooks``).

    ``installation`` is the plugin that created it, if one did; the subscription belongs to
    the tenant either way, as the ``webhooks.read`` permission describes.
    """

    installation = models.ForeignKey(
        "plugins_core.Installation", null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url
