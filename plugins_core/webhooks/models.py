"""Webhook deliveries (one per event, installation and webhook file) and every attempt at one.

Nothing here holds a secret: the URL may come from a secret, so only its scheme and host
are kept (``target``); headers and signatures are computed per attempt and never stored.
"""
from __future__ import annotations

from django.db import models

from tenants.scoping import TenantOwned, TenantQuerySet

__all__ = ["DeliveryStatus", "WebhookAttempt", "WebhookDelivery"]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # no attempt finished yet
    RETRYING = "retrying"  # an attempt failed in a way worth retrying; next_attempt_at says when
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # out of attempts, or failed in a way retrying cannot fix


ACTIVE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class WebhookDelivery(TenantOwned):
    """One webhook file's delivery of one event for one installation.

    ``attempts`` counts the attempts of the current cycle; a redelivery starts a new cycle
    (``cycle`` + 1, ``attempts`` back to 0) on the same row, so the row stays unique per
    event, installation and webhook. ``lease_token``/``lease_until`` say who may make the
    next attempt: whoever set the token, until the lease runs out.
    """

    installation = models.ForeignKey("plugins_core.Installation", on_delete=models.CASCADE,
                                     related_name="webhook_deliveries")
    webhook = models.CharField(max_length=100, help_text="The webhook file's name (webhooks/<name>.yaml).")
    event = models.ForeignKey("plugins_core.Event", on_delete=models.CASCADE, related_name="webhook_deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=6)
    cycle = models.PositiveSmallIntegerField(default=0, help_text="How many times it was redelivered.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    target = models.CharField(max_length=300, blank=True, help_text="Scheme and host only, never the full URL.")
    body = models.TextField(null=True, blank=True, help_text="The JSON text sent (set at the first attempt).")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "installation", "webhook"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["installation", "created_at"], name="webhook_delivery_browse"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook} #{self.pk} ({self.status})"

    @property
    def message_id(self) -> str:
        """The ``webhook-id`` header: stable across retries and redeliveries."""
        return f"msg_{self.pk}"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: when, how long, and what came back (or went wrong)."""

    TENANT_PATH = "delivery__tenant"
    EXCERPT_CHARS = 1024

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    cycle = models.PositiveSmallIntegerField(default=0)
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.CharField(max_length=EXCERPT_CHARS, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["cycle", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "cycle", "number"], name="webhook_attempt_once"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
